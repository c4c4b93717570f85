package proc

import "syscall"

// DieWithParent makes a started process get sig when the process that
// started it dies, however it dies.
func DieWithParent(sig syscall.Signal) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: sig}
}
