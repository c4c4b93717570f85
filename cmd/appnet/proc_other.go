//go:build !linux

package main

import "syscall"

// dieWithParent has no equivalent here; the child's standard input, a
// pipe from the parent, ends it instead.
func dieWithParent() *syscall.SysProcAttr { return nil }
