package peer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/appnet-go/appnet/internal/flags"
	"github.com/nats-io/nats.go"
)

// serveOwn takes every message on the peer's own subjects
// (net.peer.<ID>.>): calls, which it hands to calls, and the replies to
// the peer's requests (see replies). A request on any other subject
// there is answered with CodeBadRequest, as fast as "no responders"
// answered it before the peer took its replies there.
func (p *Peer) serveOwn(calls nats.MsgHandler) nats.MsgHandler {
	callsAt, replies := callPrefix(p.id), OwnPrefix(p.id)+replyToken
	return func(m *nats.Msg) {
		switch {
		case strings.HasPrefix(m.Subject, callsAt):
			calls(m)
		case strings.HasPrefix(m.Subject, replies):
			p.Caller.own.deliver(m) // else a reply to a run before under this ID: dropped
		case m.Reply != "":
			c := &call{p: p, m: m}
			c.fail(CodeBadRequest, "no such subject: "+m.Subject+"; calls are "+callsAt+"<connection>", nil, "")
		}
	}
}

// dispatch returns the handler of the calls under prefix. It hands each
// call to a goroutine of its own, so that a slow handler never holds up
// the others, and answers 503 at once when MaxInFlight calls are already
// running. The default connections (info, pass_through, connections,
// null) have slots of their own, so that they keep answering while user
// handlers are saturated. Answers to group calls name the peer that gave
// them.
func (p *Peer) dispatch(prefix string, group bool) nats.MsgHandler {
	return p.dispatchAs(prefix, group, false)
}

// dispatchAs is dispatch; a peer that is one of every member answering
// (everyone: a group call to a default connection) says nothing when it
// is too busy, rather than busy: the first answer is the call's, and the
// others are free.
func (p *Peer) dispatchAs(prefix string, group, everyone bool) nats.MsgHandler {
	return func(m *nats.Msg) {
		if m.Reply == "" {
			return // nothing to answer; a publish to a call subject is ignored
		}
		c := &call{p: p, m: m, connection: connectionOf(prefix, m.Subject), group: group}
		h, builtin, ok := p.reg.lookup(c.connection)
		if !ok {
			c.fail(CodeUnknownConnection, p.reg.unknownConnection(p.id, c.connection), nil, flags.InvalidConnection)
			return
		}
		limit, err := p.timeLimit(m.Header)
		if err != nil {
			c.fail(CodeBadRequest, err.Error(), nil, "")
			return
		}
		c.h, c.limit = h, limit
		slots := p.slots
		if builtin {
			slots = p.builtinSlots
		}
		select {
		case slots <- struct{}{}:
		default:
			if everyone {
				return
			}
			c.fail(CodeBusy, "peer busy: "+strconv.Itoa(cap(slots))+" calls in flight", nil, "")
			return
		}
		// Close waits for every handler started before it; none starts after.
		p.closeMu.RLock()
		if p.closing {
			p.closeMu.RUnlock()
			<-slots
			return
		}
		p.handlers.Add(1)
		p.closeMu.RUnlock()
		go func() {
			defer func() {
				<-slots
				p.handlers.Done()
			}()
			c.serve()
			if builtin && c.connection == ConnInfo {
				p.noteUnheard(m.Header) // once answered: the answer goes first
			}
		}()
	}
}

// noteUnheard tells the OnUnheard function of a call whose header says
// its caller's server does not hear this peer.
func (p *Peer) noteUnheard(h nats.Header) {
	from := h.Get(HeaderUnheard)
	if from == "" {
		return
	}
	if fn := p.topo.unheard.Load(); fn != nil {
		(*fn)(from)
	}
}

// builtinSlots is how many calls of the default connections a peer serves
// at once, besides MaxInFlight calls of the others.
const builtinSlots = 64

