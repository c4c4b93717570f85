package integration

import "syscall"

// dieWithTest makes a started program get SIGKILL when the test process
// dies, so a test binary killed by its timeout leaves no peer behind.
func dieWithTest() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
