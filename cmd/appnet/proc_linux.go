package main

import "syscall"

// dieWithParent makes a child process get SIGTERM when this process dies.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
