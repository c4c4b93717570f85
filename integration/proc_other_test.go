//go:build !linux

package integration

import "syscall"

// dieWithTest has no equivalent here: programs are stopped by the tests'
// cleanups only.
func dieWithTest() *syscall.SysProcAttr { return nil }
