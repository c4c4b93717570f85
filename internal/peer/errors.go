package peer

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/appnet-go/appnet/internal/flags"
	"github.com/appnet-go/appnet/internal/names"
)

var (
	// ErrConfig is wrapped by every configuration error; the message names
	// the variable and the value.
	ErrConfig = errors.New("invalid configuration")
	// ErrInvalidName is wrapped when a connection name is not
	// dot-separated tokens of letters, digits, '_' and '-'.
	ErrInvalidName = names.Sentinel("invalid connection name")
	// ErrBadRequest is matched by a [RemoteError] with code 400 and by a
	// local call whose argument does not decode.
	ErrBadRequest = errors.New("bad request")
	// ErrRemote is matched by a [RemoteError] with code 500: the handler on
	// the called peer returned an error or panicked.
	ErrRemote = errors.New("remote handler failed")
	// ErrBusy is matched by a [RemoteError] with code 503.
	ErrBusy = errors.New("peer busy")
	// ErrUnreachable is wrapped when nobody serves the target peer's
	// subject: the peer has gone, or was never routed to.
	ErrUnreachable = errors.New("peer unreachable")
	// ErrClosed is returned by calls through a peer that has been closed.
	ErrClosed = errors.New("peer closed")
	// ErrConnectionLost is reported to subscriptions when the peer's
	// connection to its server went down and came back: what was sent to
	// the peer meanwhile is lost.
	ErrConnectionLost = errors.New("connection lost")
	// ErrInvalidConnection is matched when the called peer has no such
	// connection. It is [flags.ErrInvalidConnection].
	ErrInvalidConnection = flags.ErrInvalidConnection
)

// RemoteError is an error answer from another peer, as carried by the
// NATS services error headers.
type RemoteError struct {
	// Peer is the peer that answered.
	Peer ID
	// Connection is the connection that was called.
	Connection string
	// Code is the Nats-Service-Error-Code: 400, 404, 500, 503 or 504.
	Code int
	// Description is the Nats-Service-Error text.
	Description string
	// Stack is the handler's stack when it panicked, else empty.
	Stack string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("peer %s: connection %q: %d %s", describe(e.Peer), e.Connection, e.Code, e.Description)
}

// Is lets errors.Is match a RemoteError against the sentinel of its code.
func (e *RemoteError) Is(target error) bool {
	switch e.Code {
	case CodeBadRequest:
		return target == ErrBadRequest
	case CodeHandler:
		return target == ErrRemote
	case CodeBusy:
		return target == ErrBusy
	case CodeTimeout:
		return target == context.DeadlineExceeded
	}
	return false
}

// describe returns "<id> (<host>:<port> -> <group>)" when the ID decodes,
// else the ID alone.
func describe(id ID) string {
	if a, err := id.Decode(); err == nil {
		return string(id) + " (" + a.String() + ")"
	}
	return strconv.Quote(short(string(id)))
}
