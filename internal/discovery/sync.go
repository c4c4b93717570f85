package discovery

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/appnet-go/appnet/internal/peer"
)

// A sync is how a peer loads the network's view: it asks the hubs
// (net.hub.sync, their queue group) or one hub (net.hub.sync.<ID>)
// and a hub answers with its whole view. When many peers start at once,
// the hubs get a sync request from each while their views change with
// every join: a hub encodes its view once per change for all the requests
// waiting (snapshotCache), off the goroutine that applies the changes, and
// a peer asks again only when the hubs cannot have heard it (no
// responders, or the very first request through a new connection), not
// every time a busy hub is slow, which would multiply the load that made
// it slow.

// syncBacklog bounds the sync requests a hub has yet to answer; beyond it
// a request is dropped, and its peer asks again.
const syncBacklog = 1024

// syncWaits are how long a peer waits for an answer before it asks
// again: briefly at first (a connection just made may not carry the
// answer back yet), then patiently; the last repeats. An answer to an
// earlier request still counts: a busy hub answers late, not never.
var syncWaits = []time.Duration{20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond,
	time.Second, 2 * time.Second}

// After "no responders", a peer asks again after noRespondersWait (to
// twice that), doubled at each, up to maxNoRespondersWait.
const (
	noRespondersWait    = 10 * time.Millisecond
	maxNoRespondersWait = 320 * time.Millisecond
)

// syncAsks bounds the requests of one sync waiting for their answers.
const syncAsks = 6

// sync asks subject for a hub's view until one answers or ctx ends; payload,
// if not nil, is the request's payload (see syncAsk).
func (d *Discoverer) sync(ctx context.Context, subject string, payload []byte) (peer.MemberSnapshot, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type answer struct {
		m     *nats.Msg
		asked time.Time
		err   error
	}
	answers := make(chan answer)
	waiting := 0
	ask := func() {
		waiting++
		asked := time.Now()
		go func() {
			m, err := d.p.Caller.Request(ctx, subject, payload)
			select {
			case answers <- answer{m, asked, err}:
			case <-ctx.Done():
			}
		}()
	}
	ask()
	tries := 0
	quiet := noRespondersWait // doubles with each "no responders", up to maxNoRespondersWait
	next := time.NewTimer(syncWaits[0])
	defer next.Stop()
	err := context.DeadlineExceeded
	for {
		select {
		case a := <-answers:
			waiting--
			if a.err == nil {
				snap, err := peer.Decode[peer.MemberSnapshot](a.m.Data)
				snap.Asked = a.asked
				return snap, err
			}
			err = a.err
			if errors.Is(a.err, nats.ErrNoResponders) && waiting == 0 {
				// No hub is reachable yet (the leaf node connection, or
				// the hubs' interest, is on its way): ask again soon, and
				// less soon each time. In a mass start the hubs' interest
				// takes seconds to reach every leaf, and a leaf that asked
				// every 20 ms kept itself busy, and took its share of the
				// CPU from the hubs it waited for.
				next.Reset(quiet + rand.N(quiet))
				quiet = min(2*quiet, maxNoRespondersWait)
				tries = -1 // the next request is the first through a new connection
			}
		case <-next.C:
			if waiting < syncAsks {
				ask()
			}
			tries++
			next.Reset(syncWaits[min(tries, len(syncWaits)-1)])
		case <-ctx.Done():
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				err = ctx.Err()
			}
			return peer.MemberSnapshot{}, fmt.Errorf("asking the hubs for the view: %w", err)
		}
	}
}

// syncAsk is the payload of a sync request that says what this peer's
// view is, for a peer whose view is loaded and current (a leaf that
// attached to another hub): a hub whose view is the same answers so in a
// few bytes, not with its whole view. After a hub kill at 200 peers, a
// hundred leaves reattach to the hub left within a second, and each
// loaded 200 infos (140 kB) from it while it was busiest.
//
// The request also lists the hashes its digest sums, so that a hub whose
// view differs answers only the difference. A leaf's view falls behind
// in a mass start, and leaves loaded the whole view again whenever two
// digests in a row differed from theirs: in 200-peer starts, a tenth of
// the leaves' CPU until whole went to decoding 200-member views.
func (d *Discoverer) syncAsk() []byte {
	if !d.net.synced {
		return nil
	}
	data, err := peer.Encode(d.view.syncAsk(d.digestSelf()))
	if err != nil {
		return nil
	}
	return data
}

