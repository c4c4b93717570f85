package peer

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// errPeerGone is the cause of a call ended because the network said its
// target left or failed.
var errPeerGone = errors.New("the peer left or failed during the call")

// pending tracks the calls in flight through the cluster, by target, so
// that they end at once when the network says the target has gone,
// rather than at their deadline: a request already handed to a route
// gets no "no responders" when the peer behind it dies.
type pending struct {
	on    atomic.Bool // set by WatchGone: tracking costs nothing until then
	mu    sync.Mutex
	calls map[ID]map[*context.CancelCauseFunc]struct{}
	left  map[ID]time.Time // targets gone (and not back) lately, and when
}

// A call to a target the network said went less than goneMemory ago
// (and has not said came back) gets goneWait to answer: a request through
// a route that has not yet heard the target's interest go is dropped
// silently, and would otherwise wait for its deadline.
const (
	goneMemory = 30 * time.Second
	goneWait   = 250 * time.Millisecond
)

// track returns ctx made to end when target goes, and the function that
// stops tracking it.
func (p *pending) track(ctx context.Context, target ID) (context.Context, func()) {
	if !p.on.Load() {
		return ctx, func() {}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	key := &cancel
	p.mu.Lock()
	at, left := p.left[target]
	if p.calls == nil {
		p.calls = map[ID]map[*context.CancelCauseFunc]struct{}{}
	}
	if p.calls[target] == nil {
		p.calls[target] = map[*context.CancelCauseFunc]struct{}{}
	}
	p.calls[target][key] = struct{}{}
	p.mu.Unlock()
	done := func() {
		p.mu.Lock()
		delete(p.calls[target], key)
		if len(p.calls[target]) == 0 {
			delete(p.calls, target)
		}
		p.mu.Unlock()
		cancel(nil)
	}
	if !left || time.Since(at) >= goneMemory {
		return ctx, done
	}
	ctx, stop := context.WithTimeoutCause(ctx, goneWait, errPeerGone)
	return ctx, func() { stop(); done() }
}

// gone ends every call in flight to target, and remembers that it went.
func (p *pending) gone(target ID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for cancel := range p.calls[target] {
		(*cancel)(errPeerGone)
	}
	if p.left == nil || len(p.left) >= maxLeft {
		p.left = forget(p.left)
	}
	p.left[target] = time.Now()
}

// anyLeft says whether any target is remembered as gone.
func (p *pending) anyLeft() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.left) > 0
}

// back forgets that target went: the network says it is here.
func (p *pending) back(target ID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.left, target)
}

// maxLeft bounds the targets remembered as gone.
const maxLeft = 4096

// forget returns left without the targets that went long ago.
func forget(left map[ID]time.Time) map[ID]time.Time {
	out := make(map[ID]time.Time, len(left))
	for id, at := range left {
		if time.Since(at) < goneMemory {
			out[id] = at
		}
	}
	return out
}

// TrackGone makes calls through the cluster end at once, with
// [ErrUnreachable], when [Caller.Gone] says their target went: for a
// caller whose peer already follows the membership subjects and tells it
// (a second subscription to them on the same connection would have the
// server deliver every membership message twice).
func (c *Caller) TrackGone() { c.pend.on.Store(true) }

// Gone ends the calls in flight to target through the cluster, and gives
// the next ones a short wait: the network says it left or failed.
func (c *Caller) Gone(target ID) {
	if c.pend.on.Load() {
		c.pend.gone(target)
	}
}

// Back forgets that target went: the network says it is here.
func (c *Caller) Back(target ID) {
	if c.pend.on.Load() {
		c.pend.back(target)
	}
}

// WatchGone makes calls through the cluster end at once, with
// [ErrUnreachable], when the network says their target left or failed
// (the membership subjects), instead of waiting for their deadline. A
// Peer's Caller does it from the start; a Caller over another connection
// (a CLI's) calls it once.
func (c *Caller) WatchGone() error {
	if c.pend.on.Swap(true) {
		return nil
	}
	_, err := c.nc.Subscribe(MemberChanges, func(m *nats.Msg) { // digests too: ignored
		switch m.Subject {
		case MemberLeaveSubject, MemberFailSubject:
			if g, err := Decode[MemberGone](m.Data); err == nil {
				c.pend.gone(g.ID)
			}
		case MemberJoinSubject, MemberUpdateSubject:
			if !c.pend.anyLeft() {
				return // nothing to forget: a mass start decodes no join twice
			}
			if who, err := Decode[struct {
				ID ID `json:"id"`
			}](m.Data); err == nil {
				c.pend.back(who.ID)
			}
		}
	})
	return err
}
