package peer

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/appnet-go/appnet/internal/flags"
)

// Handler serves one connection. arg is the call's JSON argument, nil when
// the call has none; the result is the JSON of the answer. An error that
// wraps [ErrBadRequest] is answered with code 400, a [flags.Raise] error
// with its flag, any other error with code 500.
type Handler func(ctx context.Context, arg []byte) ([]byte, error)

// Names of the connections every registry starts with.
const (
	ConnInfo        = "info"
	ConnPassThrough = "pass_through"
	ConnConnections = "connections"
	ConnNull        = "null"
)

// MaxNameLen bounds a connection name, so that a call's subject stays well
// inside the NATS control line (4 KiB); a longer one would make the server
// drop the caller's connection.
const MaxNameLen = 1024

// ValidateConnection returns an error wrapping [ErrInvalidName] unless name
// is dot-separated tokens of letters, digits, '_' and '-', at most
// MaxNameLen bytes, so that it is the tail of a NATS subject without
// wildcards.
func ValidateConnection(name string) error {
	if len(name) > MaxNameLen {
		return fmt.Errorf("%w: %d bytes, more than %d", ErrInvalidName, len(name), MaxNameLen)
	}
	if !validConnection(name) {
		return fmt.Errorf("%w %q: want dot-separated tokens of letters, digits, '_' or '-'", ErrInvalidName, short(name))
	}
	return nil
}

// validConnection checks a connection name without a regexp: it runs on
// every call.
func validConnection(name string) bool {
	dot := true // at the start of a token
	for i := 0; i < len(name); i++ {
		switch ch := name[i]; {
		case ch == '.':
			if dot {
				return false // empty token
			}
			dot = true
		case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9', ch == '_', ch == '-':
			dot = false
		default:
			return false
		}
	}
	return !dot
}

// Registry is the set of connections, flags and event subscriptions of a
// peer. One registry may be served by
// several peers. It is safe for concurrent use.
type Registry struct {
	mu            sync.RWMutex
	connections   map[string]Handler
	subscriptions map[string]map[*int]func() int64 // event -> live subscriptions' drop counters
	builtin       map[string]bool                  // default connections not replaced by Register
	flags         *flags.Set
	added         map[*int]func(name string) // told of each connection registered anew
}

// NewRegistry returns a registry holding the default connections (info,
// pass_through, connections, null) and the built-in flags. Warnings, such
// as a connection being replaced, go to slog.Default().
func NewRegistry() *Registry {
	r := &Registry{
		connections:   make(map[string]Handler),
		subscriptions: make(map[string]map[*int]func() int64),
		builtin:       map[string]bool{ConnInfo: true, ConnPassThrough: true, ConnConnections: true, ConnNull: true},
		flags:         flags.NewSet(),
	}
	r.connections[ConnInfo] = infoHandler
	r.connections[ConnPassThrough] = func(_ context.Context, arg []byte) ([]byte, error) {
		if len(arg) == 0 {
			return []byte("null"), nil
		}
		if !json.Valid(arg) {
			return nil, fmt.Errorf("%w: argument %s is not JSON (or nests deeper than 10,000 levels)", ErrBadRequest, preview(arg))
		}
		return arg, nil
	}
	r.connections[ConnConnections] = func(ctx context.Context, _ []byte) ([]byte, error) {
		return encode(r.Connections())
	}
	r.connections[ConnNull] = func(context.Context, []byte) ([]byte, error) {
		return nil, flags.Raise(flags.Null)
	}
	return r
}