// ownDigest sums up this peer's view with itself, as a MemberDigest does.
func (d *Discoverer) ownDigest() (int, string) {
	self := d.digestSelf()
	return d.view.digest(&self)
}

// digestSelf is this peer as the digests sum it up.
func (d *Discoverer) digestSelf() peer.Info {
	self := d.selfRef()
	self.Values = d.p.Values()
	return self
}

// sameAnswer is a hub's answer to a sync request whose asker's view is
// its own.
var sameAnswer = []byte(`{"members":[],"same":true}`)

// answer is what a hub answers the sync request m: sameAnswer when m
// names this hub's own digest, the difference when it lists the hashes
// of the asker's view, else its whole view.
func (d *Discoverer) answer(m *nats.Msg, cache *snapshotCache) ([]byte, error) {
	if len(m.Data) > 0 {
		if ask, err := peer.Decode[peer.MemberSyncAsk](m.Data); err == nil {
			if n, sum := d.ownDigest(); ask.Peers == n && ask.Sum == sum {
				return sameAnswer, nil
			}
			if len(ask.Have) > 0 {
				return d.delta(parseHashes(ask.Have))
			}
		}
	}
	return cache.get(d)
}

// delta is a hub's answer to an asker whose view, itself included, holds
// the members of hashes have: the members of this hub's view (itself
// included) that have lacks, and the hashes of have that none of them
// has, as peer.MemberSnapshot encodes.
func (d *Discoverer) delta(have map[uint64]bool) ([]byte, error) {
	data := []byte(`{"delta":true,"members":[`)
	data, held, err := d.view.appendMissing(data, have)
	if err != nil {
		return nil, err
	}
	if own := memberHash(d.digestSelf()); have[own] {
		held[own] = true
	} else {
		info, err := peer.Encode(d.ownInfo())
		if err != nil {
			return nil, err
		}
		if data[len(data)-1] != '[' {
			data = append(data, ',')
		}
		data = append(data, info...)
	}
	data = append(data, `],"drop":[`...)
	for h := range have {
		if !held[h] {
			if data[len(data)-1] != '[' {
				data = append(data, ',')
			}
			data = strconv.AppendQuote(data, strconv.FormatUint(h, 16))
		}
	}
	return append(data, "]}"...), nil
}

// applySnapshot makes a hub's view this peer's, as changes; an answer
// that says the view is the hub's already (it holds this peer) changes
// nothing in it.
func (d *Discoverer) applySnapshot(snap peer.MemberSnapshot) {
	self := snap.Same
	if !snap.Same {
		members := make(map[peer.ID]peer.Info, len(snap.Members))
		if snap.Delta {
			members, self = d.kept(snap.Drop)
		}
		for _, info := range snap.Members {
			if info.ID == d.p.ID() {
				self = true
				continue
			}
			members[info.ID] = info
		}
		d.view.replace(members, snap.Asked)
	}
	d.net.synced = true
	d.knowsNetwork.Store(true)
	d.refreshHubs()
	if !self && d.net.announced && d.p.Server() != nil {
		// The network lost us while we were away.
		d.announceJoin()
	}
}

// kept returns the members of the view that a delta answer keeps (those
// whose hash drop does not name), and whether it keeps this peer (the
// hub holds it as it is).
func (d *Discoverer) kept(drop []string) (map[peer.ID]peer.Info, bool) {
	dropped := parseHashes(drop)
	members := d.view.snapshot()
	maps.DeleteFunc(members, func(_ peer.ID, info peer.Info) bool { return dropped[memberHash(info)] })
	return members, !dropped[memberHash(d.digestSelf())]
}