// timeLimit returns how long a call may run: the caller's time
// (Net-Timeout, in milliseconds), capped at the peer's ServeTimeout, or
// ServeTimeout when the caller sent none. A value that is not a positive
// whole number of milliseconds that a Duration holds is an error.
func (p *Peer) timeLimit(h nats.Header) (time.Duration, error) {
	limit := p.cfg.ServeTimeout
	v, sent := h[HeaderTimeout]
	if !sent {
		return limit, nil
	}
	if len(v) != 1 {
		return 0, fmt.Errorf("%d %s headers: want one", len(v), HeaderTimeout)
	}
	ms, err := strconv.ParseInt(v[0], 10, 64)
	if err != nil || ms <= 0 || ms > int64(math.MaxInt64/time.Millisecond) {
		return 0, fmt.Errorf("%s %q: want the caller's remaining time in milliseconds, a whole number from 1 to %d (or no header: the peer's limit of %s)",
			HeaderTimeout, short(v[0]), int64(math.MaxInt64/time.Millisecond), limit)
	}
	return min(time.Duration(ms)*time.Millisecond, limit), nil
}

// call is one request being served.
type call struct {
	p          *Peer
	m          *nats.Msg
	connection string
	group      bool
	h          Handler
	limit      time.Duration // the handler's time: the caller's, capped by the peer's
}

// serve runs the call's handler and answers.
func (c *call) serve() {
	p, m := c.p, c.m
	start := time.Now()
	ctx, cancel := context.WithTimeout(p.handlerCtx, c.limit)
	defer cancel()
	out, err := runHandler(ctx, c.h, m.Data)
	elapsed := time.Since(start)
	if p.cfg.Dev {
		p.log.Debug("appnet: served call", "subject", m.Subject, "arg_bytes", len(m.Data), "duration", elapsed, "err", err)
	}
	record := func(errText string) { p.stats.record(c.connection, elapsed, errText) }
	var pe *panicError
	var raised *flags.Raised
	switch {
	case err == nil:
		record("")
		c.respond(&nats.Msg{Data: out})
	case errors.As(err, &raised) && !p.reg.Flags().Has(raised.Name):
		msg := p.reg.unregisteredFlag(c.connection, raised.Name)
		record(msg)
		c.fail(CodeHandler, msg, nil, "")
	case errors.As(err, &raised):
		record("")
		c.respond(&nats.Msg{Header: nats.Header{HeaderFlag: []string{raised.Name}}})
	case errors.As(err, &pe):
		record(pe.Error())
		p.limited.Error("appnet: handler panicked", "connection", c.connection, "panic", pe.value)
		c.fail(CodeHandler, pe.Error(), pe.stack, "")
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
		record(err.Error())
		c.fail(CodeTimeout, "handler ran out of its time ("+c.limit.String()+": the caller's Net-Timeout, at most this peer's limit of "+
			p.cfg.ServeTimeout.String()+"): "+err.Error(), nil, "")
	case errors.Is(err, ErrBadRequest):
		record(err.Error())
		c.fail(CodeBadRequest, err.Error(), nil, "")
	default:
		record(err.Error())
		c.fail(CodeHandler, err.Error(), nil, "")
	}
}

// fail answers with the NATS services error headers, and the flag header
// when flag is not empty.
func (c *call) fail(code int, description string, body []byte, flag string) {
	h := nats.Header{
		HeaderErrorCode: []string{strconv.Itoa(code)},
		HeaderError:     []string{headerSafe(description)},
	}
	if flag != "" {
		h.Set(HeaderFlag, flag)
	}
	c.respond(&nats.Msg{Header: h, Data: body})
}

func (c *call) respond(reply *nats.Msg) {
	if c.group {
		if reply.Header == nil {
			reply.Header = nats.Header{}
		}
		reply.Header.Set(HeaderPeer, string(c.p.id))
	}
	err := c.m.RespondMsg(reply)
	if errors.Is(err, nats.ErrMaxPayload) {
		// Say so rather than leave the caller waiting for its timeout.
		c.fail(CodeHandler, "answer of "+strconv.Itoa(len(reply.Data))+" bytes exceeds the maximum payload of "+
			strconv.FormatInt(c.p.nc.MaxPayload(), 10)+" bytes", nil, "")
		return
	}
	if err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		c.p.limited.Warn("appnet: answering a call failed", "subject", c.m.Subject, "err", err)
	}
}

// headerSafe makes s fit in one header value: one line, at most 1 KiB.
func headerSafe(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
	if len(s) > 1024 {
		s = s[:1021] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}
