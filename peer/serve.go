package peer

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/appnet-go/appnet/flags"
	"github.com/nats-io/nats.go"
)

// dispatch returns the handler of the calls under prefix. It hands each
// call to a goroutine of its own, so that a slow handler never holds up
// the others, and answers 503 at once when MaxInFlight calls are already
// running. Answers to group calls name the peer that gave them.
func (p *Peer) dispatch(prefix string, group bool) nats.MsgHandler {
	return func(m *nats.Msg) {
		c := &call{p: p, m: m, connection: connectionOf(prefix, m.Subject), group: group}
		if m.Reply == "" {
			return // nothing to answer; a publish to a call subject is ignored
		}
		select {
		case p.slots <- struct{}{}:
		default:
			c.fail(CodeBusy, "peer busy: "+strconv.Itoa(cap(p.slots))+" calls in flight", nil, "")
			return
		}
		// Close waits for every handler started before it; none starts after.
		p.closeMu.RLock()
		if p.closing {
			p.closeMu.RUnlock()
			<-p.slots
			return
		}
		p.handlers.Add(1)
		p.closeMu.RUnlock()
		go func() {
			defer func() {
				<-p.slots
				p.handlers.Done()
			}()
			c.serve()
		}()
	}
}

// call is one request being served.
type call struct {
	p          *Peer
	m          *nats.Msg
	connection string
	group      bool
}

// serve runs the call's handler and answers.
func (c *call) serve() {
	p, m := c.p, c.m
	start := time.Now()
	h, ok := p.reg.Lookup(c.connection)
	if !ok {
		c.fail(CodeUnknownConnection, p.reg.unknownConnection(p.id, c.connection), nil, flags.InvalidConnection)
		return
	}
	ctx := p.handlerCtx
	if d, ok := timeoutFrom(m.Header); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	out, err := runHandler(ctx, h, m.Data)
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
		p.log.Error("appnet: handler panicked", "connection", c.connection, "panic", pe.value)
		c.fail(CodeHandler, pe.Error(), pe.stack, "")
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
		record(err.Error())
		c.fail(CodeTimeout, "handler ran out of the caller's time: "+err.Error(), nil, "")
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
		c.p.log.Warn("appnet: answering a call failed", "subject", c.m.Subject, "err", err)
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
