package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/appnet-go/appnet/bus"
	"github.com/appnet-go/appnet/internal/events"
	"github.com/appnet-go/appnet/internal/lower"
	"github.com/nats-io/nats.go"
)

// What a subscriber child of the events scenario counts, and how it says
// so: the -count flag of both child roles.

// eventCounter counts the events (or messages) of one run at a
// subscriber: how many, when the first and the last came.
type eventCounter struct {
	expect      int64
	n           atomic.Int64
	first, last atomic.Int64 // Unix ns
	errs        atomic.Int64 // reported by the subscription (decode errors, drops)
	full        chan struct{}
	dropped     func() int64
	warm        sync.Once
}

func newCounter(expect int) *eventCounter {
	return &eventCounter{expect: int64(expect), full: make(chan struct{})}
}

// add counts one event; handlers are called one at a time.
func (c *eventCounter) add() {
	now := time.Now().UnixNano()
	n := c.n.Add(1)
	if n == 1 {
		c.first.Store(now)
	}
	c.last.Store(now)
	if n == c.expect {
		close(c.full)
	}
}

// quiet is how long a subscriber waits after the last event before it
// reports a run that fell short of the expected count.
const quiet = time.Second

// report prints "got <count> <first ns> <last ns> <dropped> <errors>"
// once the expected count came, or quiet after the last event.
func (c *eventCounter) report(ctx context.Context, expect int, out *lineWriter) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.full:
		case <-t.C:
			n := c.n.Load()
			if n == 0 || time.Since(time.Unix(0, c.last.Load())) < quiet {
				continue
			}
		}
		var dropped int64
		if c.dropped != nil {
			dropped = c.dropped()
		}
		out.printf("got %d %d %d %d %d", c.n.Load(), c.first.Load(), c.last.Load(), dropped, c.errs.Load())
		return
	}
}

// countEvents subscribes p to event (counted) and to <event>.warm (the
// first one prints "warm"), in that order, so that a warm event heard
// proves the interest in event has reached the emitter's server too.
func countEvents(p *bus.Peer, event string, expect int, out *lineWriter) (*eventCounter, error) {
	c := newCounter(expect)
	sub, err := events.Subscribe(lower.Peer(p), event, func(context.Context, events.Delivery[string]) { c.add() },
		events.OnError(func(error) { c.errs.Add(1) }))
	if err != nil {
		return nil, err
	}
	c.dropped = sub.Dropped
	_, err = events.Subscribe(lower.Peer(p), event+".warm", func(context.Context, events.Delivery[string]) {
		c.warm.Do(func() { out.printf("warm") })
	})
	return c, err
}

// countRaw is countEvents for a plain nats.go subscriber of subject.
func countRaw(nc *nats.Conn, subject string, expect int, out *lineWriter) (*eventCounter, error) {
	c := newCounter(expect)
	sub, err := nc.Subscribe(subject, func(*nats.Msg) { c.add() })
	if err != nil {
		return nil, err
	}
	c.dropped = func() int64 { n, _ := sub.Dropped(); return int64(n) }
	_, err = nc.Subscribe(subject+".warm", func(*nats.Msg) { c.warm.Do(func() { out.printf("warm") }) })
	return c, err
}
