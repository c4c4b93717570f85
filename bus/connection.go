package bus

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"regexp"
	"runtime"
	"strings"

	"github.com/appnet-go/appnet/internal/flags"
	"github.com/appnet-go/appnet/internal/peer"
)

// Connection is a function registered under a name: [Connection.Call] runs it here, [Connection.On] runs it on
// another peer, and both return the same thing, since argument and result
// make the same trip through the JSON codec either way.
type Connection[Req, Resp any] struct {
	name string
	err  error // why registration failed; returned by every call
}

// Connect registers fn in the default registry under tag, or, when tag is
// empty, under "<package>.<function>" taken from fn's name (fn must then
// be a named function, not a literal). Registering a name again logs a
// warning and replaces the earlier function everywhere: a Connection is
// its name, so an earlier Connection of the same name (and every remote
// caller) then runs the new function. Connect is meant for package
// level: a bad tag does not panic, it is logged and returned by every call
// of the connection (and by [Connection.Err]).
func Connect[Req, Resp any](tag string, fn func(context.Context, Req) (Resp, error)) *Connection[Req, Resp] {
	c := &Connection[Req, Resp]{name: tag}
	if fn == nil {
		c.err = fmt.Errorf("%w: connection %q: nil function", peer.ErrInvalidName, tag)
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
// default peer through [FromContext] if it has been started.
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
		if p := started.Load(); p != nil {
			ctx = peer.NewContext(ctx, p.p)
		}
	}
	out, err := registry.Call(flags.WithResult(ctx, reflect.TypeFor[Resp]()), c.name, arg)
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
	via    *Peer
}

// Via makes the call from p instead of from the default peer.
func (r Remote[Req, Resp]) Via(p *Peer) Remote[Req, Resp] {
	r.via = p
	return r
}

// Call runs the connection on the target peer and returns its result.
// Errors, to test with errors.Is:
//   - [ErrInvalidID] or [ErrInvalidName]: the target or the connection name
//     is malformed (checked before the default peer starts);
//   - [ErrUnreachable]: nobody serves the target (it stopped, or is not in
//     this network);
//   - [ErrInvalidConnection]: the target has no such connection;
//   - [ErrBadRequest], [ErrRemote], [ErrBusy]: the target answered with an
//     error;
//   - [ErrUnknownFlag]: the answer carries a flag with no handler;
//   - the context's error when no answer came in time.
func (r Remote[Req, Resp]) Call(ctx context.Context, req Req) (Resp, error) {
	var zero Resp
	from, arg, err := r.c.prepare(r.via, req, func() error {
		_, err := peer.ParseID(string(r.target))
		return err
	})
	if err != nil {
		return zero, err
	}
	out, err := from.p.Call(flags.WithResult(ctx, reflect.TypeFor[Resp]()), r.target, r.c.name, arg)
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
		return "", fmt.Errorf("%w: %s is a function literal; give the connection a tag", peer.ErrInvalidName, full)
	}
	name := full[strings.LastIndex(full, "/")+1:]
	return name, peer.ValidateConnection(name)
}

// OnGroup returns the connection bound to a group: its Call runs on any
// one peer of the group, and its All on every peer of it.
func (c *Connection[Req, Resp]) OnGroup(group string) Group[Req, Resp] {
	return Group[Req, Resp]{c: c, group: group}
}

// Group is a connection bound to a group.
type Group[Req, Resp any] struct {
	c     *Connection[Req, Resp]
	group string
	via   *Peer
}

// Via makes the call from p instead of from the default peer.
func (g Group[Req, Resp]) Via(p *Peer) Group[Req, Resp] {
	g.via = p
	return g
}

// Call runs the connection on one peer of the group and returns its result
// and the ID of the peer that gave it. Unlike [Remote.Call], the caller
// did not choose that peer (it is picked at random among those that
// serve the connection), so the ID comes back: to say who answered, or to
// call the same peer again with [Connection.On]. On an error the ID is the
// peer that answered with it, or empty when none did.
func (g Group[Req, Resp]) Call(ctx context.Context, req Req) (Resp, ID, error) {
	var zero Resp
	from, arg, err := g.prepare(req)
	if err != nil {
		return zero, "", err
	}
	ctx = flags.WithResult(ctx, reflect.TypeFor[Resp]())
	out, id, err := from.callGroup(ctx, g.group, g.c.name, arg)
	if err != nil {
		return zero, id, err
	}
	v, err := decodeResult[Resp](g.c.name, out)
	return v, id, err
}

// Answer is one peer's answer to a scatter-gather call.
type Answer[Resp any] struct {
	Peer  ID
	Value Resp
	Err   error
}

// All runs the connection on every peer of the group at once and returns
// each peer's answer or error. It returns as soon as every peer of the
// group that the calling peer knows of (from its discoveries) has
// answered, else when ctx ends (without a deadline: after the call
// timeout) with the answers that came.
func (g Group[Req, Resp]) All(ctx context.Context, req Req) ([]Answer[Resp], error) {
	from, arg, err := g.prepare(req)
	if err != nil {
		return nil, err
	}
	results, err := from.p.CallAll(flags.WithResult(ctx, reflect.TypeFor[Resp]()), g.group, g.c.name, arg, from.known(g.group))
	if err != nil {
		return nil, err
	}
	answers := make([]Answer[Resp], 0, len(results))
	for _, r := range results {
		a := Answer[Resp]{Peer: r.Peer, Err: r.Err}
		if r.Err == nil {
			a.Value, a.Err = decodeResult[Resp](g.c.name, r.Value)
		}
		answers = append(answers, a)
	}
	return answers, nil
}

// prepare is Connection.prepare that checks the group's name too, always:
// the lower layer's refusal of a bad group does not say ErrInvalidName.
func (g Group[Req, Resp]) prepare(req Req) (*Peer, []byte, error) {
	if g.c.err == nil {
		if err := peer.ValidateGroup(g.group); err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrInvalidName, err)
		}
	}
	return g.c.prepare(g.via, req, nil)
}

// prepare checks the connection, encodes req and picks the calling peer.
// Nothing starts for a call that cannot be made: when the call would
// start the default peer, checkTarget (if any) runs first. A running peer
// checks the target itself, so a call through one pays for no second
// check.
func (c *Connection[Req, Resp]) prepare(via *Peer, req Req, checkTarget func() error) (*Peer, []byte, error) {
	if c.err != nil {
		return nil, nil, c.err
	}
	from := via
	if from == nil {
		from = started.Load()
	}
	if from == nil && checkTarget != nil {
		if err := checkTarget(); err != nil {
			return nil, nil, err
		}
	}
	arg, err := peer.Encode(req)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if from == nil {
		from, err = Default()
	}
	return from, arg, err
}
