// Package names holds the one sentinel that every malformed name matches,
// whatever it names: a connection, a flag, an event or a group. Each
// package keeps its own, more precise sentinel (and its message); each of
// those also matches [ErrInvalid], so that a caller of package bus tests
// one error, bus.ErrInvalidName, for any name it passed.
package names

import "errors"

// ErrInvalid is matched by every error about a malformed name.
var ErrInvalid = errors.New("invalid name")

// Sentinel returns a sentinel error with message msg that also matches
// [ErrInvalid] under errors.Is.
func Sentinel(msg string) error { return &sentinel{msg} }

type sentinel struct{ msg string }

func (s *sentinel) Error() string { return s.msg }

// Is makes errors.Is(s, ErrInvalid) true.
func (s *sentinel) Is(target error) bool { return target == ErrInvalid }
