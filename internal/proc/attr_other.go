//go:build !linux

package proc

import "syscall"

// DieWithParent has no equivalent outside Linux: the started process must
// end some other way (its standard input closing, a cleanup).
func DieWithParent(syscall.Signal) *syscall.SysProcAttr { return nil }
