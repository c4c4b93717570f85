package peer

import (
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Messages for a subscription can be lost in three places, and each is
// counted: by nats.go, when the subscription's handler falls behind and
// its buffer is full ([nats.Subscription.Dropped]); by the embedded
// server, which sheds messages for a connection that reads slower than
// they come (it counts them as sent, and the peer compares that with what
// the subscription received); and while the peer's connection is down and
// comes back, which is reported but cannot be counted.

// lossCheckEvery is how often the peer compares what its server sent each
// watched subscription with what the subscription received.
const lossCheckEvery = 100 * time.Millisecond

// lossWatch is the set of subscriptions whose losses a peer counts.
type lossWatch struct {
	mu      sync.Mutex
	subs    map[*nats.Subscription]*watchedSub
	running bool // watchLosses runs: while subs is not empty
}

// watchedSub is one watched subscription.
type watchedSub struct {
	report  func(error)
	base    int64 // messages received before the current connection, which the server's count does not include
	carried int64 // messages the server shed on connections before the current one
	shed    int64 // messages the server shed, on every connection
	told    int64 // the count of losses when the watcher last reported
}

// OnSlowConsumer calls fn whenever messages for sub are lost: when NATS
// drops them because the subscription's handler fell behind (once per
// episode) or because the peer's connection read slower than they came
// (with [nats.ErrSlowConsumer] both), and when the peer's connection was
// lost and came back ([ErrConnectionLost]). [Peer.Dropped] counts them.
// The returned function stops that.
func (p *Peer) OnSlowConsumer(sub *nats.Subscription, fn func(error)) (stop func()) {
	w := &p.watched
	w.mu.Lock()
	if w.subs == nil {
		w.subs = map[*nats.Subscription]*watchedSub{}
	}
	w.subs[sub] = &watchedSub{report: fn}
	if !w.running {
		w.running = true
		go p.watchLosses()
	}
	w.mu.Unlock()
	return func() {
		w.mu.Lock()
		delete(w.subs, sub)
		w.mu.Unlock()
	}
}

// Dropped returns how many messages for sub, a subscription watched with
// [Peer.OnSlowConsumer], were dropped where they could be counted: by
// nats.go and by the peer's server.
func (p *Peer) Dropped(sub *nats.Subscription) int64 {
	n, _ := sub.Dropped()
	p.watched.mu.Lock()
	defer p.watched.mu.Unlock()
	if ws, ok := p.watched.subs[sub]; ok {
		return int64(n) + ws.shed
	}
	return int64(n)
}

// slowConsumer passes a slow-consumer error for sub to its watcher, and
// reports whether there was one.
func (w *lossWatch) slowConsumer(sub *nats.Subscription, err error) bool {
	w.mu.Lock()
	ws, ok := w.subs[sub]
	if ok {
		dropped, _ := sub.Dropped()
		ws.told = max(ws.told, int64(dropped)+ws.shed)
	}
	w.mu.Unlock()
	if ok {
		ws.report(err)
	}
	return ok
}

// reconnected tells every watched subscription that messages were lost
// while the connection was down for gap; the server's counts start again
// from zero on the new connection.
func (w *lossWatch) reconnected(nc *nats.Conn, gap time.Duration) {
	err := fmt.Errorf("%w: the peer's connection to its server was down for %s; messages sent meanwhile were lost, and what the server held for the peer was discarded",
		ErrConnectionLost, gap.Round(time.Millisecond))
	w.mu.Lock()
	var reports []func(error)
	for sub, ws := range w.subs {
		ws.base, ws.carried = received(sub), ws.shed
		reports = append(reports, ws.report)
	}
	w.mu.Unlock()
	for _, r := range reports {
		r(err)
	}
}

// received returns how many messages sub has received on all
// connections: delivered, dropped or waiting. Pending is read first: a
// message that moves on meanwhile is counted twice rather than not at
// all, so that a loss is never overstated.
func received(sub *nats.Subscription) int64 {
	pending, _, _ := sub.Pending()
	delivered, _ := sub.Delivered()
	dropped, _ := sub.Dropped()
	return int64(pending) + delivered + int64(dropped)
}

// watchLosses compares, every lossCheckEvery until the peer closes or no
// subscription is watched, what the server counted for each watched
// subscription with what it received, and reports losses that no report
// has counted yet: the server's, and the drops of nats.go after the first
// of an episode (nats.go reports that one only). Only the embedded server
// can be asked for its counts. A peer that watches nothing does not wake
// up for it.
func (p *Peer) watchLosses() {
	t := time.NewTicker(lossCheckEvery)
	defer t.Stop()
	var last map[*nats.Subscription]int64 // the previous check, which must agree before a loss counts
	for {
		select {
		case <-p.base.Done():
			return
		case <-t.C:
		}
		p.watched.mu.Lock()
		if len(p.watched.subs) == 0 {
			p.watched.running = false
			p.watched.mu.Unlock()
			return
		}
		p.watched.mu.Unlock()
		var now map[*nats.Subscription]int64
		if p.srv != nil {
			now = p.shedCounts()
		}
		p.watched.mu.Lock()
		var reports []func(error)
		for sub, ws := range p.watched.subs {
			if n, ok := now[sub]; ok && ws.carried+n > ws.shed && last[sub] == n {
				ws.shed = ws.carried + n // the same twice: not messages in flight
			}
			dropped, _ := sub.Dropped()
			if total := int64(dropped) + ws.shed; total > ws.told {
				ws.told = total
				reports = append(reports, ws.report)
			}
		}
		p.watched.mu.Unlock()
		for _, r := range reports {
			r(fmt.Errorf("%w: messages were dropped for it: its handler, or the peer's connection, fell behind", nats.ErrSlowConsumer))
		}
		last = now
	}
}

// shedCounts returns, for each watched subscription, how many messages
// the server counted for it on the current connection and it never
// received. It returns nil while the server still holds messages for the
// connection (they are counted and not yet received).
func (p *Peer) shedCounts() map[*nats.Subscription]int64 {
	p.watched.mu.Lock()
	if len(p.watched.subs) == 0 {
		p.watched.mu.Unlock()
		return nil
	}
	p.watched.mu.Unlock()
	cid, err := p.nc.GetClientID()
	if err != nil {
		return nil
	}
	cz, err := p.srv.NATS().Connz(&server.ConnzOptions{CID: cid, SubscriptionsDetail: true})
	if err != nil || len(cz.Conns) != 1 || cz.Conns[0].Pending > 0 {
		return nil
	}
	// Subscriptions of one connection to one subject are told apart by
	// their sid, which nats.go does not show: they get the same messages,
	// so they share the count.
	sent, sharing := map[string]int64{}, map[string]int64{} // subject and queue -> messages, subscriptions
	for _, sd := range cz.Conns[0].SubsDetail {
		sent[sd.Subject+" "+sd.Queue] += sd.Msgs
		sharing[sd.Subject+" "+sd.Queue]++
	}
	p.watched.mu.Lock()
	defer p.watched.mu.Unlock()
	out := make(map[*nats.Subscription]int64, len(p.watched.subs))
	for sub, ws := range p.watched.subs {
		key := sub.Subject + " " + sub.Queue
		if sharing[key] == 0 {
			continue // not subscribed on this connection yet
		}
		if n := sent[key]/sharing[key] - (received(sub) - ws.base); n > 0 {
			out[sub] = n
		}
	}
	return out
}