// Register adds h under name. Registering a name again logs a warning and
// replaces the earlier handler for every caller, local or remote: a
// connection is its name.
func (r *Registry) Register(name string, h Handler) error {
	if err := ValidateConnection(name); err != nil {
		return err
	}
	if h == nil {
		return fmt.Errorf("connection %q: nil handler", name)
	}
	r.mu.Lock()
	_, replaced := r.connections[name]
	wasBuiltin := r.builtin[name]
	r.connections[name] = h
	var tell []func(string)
	if !replaced || wasBuiltin { // a default connection replaced is served another way (serveGroupCall)
		for _, fn := range r.added {
			tell = append(tell, fn)
		}
	}
	delete(r.builtin, name)
	r.mu.Unlock()
	if replaced {
		slog.Warn("appnet: connection registered again; the new handler replaces the old for every caller of the name, including earlier Connection values", "connection", name)
	}
	for _, fn := range tell {
		fn(name)
	}
	return nil
}

// watch calls fn with every connection registered from now on (and every
// default connection replaced), and
// returns the connections registered before: a peer serving the registry
// subscribes to each for group calls. The returned stop ends the watch.
func (r *Registry) watch(fn func(name string)) (existing []string, stop func()) {
	key := new(int)
	r.mu.Lock()
	if r.added == nil {
		r.added = map[*int]func(string){}
	}
	r.added[key] = fn
	r.mu.Unlock()
	return r.Connections(), func() {
		r.mu.Lock()
		delete(r.added, key)
		r.mu.Unlock()
	}
}

// Flag adds or replaces the caller-side handler of the named flag.
func (r *Registry) Flag(name string, h flags.Handler) error {
	replaced, err := r.flags.Register(name, h)
	if err != nil {
		return err
	}
	if replaced {
		slog.Warn("appnet: flag registered again; the new handler replaces the old", "flag", name)
	}
	return nil
}

// Flags returns the registry's flag handlers.
func (r *Registry) Flags() *flags.Set { return r.flags }

// Lookup returns the handler registered under name.
func (r *Registry) Lookup(name string) (Handler, bool) {
	r.mu.RLock()
	h, ok := r.connections[name]
	r.mu.RUnlock()
	return h, ok
}

// builtinConnection says whether name is one of the default connections,
// not replaced by Register: every peer serves it, the same way.
func (r *Registry) builtinConnection(name string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.builtin[name]
}

// lookup returns the handler registered under name, and whether it is one
// of the default connections, which a peer serves on slots of their own.
func (r *Registry) lookup(name string) (h Handler, builtin, ok bool) {
	r.mu.RLock()
	h, ok = r.connections[name]
	builtin = r.builtin[name]
	r.mu.RUnlock()
	return h, builtin, ok
}

// Connections returns the registered connection names, sorted.
func (r *Registry) Connections() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.connections))
	for n := range r.connections {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// AddSubscription records that the process listens to the named event,
// and how to read how many events that subscription dropped; the events
// package calls it so that info lists subscriptions and drops. The
// returned function removes the record.
func (r *Registry) AddSubscription(event string, dropped func() int64) (remove func()) {
	key := new(int)
	r.mu.Lock()
	if r.subscriptions[event] == nil {
		r.subscriptions[event] = map[*int]func() int64{}
	}
	r.subscriptions[event][key] = dropped
	r.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			r.mu.Lock()
			if delete(r.subscriptions[event], key); len(r.subscriptions[event]) == 0 {
				delete(r.subscriptions, event)
			}
			r.mu.Unlock()
		})
	}
}

// EventsDropped returns how many events the live subscriptions dropped
// because their handlers fell behind.
func (r *Registry) EventsDropped() int64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var n int64
	for _, subs := range r.subscriptions {
		for _, dropped := range subs {
			if dropped != nil {
				n += dropped()
			}
		}
	}
	return n
}

// Subscriptions returns the names of the events subscribed to, sorted.
func (r *Registry) Subscriptions() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.subscriptions))
	for n := range r.subscriptions {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// unregisteredFlag is the description of the 500 answer of a handler that
// raised a flag the registry does not have: a peer only answers with flags
// it knows, locally as remotely.
func (r *Registry) unregisteredFlag(connection, name string) string {
	return "connection " + strconv.Quote(connection) + " answered with flag " + strconv.Quote(name) +
		", which this peer has not registered; its flags: " + strings.Join(r.Flags().Names(), ", ")
}
