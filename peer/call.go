package peer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/appnet-go/appnet/flags"
	"github.com/nats-io/nats.go"
)

// Caller calls connections on peers over one NATS connection and resolves
// the flags they answer with through its registry. A [Peer] has one; a
// program that only calls (the appnet CLI, say) can make one over any NATS
// connection, embedded or not.
type Caller struct {
	nc      *nats.Conn
	reg     *Registry
	timeout time.Duration
	log     *slog.Logger // nil unless calls are logged (Dev)
}

// NewCaller returns a Caller over nc that resolves flags with reg's
// handlers and gives calls without a deadline the timeout.
func NewCaller(nc *nats.Conn, reg *Registry, timeout time.Duration) *Caller {
	return &Caller{nc: nc, reg: reg, timeout: timeout}
}

// Call runs connection on the target peer with the JSON argument arg (nil
// for none) and returns the JSON of its answer. A flag in the answer is
// resolved by the caller's handler for it. Errors:
//   - [ErrInvalidID] or [ErrInvalidName]: the target or the connection name is malformed;
//   - [ErrUnreachable]: nobody serves the target (it stopped, or is not in this cluster);
//   - [ErrInvalidConnection]: the target has no such connection;
//   - a [*RemoteError] ([ErrBadRequest], [ErrRemote], [ErrBusy]): the target answered with an error;
//   - [flags.ErrUnknownFlag]: the answer carries a flag this caller has no handler for;
//   - the context's error when no answer came in time.
func (c *Caller) Call(ctx context.Context, target ID, connection string, arg []byte) ([]byte, error) {
	start := time.Now()
	out, err := c.call(ctx, target, connection, arg)
	if c.log != nil {
		c.log.Debug("appnet: remote call", "peer", target, "connection", connection,
			"arg_bytes", len(arg), "duration", time.Since(start), "err", err)
	}
	return out, err
}

func (c *Caller) call(ctx context.Context, target ID, connection string, arg []byte) ([]byte, error) {
	if _, err := target.Decode(); err != nil {
		return nil, err
	}
	if err := ValidateConnection(connection); err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	deadline, _ := ctx.Deadline()
	msg := &nats.Msg{
		Subject: CallSubject(target, connection),
		Data:    arg,
		Header:  nats.Header{HeaderTimeout: []string{strconv.FormatInt(time.Until(deadline).Milliseconds(), 10)}},
	}
	reply, err := c.nc.RequestMsgWithContext(ctx, msg)
	switch {
	case err == nil:
	case errors.Is(err, nats.ErrNoResponders):
		return nil, fmt.Errorf("%w: %s: nobody serves %s (the peer has stopped, or is not in this peer's cluster)",
			ErrUnreachable, describe(target), msg.Subject)
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrConnectionDraining):
		return nil, fmt.Errorf("call %q on peer %s: %w", connection, describe(target), ErrClosed)
	default:
		return nil, fmt.Errorf("call %q on peer %s: no answer: %w", connection, describe(target), err)
	}
	return c.answer(ctx, target, connection, reply)
}

// answer turns a reply into the call's result.
func (c *Caller) answer(ctx context.Context, target ID, connection string, reply *nats.Msg) ([]byte, error) {
	flag := reply.Header.Get(HeaderFlag)
	codeText := reply.Header.Get(HeaderErrorCode)
	description := reply.Header.Get(HeaderError)
	if flag != "" {
		return resolveFlag(ctx, c.reg, flag, flags.Request{Connection: connection, Peer: string(target), Detail: description})
	}
	if codeText != "" {
		code, err := strconv.Atoi(codeText)
		if err != nil {
			code = CodeHandler
		}
		re := &RemoteError{Peer: target, Connection: connection, Code: code, Description: description}
		if code == CodeHandler {
			re.Stack = string(reply.Data)
		}
		return nil, re
	}
	return reply.Data, nil
}

// resolveFlag runs the handler for a flag and encodes what it returns.
func resolveFlag(ctx context.Context, reg *Registry, name string, req flags.Request) ([]byte, error) {
	v, err := reg.Flags().Resolve(ctx, name, req)
	if err != nil {
		return nil, err
	}
	return encode(v)
}

// Call runs connection here, with the JSON argument arg, and returns the
// JSON of its answer: what a remote call would return, since the argument
// and the result make the same trip through the codec. Flags are resolved
// by this registry's handlers; an unknown connection resolves the
// INVALID_CONNECTION flag. The peer in ctx ([NewContext]), if any, is the
// one the handler sees and the one named in flag requests. A panicking
// handler is recovered and reported as an error.
func (r *Registry) Call(ctx context.Context, connection string, arg []byte) ([]byte, error) {
	self := ID("")
	if p, ok := FromContext(ctx); ok {
		self = p.ID()
	}
	h, ok := r.Lookup(connection)
	if !ok {
		return resolveFlag(ctx, r, flags.InvalidConnection, flags.Request{
			Connection: connection, Peer: string(self), Detail: r.unknownConnection(self, connection),
		})
	}
	out, err := runHandler(ctx, h, arg)
	if err != nil {
		if name, ok := flags.FromError(err); ok {
			return resolveFlag(ctx, r, name, flags.Request{Connection: connection, Peer: string(self)})
		}
		var p *panicError
		if errors.As(err, &p) {
			return nil, fmt.Errorf("connection %q: %w", connection, p)
		}
		return nil, err
	}
	return out, nil
}

// unknownConnection is the detail of an INVALID_CONNECTION answer.
func (r *Registry) unknownConnection(self ID, connection string) string {
	who := "this process"
	if self != "" {
		who = "peer " + describe(self)
	}
	return fmt.Sprintf("%s has no connection %q; it has: %s", who, short(connection), strings.Join(r.Connections(), ", "))
}

// panicError is a recovered handler panic.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("handler panicked: %v", e.value) }

// runHandler calls h, turning a panic into a *panicError.
func runHandler(ctx context.Context, h Handler, arg []byte) (out []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{value: v, stack: debug.Stack()}
		}
	}()
	return h(ctx, arg)
}