// announceJoin tells the network this peer is here, and notes the leaf
// connection it said so over (watchLeafConnection says so once per
// connection). Every member decodes every join: in 100-peer starts, each
// newcomer's Info reached each member twice, from its first view and from
// Join, a tenth of a leaf's CPU until whole.
func (d *Discoverer) announceJoin() {
	_, d.net.announcedConn = d.p.Server().Attachment()
	d.announce(peer.MemberJoinSubject)
}

// queueSync hands a sync request to answerSyncs, from the goroutine that
// applies the changes: every change received before the request is in
// the view by then, so the answer holds them (and perhaps later ones).
func (d *Discoverer) queueSync(m *nats.Msg) {
	if m.Reply == "" || !d.isHub() {
		return
	}
	select {
	case d.net.syncs <- m:
	default: // the peer asks again
	}
}

// answerSyncs answers the sync requests queued, until stop: once per
// asker within syncRepeat. A peer asks again while it waits (see
// syncWaits) and takes whichever answer comes first; a busy hub that
// answered every request sent a 200-member view three or four times to
// each newcomer of a mass start, which made it busier.
func (d *Discoverer) answerSyncs(syncs <-chan *nats.Msg, stop <-chan struct{}) {
	var cache snapshotCache
	answered := map[string]time.Time{} // by asker: the reply subject but its last token
	for {
		select {
		case <-stop:
			return
		case m := <-syncs:
			now := time.Now()
			asker, mux := askerOf(m.Reply)
			if mux && now.Sub(answered[asker]) < syncRepeat {
				continue
			}
			data, err := d.answer(m, &cache)
			if err == nil {
				err = m.Respond(data)
			}
			if err == nil && mux {
				if len(answered) >= syncBacklog {
					maps.DeleteFunc(answered, func(_ string, at time.Time) bool { return now.Sub(at) >= syncRepeat })
				}
				answered[asker] = now
			}
			if err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
				d.p.Logger().Warn("appnet: answering a membership sync failed", "err", err)
			}
		}
	}
}

// syncRepeat is how long a hub leaves an asker's further sync requests
// unanswered: an answer lost with a connection that went is sent again
// after it.
const syncRepeat = time.Second

// askerOf returns who asks with reply subject reply: all of it but the
// last token, when the token before the last is an identifier of
// muxIDLen or more characters, as in a request-reply mux's
// _INBOX.<id>.<request> (nats.go's and the nats CLI's: the asker, one
// connection, waits for any of its requests' answers); else it reports
// false, and the request is its own asker.
func askerOf(reply string) (string, bool) {
	i := strings.LastIndexByte(reply, '.')
	if i < 0 {
		return "", false
	}
	id := reply[strings.LastIndexByte(reply[:i], '.')+1 : i]
	return reply[:i], len(id) >= muxIDLen
}

// muxIDLen is the shortest token askerOf takes for a mux's identifier
// (nats.go's are 22 characters).
const muxIDLen = 16

// snapshotCache is a hub's view, this peer included, encoded for sync
// answers, as of a count of the view's changes.
type snapshotCache struct {
	mu    sync.Mutex
	count uint64
	at    time.Time
	data  []byte
}

// snapshotFresh is how long an encoded view serves while the view has not
// changed: the hub's own Info (its leaves, its values) changes without a
// change of the view.
const snapshotFresh = 100 * time.Millisecond

// get returns the view encoded, again only when it changed.
func (c *snapshotCache) get(d *Discoverer) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.data != nil && c.count == d.view.changes() && time.Since(c.at) < snapshotFresh {
		return c.data, nil
	}
	// {"members":[own, member, ...]}, as peer.MemberSnapshot encodes,
	// from the members' own encodings: a view of 200 members changes
	// with every join of a mass start, and was encoded whole each time.
	own, err := peer.Encode(d.ownInfo())
	if err != nil {
		return nil, err
	}
	data := append([]byte(`{"members":[`), own...)
	data, count, err := d.view.appendJSON(data)
	if err != nil {
		return nil, err
	}
	data = append(data, "]}"...)
	c.count, c.at, c.data = count, time.Now(), data
	return data, nil
}
