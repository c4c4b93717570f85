package peer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/appnet-go/appnet/internal/flags"
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
	gather  gatherer
	direct  *direct  // nil: every call goes through nc
	own     *replies // the replies to requests through nc; nil: nats.go's request mux

	addrs     sync.Map // ID -> "host:port", for IDs already checked
	addrCount atomic.Int64
	pend      pending // calls through the cluster, ended when their peer goes
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
	target, addr, err := c.addrOf(target)
	if err != nil {
		return nil, err
	}
	if err := ValidateConnection(connection); err != nil {
		return nil, err
	}
	msg := c.request(ctx, CallSubject(target, connection), arg)
	var reply *nats.Msg
	if dc := c.directConn(addr); dc != nil {
		reply, err = c.send(ctx, dc.nc, msg)
		dc.release()
		if errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrConnectionDraining) {
			// The target's server went while the call was out: the handler
			// may have run, so the call is not sent again.
			err = fmt.Errorf("%w: the connection to its server was lost during the call", nats.ErrNoResponders)
		}
	} else {
		tctx, done := c.pend.track(ctx, target)
		reply, err = c.send(tctx, c.nc, msg)
		if errors.Is(context.Cause(tctx), errPeerGone) && ctx.Err() == nil {
			err = fmt.Errorf("%w: %w", nats.ErrNoResponders, errPeerGone)
		}
		done()
	}
	if err != nil {
		return nil, c.requestError(err, "peer "+describe(target), connection, msg.Subject)
	}
	return c.answer(ctx, target, connection, reply)
}

// send makes one request, bounded by ctx's deadline or, without one, by
// the caller's timeout (for a ctx that never ends, without a context
// timer: requestMsg bounds it).
func (c *Caller) send(ctx context.Context, nc *nats.Conn, msg *nats.Msg) (*nats.Msg, error) {
	if ctx.Done() != nil {
		var cancel context.CancelFunc
		ctx, cancel = c.bounded(ctx)
		defer cancel()
	}
	return c.requestMsg(ctx, nc, msg)
}

// Request sends data to subject through the caller's connection and
// returns the reply. ctx bounds it; a ctx that never ends, the caller's
// timeout. A peer's Caller takes the reply on the peer's own subject (see
// replies), so that a peer's requests go through it and not through
// nc.Request, which would subscribe an inbox of its own.
func (c *Caller) Request(ctx context.Context, subject string, data []byte) (*nats.Msg, error) {
	return c.requestMsg(ctx, c.nc, &nats.Msg{Subject: subject, Data: data})
}

// RequestVia sends msg through nc, a connection to another server of the
// network, and returns the reply, which it takes on the peer's own
// subject as Request does: a connection made for a few questions then
// subscribes nothing that every server of the network would learn of
// and forget again. The reply comes back through the network to the
// caller's own server. ctx bounds it (without a deadline, the caller's
// timeout), and ends a request that nobody serves: nats-server tells
// only a connection that subscribes the reply subject that there are no
// responders. It sets msg.Reply.
func (c *Caller) RequestVia(ctx context.Context, nc *nats.Conn, msg *nats.Msg) (*nats.Msg, error) {
	ctx, cancel := c.bounded(ctx)
	defer cancel()
	if c.own == nil {
		return nc.RequestMsgWithContext(ctx, msg)
	}
	return c.own.request(ctx, nc, msg, 0)
}

// requestMsg makes one request through nc: on the peer's own subject
// when nc is the caller's connection and the caller has one, else
// through nats.go's request mux. A ctx that never ends is bounded by the
// caller's timeout.
func (c *Caller) requestMsg(ctx context.Context, nc *nats.Conn, msg *nats.Msg) (*nats.Msg, error) {
	var timeout time.Duration
	if ctx.Done() == nil {
		timeout = c.timeout
	}
	if c.own == nil || nc != c.nc {
		if timeout > 0 {
			return nc.RequestMsg(msg, timeout)
		}
		return nc.RequestMsgWithContext(ctx, msg)
	}
	return c.own.request(ctx, nc, msg, timeout)
}

// directConn returns the direct connection to the server at addr, if the
// caller keeps them and one is up.
func (c *Caller) directConn(addr string) *directConn {
	if c.direct == nil {
		return nil
	}
	return c.direct.conn(addr)
}

// addrOf checks a peer ID and returns it in the form peers subscribe with
// (see [ParseID]) and the server address it names. IDs once checked are
// remembered (up to a bound), so a call does not decode base64 each time.
func (c *Caller) addrOf(target ID) (ID, string, error) {
	if a, ok := c.addrs.Load(target); ok {
		k := a.(checkedID)
		return k.id, k.addr, nil
	}
	id, err := ParseID(string(target))
	if err != nil {
		return "", "", err
	}
	a, _ := id.Decode()
	k := checkedID{id: id, addr: net.JoinHostPort(a.Host, strconv.Itoa(a.Port))}
	if c.addrCount.Add(1) <= maxRememberedIDs {
		c.addrs.Store(target, k)
	}
	return k.id, k.addr, nil
}

