package peer

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"
)

// gatherer collects many answers to one request (scatter-gather) through
// one long-lived wildcard subscription, as nats.go does for single
// requests: subscribing afresh for every request would make each wait for
// the new interest to reach every routed server, which costs milliseconds.
// A peer's Caller gathers on the peer's own subject instead (replies); a
// Caller over another connection uses this.
type gatherer struct {
	once   sync.Once
	err    error
	prefix string // <inbox>.; each request answers to <prefix><token>

	mu      sync.Mutex
	waiting map[string]*waiter
	next    atomic.Uint64
}

type waiter struct {
	msgs chan *nats.Msg
	done chan struct{}
}

// Gather publishes msg with a reply subject of its own and calls each with
// every answer, until each returns false or ctx ends (the context's error
// is returned then).
func (c *Caller) Gather(ctx context.Context, msg *nats.Msg, each func(*nats.Msg) (more bool)) error {
	if c.own != nil {
		return c.own.gather(ctx, c.nc, msg, each) // on the peer's own subject: no inbox
	}
	g := &c.gather
	g.once.Do(func() {
		g.prefix = c.nc.NewInbox() + "."
		g.waiting = map[string]*waiter{}
		_, g.err = c.nc.Subscribe(g.prefix+"*", g.deliver)
	})
	if g.err != nil {
		return g.err
	}
	token := strconv.FormatUint(g.next.Add(1), 36)
	w := &waiter{msgs: make(chan *nats.Msg, 16), done: make(chan struct{})}
	g.mu.Lock()
	g.waiting[token] = w
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		delete(g.waiting, token)
		g.mu.Unlock()
		close(w.done)
	}()
	msg.Reply = g.prefix + token
	if err := c.nc.PublishMsg(msg); err != nil {
		return err
	}
	for {
		select {
		case m := <-w.msgs:
			if !each(m) {
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// deliver hands an answer to the request it answers; late answers to a
// finished request are dropped.
func (g *gatherer) deliver(m *nats.Msg) {
	token, _ := strings.CutPrefix(m.Subject, g.prefix)
	g.mu.Lock()
	w := g.waiting[token]
	g.mu.Unlock()
	if w == nil {
		return
	}
	select {
	case w.msgs <- m:
	case <-w.done:
	}
}
