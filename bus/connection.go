package bus

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"regexp"
	"runtime"
	"strings"

	"github.com/appnet-go/appnet/peer"
)

// Connection is a function registered under a name, the seed's
// @net.connect: [Connection.Call] runs it here, [Connection.On] runs it on
// another peer, and both return the same thing, since argument and result
// make the same trip through the JSON codec either way.
type Connection[Req, Resp any] struct {
	name string
	err  error // why registration failed; returned by every call
}

// Connect registers fn in the default registry under tag, or, when tag is
// empty, under "<package>.<function>" taken from fn's name (fn must then
// be a named function, not a literal). Registering a name again logs a
// warning and replaces the earlier function. Connect is meant for package
// level: a bad tag does not panic, it is logged and returned by every call
// of the connection (and by [Connection.Err]).
func Connect[Req, Resp any](tag string, fn func(context.Context, Req) (Resp, error)) *Connection[Req, Resp] {
	c := &Connection[Req, Resp]{name: tag}
	if fn == nil {
		c.err = fmt.Errorf("%w: connection %q: nil function", ErrInvalidName, tag)
	} else if tag == "" {
		c.name, c.err = derivedName(fn)
	}
	if c.err == nil {
		c.err = registry.Register(c.name, peer.Func(fn))
	}
	if c.err != nil {
		slog.Error("appnet: connection not registered", "err", c.err)
	}
	return c
}

// Name returns the name the connection is registered under.
func (c *Connection[Req, Resp]) Name() string { return c.name }

// Err returns why the connection could not be registered, or nil.
func (c *Connection[Req, Resp]) Err() error { return c.err }

// Call runs the connection here, as a plain function call would, but with
// the argument and the result passed through the codec, so it returns
// exactly what a remote call returns. Flags the function answers with are
// resolved by the default registry's handlers. The handler sees the
// default peer through [peer.FromContext] if it has been started.
func (c *Connection[Req, Resp]) Call(ctx context.Context, req Req) (Resp, error) {
	var zero Resp
	if c.err != nil {
		return zero, c.err
	}
	arg, err := peer.Encode(req)
	if err != nil {
		return zero, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if _, ok := peer.FromContext(ctx); !ok {
		defaultMu.Lock()
		if defaultPeer != nil {
			ctx = peer.NewContext(ctx, defaultPeer.Peer)
		}
		defaultMu.Unlock()
	}
	out, err := registry.Call(ctx, c.name, arg)
	if err != nil {
		return zero, err
	}
	return decodeResult[Resp](c.name, out)
}

// On returns the connection bound to the target peer.
func (c *Connection[Req, Resp]) On(target ID) Remote[Req, Resp] {
	return Remote[Req, Resp]{c: c, target: target}
}

// Remote is a connection bound to a peer: its Call runs there.
type Remote[Req, Resp any] struct {
	c      *Connection[Req, Resp]
	target ID
	via    *peer.Peer
}

// Via makes the call from p instead of from the default peer.
func (r Remote[Req, Resp]) Via(p *Peer) Remote[Req, Resp] {
	r.via = p.Peer
	return r
}

// Call runs the connection on the target peer and returns its result.
// The errors are those of [peer.Caller.Call].
func (r Remote[Req, Resp]) Call(ctx context.Context, req Req) (Resp, error) {
	var zero Resp
	if r.c.err != nil {
		return zero, r.c.err
	}
	arg, err := peer.Encode(req)
	if err != nil {
		return zero, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	from := r.via
	if from == nil {
		p, err := Default()
		if err != nil {
			return zero, err
		}
		from = p.Peer
	}
	out, err := from.Call(ctx, r.target, r.c.name, arg)
	if err != nil {
		return zero, err
	}
	return decodeResult[Resp](r.c.name, out)
}

func decodeResult[Resp any](name string, out []byte) (Resp, error) {
	v, err := peer.Decode[Resp](out)
	if err != nil {
		return v, fmt.Errorf("connection %q: result: %w", name, err)
	}
	return v, nil
}

var closureName = regexp.MustCompile(`\.func\d+(\.\d+)*$`)

// derivedName returns "<package>.<function>" for a named function.
func derivedName(fn any) (string, error) {
	full := runtime.FuncForPC(reflect.ValueOf(fn).Pointer()).Name()
	full, _, _ = strings.Cut(full, "[") // generic instantiation
	if closureName.MatchString(full) {
		return "", fmt.Errorf("%w: %s is a function literal; give the connection a tag", ErrInvalidName, full)
	}
	name := full[strings.LastIndex(full, "/")+1:]
	return name, peer.ValidateConnection(name)
}