// checkedID is what addrOf remembers of an ID.
type checkedID struct {
	id   ID
	addr string
}

// maxRememberedIDs bounds the IDs a caller remembers as checked.
const maxRememberedIDs = 4096

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
		if name, ok := flags.FromError(err); ok && !r.Flags().Has(name) {
			// What the peer answers a remote caller with.
			return nil, &RemoteError{Peer: self, Connection: connection, Code: CodeHandler, Description: r.unregisteredFlag(connection, name)}
		}
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

// CallGroup runs connection on one peer of group, chosen by NATS (the
// peers of a group form a queue group), and returns its answer and the ID
// of the peer that gave it. Errors are those of [Caller.Call];
// [ErrUnreachable] means no peer of the group serves the subject.
func (c *Caller) CallGroup(ctx context.Context, group, connection string, arg []byte) ([]byte, ID, error) {
	if err := ValidateGroup(group); err != nil {
		return nil, "", err
	}
	if err := ValidateConnection(connection); err != nil {
		return nil, "", err
	}
	msg := c.request(ctx, GroupCallSubject(group, connection), arg)
	reply, err := c.send(ctx, c.nc, msg)
	if err != nil {
		return nil, "", c.requestError(err, "group "+group, connection, msg.Subject)
	}
	from := ID(reply.Header.Get(HeaderPeer))
	out, err := c.answer(ctx, from, connection, reply)
	return out, from, err
}

// Result is one peer's answer to [Caller.CallAll].
type Result struct {
	Peer  ID
	Value []byte
	Err   error
}

// CallAll runs connection on every peer of group at once (scatter-gather)
// and returns the answers in the order they came. It returns when expect
// answers have come (if expect > 0) or when ctx ends (or, without a
// deadline, after the call timeout); peers that had not answered by then
// are simply absent. No peer in the group at all is [ErrUnreachable].
func (c *Caller) CallAll(ctx context.Context, group, connection string, arg []byte, expect int) ([]Result, error) {
	if err := ValidateGroup(group); err != nil {
		return nil, err
	}
	if err := ValidateConnection(connection); err != nil {
		return nil, err
	}
	ctx, cancel := c.bounded(ctx)
	defer cancel()
	msg := c.request(ctx, GroupAllSubject(group, connection), arg)
	var replies []*nats.Msg
	var none bool
	err := c.Gather(ctx, msg, func(reply *nats.Msg) bool {
		if NoResponders(reply) {
			none = true // no responders: nobody in the group
			return false
		}
		replies = append(replies, reply)
		return expect <= 0 || len(replies) < expect
	})
	if none {
		return nil, c.requestError(nats.ErrNoResponders, "group "+group, connection, msg.Subject)
	}
	if err != nil && ctx.Err() == nil {
		return nil, c.requestError(err, "group "+group, connection, msg.Subject)
	}
	// Flags are resolved after gathering: a slow flag handler must not hold
	// up the shared inbox that every gather reads.
	results := make([]Result, 0, len(replies))
	for _, reply := range replies {
		from := ID(reply.Header.Get(HeaderPeer))
		out, err := c.answer(context.WithoutCancel(ctx), from, connection, reply)
		results = append(results, Result{Peer: from, Value: out, Err: err})
	}
	return results, nil // the time may be up: these are the answers that came
}

// bounded gives ctx the caller's timeout when it has no deadline.
func (c *Caller) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, c.timeout)
}

// request builds a call message. When ctx has a deadline, the message
// carries the caller's remaining time (Net-Timeout), so that the handler's
// context ends when the caller stops waiting; without one, it carries no
// header at all (headers cost a call about a tenth of its time), and the
// serving peer gives the handler its own limit (Config.ServeTimeout).
func (c *Caller) request(ctx context.Context, subject string, arg []byte) *nats.Msg {
	deadline, ok := ctx.Deadline()
	if !ok {
		return &nats.Msg{Subject: subject, Data: arg}
	}
	ms := max(time.Until(deadline).Milliseconds(), 1) // the serving peer refuses 0
	return &nats.Msg{Subject: subject, Data: arg, Header: nats.Header{HeaderTimeout: []string{strconv.FormatInt(ms, 10)}}}
}

// requestError turns a request's transport error into the call's error.
func (c *Caller) requestError(err error, who, connection, subject string) error {
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return fmt.Errorf("%w: %s: nobody serves %s (the peer has stopped, or is not in this peer's cluster)",
			ErrUnreachable, who, subject)
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrConnectionDraining):
		return fmt.Errorf("call %q on %s: %w", connection, who, ErrClosed)
	default:
		return fmt.Errorf("call %q on %s: no answer: %w", connection, who, err)
	}
}

// NoResponders reports whether m is nats-server's answer to a request
// nobody subscribes to: status 503 and no data, sent to a client that said
// it takes such answers (nats.go does), whatever API made the request.
func NoResponders(m *nats.Msg) bool {
	return m.Header.Get("Status") == "503" && len(m.Data) == 0
}
