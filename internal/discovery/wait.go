package discovery

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/appnet-go/appnet/internal/peer"
)

// Wait returns the first peer that matches opts (see [Discoverer.Peers]:
// its own group by default; [Serving] and [Value] narrow further) and
// answers a call through the network, waiting for one until ctx ends.
// Peers already in the view count at once, once they answer. The error
// wraps ctx's when none came.
func (d *Discoverer) Wait(ctx context.Context, opts ...Option) (peer.Info, error) {
	found, err := d.WaitN(ctx, 1, opts...)
	if err != nil {
		return peer.Info{}, err
	}
	return found.Peers[found.IDs()[0]], nil
}

// WaitN returns the peers that match opts and answer a call through the
// network, once there are at least n of them (see [Discoverer.Wait]), or
// an error wrapping ctx's naming how many came and how many answered.
//
// A peer of the view need not be reachable yet: a hub hears of a member
// from another hub before its own route to the member's server is up, and
// until then an event it emits misses that member. An answer proves the
// way: the member's server sent its interest ahead of the answer, on the
// connections the answer came back by.
func (d *Discoverer) WaitN(ctx context.Context, n int, opts ...Option) (Peers, error) {
	q := d.query(opts)
	want := max(n, 1)
	heard := map[peer.ID]bool{}
	pause := firstAskPause
	var asked time.Time
	for {
		changed := d.view.wait()
		found := d.filter(d.view.snapshot(), q)
		var again <-chan time.Time
		if len(found.Peers) >= want {
			// A view changing by the moment (a start) asks no more
			// often than every firstAskPause.
			select {
			case <-time.After(firstAskPause - time.Since(asked)):
			case <-ctx.Done():
			}
			asked = time.Now()
			d.hear(ctx, found, heard)
			answered := Peers{Peers: map[peer.ID]peer.Info{}, Groups: map[string][]peer.ID{}}
			for _, id := range found.IDs() {
				if heard[id] {
					info := found.Peers[id]
					answered.Peers[id] = info
					answered.Groups[info.Group] = append(answered.Groups[info.Group], id)
				}
			}
			if len(answered.Peers) >= want {
				return answered, nil
			}
			again = time.After(pause)
			pause = min(2*pause, lastAskPause)
		}
		select {
		case <-changed:
		case <-again:
		case <-ctx.Done():
			return found, fmt.Errorf("%d of the %d peers %s wanted came, %d answered: %w",
				len(found.Peers), want, q, countHeard(found, heard), ctx.Err())
		}
	}
}

// A Wait whose peers are in the view but do not all answer asks again
// after firstAskPause, doubling up to lastAskPause: a route comes up
// within milliseconds, a busy member answers late.
const (
	firstAskPause = 50 * time.Millisecond
	lastAskPause  = time.Second
)

// hear calls the null connection of each peer of found that has not
// answered yet, through the network, hearAtOnce at a time and each for
// up to probeTimeout, and marks those that answered in heard. A peer
// without interest on the way fails at once (no responders).
func (d *Discoverer) hear(ctx context.Context, found Peers, heard map[peer.ID]bool) {
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		slots = make(chan struct{}, hearAtOnce)
	)
	var ask []peer.ID
	for id := range found.Peers {
		if !heard[id] {
			ask = append(ask, id)
		}
	}
	for _, id := range ask {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			rctx, cancel := context.WithTimeout(ctx, probeTimeout)
			defer cancel()
			if _, err := d.p.Caller.Request(rctx, peer.CallSubject(id, peer.ConnNull), nil); err == nil {
				mu.Lock()
				heard[id] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// hearAtOnce bounds the calls a Wait has in flight.
const hearAtOnce = 32

// countHeard counts the peers of found that answered.
func countHeard(found Peers, heard map[peer.ID]bool) int {
	n := 0
	for id := range found.Peers {
		if heard[id] {
			n++
		}
	}
	return n
}
