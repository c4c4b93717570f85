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

// dispatch hands each call to a goroutine of its own, so that a slow
// handler never holds up the others, and answers 503 at once when
// MaxInFlight calls are already running.
func (p *Peer) dispatch(m *nats.Msg) {
	select {
	case p.slots <- struct{}{}:
	default:
		p.respondError(m, CodeBusy, "peer busy: "+strconv.Itoa(cap(p.slots))+" calls in flight", nil, "")
		return
	}
	p.handlers.Add(1)
	go func() {
		defer func() {
			<-p.slots
			p.handlers.Done()
		}()
		p.serve(m)
	}()
}

// serve runs one call and answers it.
func (p *Peer) serve(m *nats.Msg) {
	start := time.Now()
	connection, _ := connectionOf(p.id, m.Subject)
	if m.Reply == "" {
		p.log.Debug("appnet: call without a reply subject ignored", "subject", m.Subject)
		return
	}
	h, ok := p.reg.Lookup(connection)
	if !ok {
		p.respondError(m, CodeUnknownConnection, p.reg.unknownConnection(p.id, connection), nil, flags.InvalidConnection)
		return
	}
	ctx := NewContext(p.base, p)
	if d, ok := timeoutFrom(m.Header); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	out, err := runHandler(ctx, h, m.Data)
	elapsed := time.Since(start)
	if p.cfg.Dev {
		p.log.Debug("appnet: served call", "connection", connection, "arg_bytes", len(m.Data), "duration", elapsed, "err", err)
	}
	if err == nil {
		p.stats.record(connection, elapsed, "")
		p.respond(m, &nats.Msg{Data: out})
		return
	}
	var pe *panicError
	var raised *flags.Raised
	switch {
	case errors.As(err, &raised):
		if !p.reg.Flags().Has(raised.Name) {
			p.stats.record(connection, elapsed, "unregistered flag "+raised.Name)
			p.respondError(m, CodeHandler, "connection "+strconv.Quote(connection)+" answered with flag "+
				strconv.Quote(raised.Name)+", which this peer has not registered; its flags: "+
				strings.Join(p.reg.Flags().Names(), ", "), nil, "")
			return
		}
		p.stats.record(connection, elapsed, "")
		p.respond(m, &nats.Msg{Header: nats.Header{HeaderFlag: []string{raised.Name}}})
	case errors.As(err, &pe):
		p.stats.record(connection, elapsed, pe.Error())
		p.log.Error("appnet: handler panicked", "connection", connection, "panic", pe.value)
		p.respondError(m, CodeHandler, pe.Error(), pe.stack, "")
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
		p.stats.record(connection, elapsed, err.Error())
		p.respondError(m, CodeTimeout, "handler ran out of the caller's time: "+err.Error(), nil, "")
	case errors.Is(err, ErrBadRequest):
		p.stats.record(connection, elapsed, err.Error())
		p.respondError(m, CodeBadRequest, err.Error(), nil, "")
	default:
		p.stats.record(connection, elapsed, err.Error())
		p.respondError(m, CodeHandler, err.Error(), nil, "")
	}
}

// respondError answers with the NATS services error headers, and the flag
// header when flag is not empty.
func (p *Peer) respondError(m *nats.Msg, code int, description string, body []byte, flag string) {
	h := nats.Header{
		HeaderErrorCode: []string{strconv.Itoa(code)},
		HeaderError:     []string{headerSafe(description)},
	}
	if flag != "" {
		h.Set(HeaderFlag, flag)
	}
	p.respond(m, &nats.Msg{Header: h, Data: body})
}

func (p *Peer) respond(m *nats.Msg, reply *nats.Msg) {
	err := m.RespondMsg(reply)
	if errors.Is(err, nats.ErrMaxPayload) {
		// Say so rather than leave the caller waiting for its timeout.
		err = m.RespondMsg(&nats.Msg{Header: nats.Header{
			HeaderErrorCode: []string{strconv.Itoa(CodeHandler)},
			HeaderError: []string{"answer of " + strconv.Itoa(len(reply.Data)) + " bytes exceeds the maximum payload of " +
				strconv.FormatInt(p.nc.MaxPayload(), 10) + " bytes"},
		}})
	}
	if err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		p.log.Warn("appnet: answering a call failed", "subject", m.Subject, "err", err)
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
