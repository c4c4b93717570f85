package events_test

import (
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/events"
	"github.com/appnet-go/appnet/internal/lower"
	"github.com/appnet-go/appnet/internal/testnet"
	"github.com/nats-io/nats.go"
)

// TestEventsCarryHeadersOnlyWhenAsked: the subject names the emitter and
// the event, so an event carries no headers unless its emitter asks, and
// subscribers read both from the subject either way.
func TestEventsCarryHeadersOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	host, port := testnet.Host(t), testnet.Ports(t)
	p := start(t, host, port)
	raw, err := p.Conn().SubscribeSync("net.event.>")
	if err != nil {
		t.Fatal(err)
	}
	c := newCollector[string]()
	if _, err := events.Subscribe(lower.Peer(p), "tick", c.handle, events.OnError(c.onError)); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(events.Emit(lower.Peer(p), "tick", "plain"))
	must(events.Emit(lower.Peer(p), "tick", "with headers", events.WithHeaders()))

	next := func() *nats.Msg {
		t.Helper()
		m, err := raw.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	if m := next(); m.Header != nil {
		t.Errorf("a plain event carries headers %v", m.Header)
	}
	m := next()
	if m.Header.Get(events.HeaderEmitter) != string(p.ID()) || m.Header.Get(events.HeaderEvent) != "tick" {
		t.Errorf("WithHeaders sent %v, want %s=%s and %s=tick", m.Header, events.HeaderEmitter, p.ID(), events.HeaderEvent)
	}
	c.waitN(t, 2)
	for i, d := range c.got {
		if d.From != p.ID() || d.Event != "tick" {
			t.Errorf("delivery %d: from %q event %q, want %s and tick", i, d.From, d.Event, p.ID())
		}
	}
	if len(c.errs) != 0 {
		t.Errorf("errors: %v", c.errs)
	}
}
