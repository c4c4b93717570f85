package flags

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"sync"

	"github.com/appnet-go/appnet/internal/names"
)

// Names of the built-in flags.
const (
	// Null is an answer that says "nothing": it resolves to the string
	// "NULL", or, when the call's result type
	// (see [WithResult]) is neither a string nor an interface, to that
	// type's zero value.
	Null = "NULL"
	// InvalidConnection is what a peer answers when asked for a connection it
	// has not registered. It resolves to an error wrapping
	// [ErrInvalidConnection].
	InvalidConnection = "INVALID_CONNECTION"
)

var (
	// ErrUnknownFlag is returned when a flag is raised or received that has
	// no handler in the set that should resolve it.
	ErrUnknownFlag = errors.New("unknown flag")
	// ErrInvalidConnection is wrapped by the error that the built-in
	// INVALID_CONNECTION handler returns.
	ErrInvalidConnection = errors.New("invalid connection")
	// ErrInvalidName is returned when a flag name is not [A-Za-z0-9_-]+.
	ErrInvalidName = names.Sentinel("invalid flag name")
)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Request tells a flag handler which call the flag answered.
type Request struct {
	// Connection is the connection the caller asked for.
	Connection string
	// Peer is the ID of the peer that answered with the flag.
	Peer string
	// Detail is what the answering peer said along with the flag, if
	// anything (for INVALID_CONNECTION: the connections it does have).
	Detail string
}

// Handler resolves a flag on the caller's side. What it returns, value or
// error, is what the call returns.
type Handler func(ctx context.Context, req Request) (any, error)

// Set is a concurrency-safe set of flag handlers keyed by name. The zero
// value is not usable; make one with [NewSet].
type Set struct {
	mu       sync.RWMutex
	handlers map[string]Handler
}

// NewSet returns a set holding the built-in flags [Null] and
// [InvalidConnection].
func NewSet() *Set {
	s := &Set{handlers: make(map[string]Handler)}
	s.handlers[Null] = func(ctx context.Context, _ Request) (any, error) {
		if t := ResultType(ctx); t != nil && t.Kind() != reflect.String && t.Kind() != reflect.Interface {
			return nil, nil // JSON null: the zero value of a result that cannot be "NULL"
		}
		return "NULL", nil
	}
	s.handlers[InvalidConnection] = func(_ context.Context, r Request) (any, error) {
		if r.Detail != "" {
			return nil, fmt.Errorf("%w: %s", ErrInvalidConnection, r.Detail)
		}
		return nil, fmt.Errorf("%w: peer %s has no connection %q", ErrInvalidConnection, r.Peer, r.Connection)
	}
	return s
}

// Register adds or replaces the handler for the named flag. It reports
// whether a handler was replaced.
func (s *Set) Register(name string, h Handler) (replaced bool, err error) {
	if err := ValidateName(name); err != nil {
		return false, err
	}
	if h == nil {
		return false, fmt.Errorf("flag %q: nil handler", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, replaced = s.handlers[name]
	s.handlers[name] = h
	return replaced, nil
}

// Has reports whether the set has a handler for the named flag.
func (s *Set) Has(name string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.handlers[name]
	return ok
}

// Resolve runs the handler for the named flag. A name without a handler is
// an error wrapping [ErrUnknownFlag]. A panicking handler is recovered and
// reported as an error.
func (s *Set) Resolve(ctx context.Context, name string, req Request) (v any, err error) {
	s.mu.RLock()
	h, ok := s.handlers[name]
	s.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w %q (connection %q on peer %s); known flags: %v",
			ErrUnknownFlag, name, req.Connection, req.Peer, s.Names())
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("flag %q handler panicked: %v", name, r)
		}
	}()
	v, err = h(ctx, req)
	if err == nil {
		err = fits(ctx, name, req, v)
	}
	return v, err
}

// fits checks that a flag handler's value decodes into the call's result
// type, when the caller said which that is: else the caller would get a
// decoding error that does not name the flag.
func fits(ctx context.Context, name string, req Request, v any) error {
	t := ResultType(ctx)
	if t == nil || v == nil {
		return nil
	}
	data, err := json.Marshal(v)
	if err == nil {
		err = json.Unmarshal(data, reflect.New(t).Interface())
	}
	if err != nil {
		return fmt.Errorf("flag %q (connection %q on peer %s): the handler returned %T, which does not give a %s, the connection's result type; return a %s from it: %w",
			name, req.Connection, req.Peer, v, t, t, err)
	}
	return nil
}

type resultKey struct{}

// WithResult returns a context that tells flag handlers the type the
// call's result decodes into, so that a flag resolves to a value of that
// type: [Null] resolves to "NULL" for a string or interface result and to
// the zero value of any other, and a handler whose value does not fit is
// an error naming the flag.
func WithResult(ctx context.Context, t reflect.Type) context.Context {
	return context.WithValue(ctx, resultKey{}, t)
}

// ResultType returns the result type of [WithResult], or nil when the
// caller did not say (a call with raw JSON results).
func ResultType(ctx context.Context) reflect.Type {
	t, _ := ctx.Value(resultKey{}).(reflect.Type)
	return t
}

// Names returns the registered flag names, sorted.
func (s *Set) Names() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	names := make([]string, 0, len(s.handlers))
	for n := range s.handlers {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ValidateName returns an error wrapping [ErrInvalidName] unless name is a
// non-empty string of letters, digits, '_' and '-' (it travels in a header).
func ValidateName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%w %q: want letters, digits, '_' or '-'", ErrInvalidName, name)
	}
	return nil
}

// Raised is the error a connection's handler returns to answer with a flag.
// Make one with [Raise].
type Raised struct {
	// Name is the flag's name.
	Name string
}

func (r *Raised) Error() string { return "flag " + r.Name }

// Raise returns the error that makes a connection's handler answer with the
// named flag instead of a value:
//
//	return "", flags.Raise(flags.Null)
func Raise(name string) error { return &Raised{Name: name} }

// FromError reports the flag that err carries, if it carries one.
func FromError(err error) (name string, ok bool) {
	var r *Raised
	if errors.As(err, &r) {
		return r.Name, true
	}
	return "", false
}
