package bus

import (
	"context"

	"github.com/appnet-go/appnet/internal/flags"
)

// A flag is a name a connection's handler may answer with instead of a
// value ([Raise]); the caller's handler for the flag ([Flag]) then decides
// what the call returns.

// Names of the built-in flags.
const (
	// FlagNull is an answer that says "nothing": it resolves to the
	// string "NULL", or, when the call's result type is neither a string
	// nor an interface, to that type's zero value.
	FlagNull = flags.Null
	// FlagInvalidConnection is what a peer answers when asked for a
	// connection it has not registered. It resolves to an error wrapping
	// [ErrInvalidConnection].
	FlagInvalidConnection = flags.InvalidConnection
)

// FlagHandler resolves a flag on the caller's side. What it returns,
// value or error, is what the call returns.
type FlagHandler func(ctx context.Context, req FlagRequest) (any, error)

// FlagRequest tells a [FlagHandler] which call the flag answered.
type FlagRequest struct {
	// Connection is the connection the caller asked for.
	Connection string
	// Peer is the ID of the peer that answered with the flag.
	Peer ID
	// Detail is what the answering peer said along with the flag, if
	// anything (for INVALID_CONNECTION: the connections it does have).
	Detail string
}

// Flag registers the caller-side handler of a flag in the default
// registry: when a peer answers a call with the flag, the call returns
// what fn returns. A name that is not [A-Za-z0-9_-]+ is an error wrapping
// [ErrInvalidName].
func Flag(name string, fn FlagHandler) error {
	if fn == nil {
		return registry.Flag(name, nil)
	}
	return registry.Flag(name, func(ctx context.Context, req flags.Request) (any, error) {
		return fn(ctx, FlagRequest{Connection: req.Connection, Peer: ID(req.Peer), Detail: req.Detail})
	})
}

// Raise returns the error that makes a connection's handler answer with
// the named flag instead of a value:
//
//	return "", bus.Raise(bus.FlagNull)
func Raise(name string) error { return flags.Raise(name) }
