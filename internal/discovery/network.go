package discovery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/appnet-go/appnet/internal/peer"
	"github.com/nats-io/nats.go"
)

// AutoHubs is how many hubs a network elects when no peer is a hub by
// configuration (NET_IS_HUB): enough that one may die while the other
// carries the network until another is elected. Peers that start at the
// same instant may all become hubs; up to MaxAutoHubs of them stay hubs
// (a role change restarts a peer's server, which its callers and leaves
// feel), and the youngest of any more become leaves again.
const (
	AutoHubs    = 2
	MaxAutoHubs = 4
)

// Timing of the membership layer.
const (
	// hubTick and leafTick are how often a peer looks at its own
	// server's connections (in process: no traffic).
	hubTick  = 250 * time.Millisecond
	leafTick = 500 * time.Millisecond
	// leafIdleTick is leafTick for a leaf with nothing in motion (see
	// leafPace): the interest check, every interestEvery, needs no
	// more. Every wake-up of an idle process costs it a dozen context
	// switches, and the looks every 500 ms were a third of an idle
	// leaf's context switches (BENCHMARKS.md, fifteenth pass).
	leafIdleTick = interestEvery
	// leafCalm is how long a leaf looks every leafTick after a change of
	// its view or its start.
	leafCalm = 10 * time.Second
	// leafNewsTick is how often a leaf looks at its connection, for up to
	// leafNewsFor, after its server said a leaf node connection came or
	// went (embedded.Server.LeafNews), until it is attached over a new
	// one: after its hub went, the sooner it sees where it went, the
	// sooner it loads the view and says so.
	leafNewsTick = 100 * time.Millisecond
	leafNewsFor  = 3 * time.Second
	// suspectGrace is how long a hub waits after a peer's connection
	// went before it asks whether the peer still answers elsewhere; the
	// question is asked up to three times over 1.5 s (a leaf moving to
	// another hub takes a few hundred milliseconds; five times over 5.5 s
	// in a burst of changes, see answers), and not before the
	// peer has been a member for newcomerGrace (unless this hub saw its
	// connection go).
	suspectGrace = 100 * time.Millisecond
	// probeTimeout bounds that question; no responders answers at once.
	probeTimeout = 500 * time.Millisecond
	// newcomerGrace is how long after a peer joined (or updated) a hub
	// waits before it takes no answer from it for a failure.
	newcomerGrace = 3 * time.Second
	// settle is how long the topology loop lets a burst of changes run
	// before it looks at the view.
	settle = 20 * time.Millisecond
	// leafSettle is settle for a leaf, which only decides its role and
	// its hub from the view: once per 100 ms of a mass start's joins is
	// enough, not once per 20 ms.
	leafSettle = 100 * time.Millisecond
	// roleCalm is how long the view must want another role for a peer
	// before it changes (and how long it keeps a new one), so that views
	// can agree first.
	roleCalm = time.Second
)

// joinable reports whether a peer of cfg may join the network of the
// peer of h, or merge with it: a peer with a secret or TLS never hands its
// credentials to a server that does not demand them (it knows no secret).
func joinable(cfg peer.Config, h Hit) bool {
	guarded := cfg.Secret != "" || cfg.TLSCert != ""
	return h.Guarded || !guarded
}

// network is the membership and topology state of a Discoverer.
type network struct {
	subs       []*nats.Subscription
	syncSubs   []*nats.Subscription // while a hub: its own sync subject, and claims
	sharedSync *nats.Subscription   // while a hub that knows the network: the hubs' sync queue
	stop       chan struct{}
	done       chan struct{}

	// Kept by the loop goroutine only.
	leaves, routes map[string]bool       // the server's connections at the last look
	suspects       map[peer.ID]time.Time // peers to probe, and when
	sawGo          map[peer.ID]bool      // the suspects whose connection to this hub went
	movers         map[peer.ID]bool      // the suspects whose hub went (asked patiently)
	refugeesFrom   map[peer.ID]time.Time // hubs whose leaves came here, when their port was last checked
	roleSince      time.Time             // the last role change
	wantSince      time.Time             // since when the view has wanted another role
	hubsSeen       int                   // the most hubs the view has held at once
	attachedTo     string                // a leaf's hub, "" while detached
	leftHub        string                // the hub a detached leaf was attached to
	attachedConn   uint64                // its connection, which changes when the leaf reconnects
	announcedConn  uint64                // the connection over which it last announced itself
	announced      bool                  // Join told the network of this peer
	syncWait       time.Duration         // how long it waits for the view after attaching
	detachedAt     time.Time
	lastFetch      time.Time
	nextScan       time.Time
	scanEvery      time.Duration
	seenUnrouted   map[peer.ID]bool           // hubs of another network found by the last scan
	routeAdded     map[string]time.Time       // when each explicit route was added
	nextDigest     time.Time                  // a hub's next digest
	digestAgain    bool                       // the view changed: a second digest digestSoon after the next
	changesSeen    uint64                     // the view's change count at the last look
	resync         chan peer.ID               // a hub whose digests differ from the view
	outside        chan map[peer.ID]peer.Info // peers a Refresh found outside the network
	joinedAt       time.Time                  // when Join ran
	looking        atomic.Bool                // a detached leaf looks for hubs (lost.go)
	lostScan       time.Time                  // when it last scanned, kept by the look
	inbox          chan *nats.Msg             // every membership message, in order
	syncs          chan *nats.Msg             // the sync requests of the inbox, to answer
	synced         bool                       // a hub's view was loaded since Join (see sync.go)
	nextInterest   time.Time                  // a leaf's next check of its server's interest (interest.go)
	uninterested   map[peer.ID]bool           // the members it had no interest for at the last check
	reattach       reattachGate               // when a leaf may attach to its hub again (interest.go), shared with the goroutines that do
	spreadSeen     uint64                     // the view's change count at a leaf's last comparison of the hubs' loads (spread.go)
	spreadAt       time.Time                  // when it compares them again, the view unchanged
	spreadHubs     string                     // the hubs of the view at the last look (hubIDs)
	hubsSince      time.Time                  // since when they have been those
	moving         atomic.Bool                // it moves to another hub, off the loop
	told           map[peer.ID]time.Time      // members it told it does not hear them, and when
	toldAt         time.Time                  // when it last told members (at most once per toldWait)
	wasLive        map[string]bool            // the hubs' cluster URLs at the last look
	looked         look                       // what a leaf's last rebalance decided from
	claimChecked   map[peer.ID]time.Time      // leaves that named this hub and were not among its connections, when checked
	claimsSeen     uint64                     // the view's change count at the last walk for claims
	claimsAt       time.Time
	burstFrom      uint64    // the view's change count when the current window began (failure.go)
	burstAt        time.Time // when it began
	busyUntil      time.Time // a burst of changes was seen: probes are patient until then
	newsUntil      time.Time // a leaf looks every leafNewsTick until then (leafPace)
	newsConn       uint64    // or until attached over another connection than this one
}

// Join makes p a member of the network whose hubs are given (none: p is
// the network's first hub): it attaches p's server to them, loads the
// network's view from a hub, tells every peer that p joined, and keeps
// the view and the topology current until [Discoverer.Leave].
func (d *Discoverer) Join(ctx context.Context, hubs []peer.HubAddr) error {
	n := &d.net
	n.stop, n.done = make(chan struct{}), make(chan struct{})
	n.leaves, n.routes, n.suspects, n.seenUnrouted = map[string]bool{}, map[string]bool{}, map[peer.ID]time.Time{}, map[peer.ID]bool{}
	n.sawGo, n.claimChecked, n.told = map[peer.ID]bool{}, map[peer.ID]time.Time{}, map[peer.ID]time.Time{}
	n.movers, n.refugeesFrom = map[peer.ID]bool{}, map[peer.ID]time.Time{}
	n.routeAdded, n.wasLive = map[string]time.Time{}, map[string]bool{}
	n.resync = make(chan peer.ID, 1)
	n.outside = make(chan map[peer.ID]peer.Info, 1)
	n.nextDigest = time.Now().Add(digestEvery)
	n.roleSince, n.scanEvery, n.joinedAt = time.Now(), firstRescan, time.Now()
	n.nextScan = time.Now().Add(n.scanEvery)
	hubs = slices.DeleteFunc(slices.Clone(hubs), func(h peer.HubAddr) bool { return h.ID == d.p.ID() })
	d.knowsNetwork.Store(len(hubs) == 0) // it starts the network
	d.p.SetKnownHubs(hubs)
	if err := d.subscribe(); err != nil {
		return err
	}
	if len(hubs) > 0 {
		if err := d.attach(ctx, hubs); err != nil {
			return err
		}
	}
	// The view just loaded is no burst of changes (see noteBurst).
	n.burstFrom, n.burstAt = d.view.changes(), time.Now()
	d.p.OnChange(d.announceUpdate)
	d.p.OnUnheard(d.resendInterest)
	d.p.SetMembers(d.memberIDs)
	// The view attach loaded lacks this peer: applySnapshot leaves the
	// telling to this one join, and tells again only a network that lost
	// the peer since.
	d.announce(peer.MemberJoinSubject)
	n.announced = true
	d.checkIdentity()
	// Join returns once this peer's server holds the subscriptions made
	// above (the client sends them in the background): a sync request
	// sent to a new hub at once got "no responders". A flush that does
	// not come back (a server too busy, ctx ending) fails nothing: the
	// subscriptions are on their way.
	fctx, cancel := context.WithTimeout(ctx, flushWait)
	defer cancel()
	_ = d.p.Conn().FlushWithContext(fctx)
	go d.loop()
	return nil
}

// Follow keeps the view of a peer that is a client of another peer's
// server (peer.Attach) without making it a member: it loads the view from
// the hubs, applies the changes the network publishes, and loads it again
// when the hubs' digests say it is behind, until [Discoverer.Leave]. On a
// NATS deployment, where no hub answers, the view fills from the changes
// alone.
func (d *Discoverer) Follow(ctx context.Context) error {
	n := &d.net
	n.stop, n.done = make(chan struct{}), make(chan struct{})
	n.resync = make(chan peer.ID, 1)
	if err := d.subscribeChanges(); err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, time.Second)
	if snap, err := d.sync(sctx, peer.MemberSyncSubject, nil); err == nil {
		d.applySnapshot(snap)
	}
	cancel()
	go func() {
		defer close(n.done)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		for {
			select {
			case <-n.stop:
				return
			case <-n.resync:
				if snap, err := d.sync(ctx, peer.MemberSyncSubject, nil); err == nil {
					d.applySnapshot(snap)
				}
			}
		}
	}()
	return nil
}

// subscribe listens to every membership change, and, on a hub, answers
// for the view.
func (d *Discoverer) subscribe() error {
	if err := d.subscribeChanges(); err != nil {
		return err
	}
	go d.answerSyncs(d.net.syncs, d.net.stop) // a follower answers none
	return d.serveSync()
}

// flushWait bounds how long Join waits for its server to take the
// peer's subscriptions.
const flushWait = 2 * time.Second

// inboxSize bounds the membership messages waiting to be applied; beyond
// it NATS drops them, and the digests make up for it.
const inboxSize = 8192

// subscribeChanges subscribes to the membership changes, and starts the
// goroutine that applies them. Every membership message this peer gets,
// changes and sync requests alike, goes through one channel, filled in
// the order the server sent them: a hub answers a sync request with a
// view that holds every change it received before the request (its
// subscriptions' own goroutines would not keep that order).
func (d *Discoverer) subscribeChanges() error {
	n := &d.net
	n.inbox = make(chan *nats.Msg, inboxSize)
	n.syncs = make(chan *nats.Msg, syncBacklog)
	sub, err := d.p.Conn().ChanSubscribe(peer.MemberChanges, n.inbox)
	if err != nil {
		return fmt.Errorf("subscribing to membership: %w", err)
	}
	n.subs = append(n.subs, sub)
	go d.process(n.inbox, n.stop)
	return nil
}

// process applies the membership messages in the order they came, until
// stop.
func (d *Discoverer) process(inbox <-chan *nats.Msg, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case m := <-inbox:
			if strings.HasPrefix(m.Subject, peer.MemberSyncSubject) {
				d.queueSync(m)
			} else {
				d.onMember(m)
			}
		}
	}
}

// serveSync answers sync requests while this peer is a hub (any hub's,
// in their queue group, and its own) and claims to be a hub (claim.go),
// and stops when it is not: a leaf in the group would take requests (NATS
// prefers a local member) that only hubs can answer, and a leaf's own
// subject would be one more subscription every server of the network
// learns of. A hub joins the queue group only once it knows the network
// (it started it, or loaded the view), or after partialViewGrace: a
// hub's own leaves ask it first, and a hub that joined a network a moment
// ago holds a view of a few members. In 100-peer starts, leaves of the
// second hub loaded such a view, and waited for the digests (3.5 s after
// the last start) for the rest.
func (d *Discoverer) serveSync() error {
	n := &d.net
	if !d.isHub() {
		for _, sub := range append(n.syncSubs, n.sharedSync) {
			if sub != nil {
				_ = sub.Unsubscribe()
			}
		}
		n.syncSubs, n.sharedSync = nil, nil
		return nil
	}
	nc := d.p.Conn()
	if n.syncSubs == nil {
		own, err := nc.ChanSubscribe(peer.MemberSyncSubject+"."+string(d.p.ID()), n.inbox)
		if err != nil {
			return fmt.Errorf("subscribing to membership sync: %w", err)
		}
		claims, err := nc.Subscribe(peer.HubClaimSubject, d.answerClaim)
		if err != nil {
			_ = own.Unsubscribe()
			return fmt.Errorf("subscribing to hub claims: %w", err)
		}
		n.syncSubs = []*nats.Subscription{own, claims}
	}
	if n.sharedSync == nil && (d.knowsNetwork.Load() || time.Since(n.joinedAt) > partialViewGrace) {
		shared, err := nc.ChanQueueSubscribe(peer.MemberSyncSubject, peer.HubQueue, n.inbox)
		if err != nil {
			return fmt.Errorf("subscribing to membership sync: %w", err)
		}
		n.sharedSync = shared
	}
	return nil
}

// partialViewGrace is how long a hub that has not loaded the network's
// view waits before it answers the hubs' sync requests with its own.
const partialViewGrace = 10 * time.Second

// attach connects p's server to the hubs (a leaf's leaf node connection,
// a hub's routes) and loads the view from one of them.
func (d *Discoverer) attach(ctx context.Context, hubs []peer.HubAddr) error {
	srv := d.p.Server()
	subject := peer.MemberSyncSubject
	if srv.Hub() {
		var urls []string
		for _, h := range hubs {
			if dialable(d.p.Config(), h.Cluster) {
				urls = append(urls, h.Cluster)
			}
		}
		now := time.Now()
		for _, u := range urls {
			d.net.routeAdded[u], d.net.wasLive[u] = now, true
		}
		if err := srv.AddRoutes(urls...); err != nil {
			return err
		}
		subject += "." + string(hubs[0].ID)
		// The view comes from one hub, but what this hub sends must reach
		// every peer of it: wait (a little) for the routes to all of them.
		awaitRoutes(ctx, srv, hubs)
	} else {
		var urls []string
		for _, h := range hubs {
			if dialable(d.p.Config(), h.Leaf) {
				urls = append(urls, h.Leaf)
			}
		}
		if err := srv.SetHubs(urls); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	snap, err := d.sync(ctx, subject, nil)
	if !srv.Hub() {
		// The view below is this connection's: no second load for it.
		d.net.attachedTo, d.net.attachedConn = srv.Attachment()
	}
	if err != nil {
		// The network will tell us of changes, and the loop asks again
		// for the view (a leaf at its next look at its connection).
		d.p.Logger().Debug("appnet: joined the network; its view comes later", "err", err)
		d.net.attachedConn = 0
		return nil
	}
	d.applySnapshot(snap)
	return nil
}

// onMember applies a membership change heard on the network.
func (d *Discoverer) onMember(m *nats.Msg) {
	switch m.Subject {
	case peer.MemberJoinSubject, peer.MemberUpdateSubject:
		info, err := peer.Decode[peer.Info](m.Data)
		if err != nil || checkInfo(info) != nil {
			d.warnBadMember(m.Subject, err)
			return
		}
		d.p.Caller.Back(info.ID)
		if d.view.join(info) {
			d.refreshHubs()
		}
		d.claimJoined(info.ID) // once the view counts it
	case peer.MemberDigestSubject:
		dg, err := peer.Decode[peer.MemberDigest](m.Data)
		if err != nil || dg.Hub == d.p.ID() {
			return
		}
		d.compareDigest(dg)
	case peer.MemberLeaveSubject, peer.MemberFailSubject:
		gone, err := peer.Decode[peer.MemberGone](m.Data)
		if err != nil {
			d.warnBadMember(m.Subject, err)
			return
		}
		if gone.ID == d.p.ID() {
			if m.Subject == peer.MemberFailSubject {
				// A hub took us for dead (we were moving between hubs):
				// say we are here.
				d.announce(peer.MemberJoinSubject)
			}
			return
		}
		d.p.Caller.Gone(gone.ID)
		kind := Left
		if m.Subject == peer.MemberFailSubject {
			kind = Failed
		}
		if d.view.remove(gone.ID, kind) {
			d.refreshHubs()
		}
	}
}

// checkInfo refuses an Info whose ID does not say what it does.
func checkInfo(info peer.Info) error {
	if !consistent(info) {
		return fmt.Errorf("info of %s names %s:%d in %s", info.ID, info.Host, info.Port, info.Group)
	}
	return nil
}

// warnBadMember notes a membership message that does not decode, once a
// minute at most: anyone can publish on the subject.
func (d *Discoverer) warnBadMember(subject string, err error) {
	d.warnMu.Lock()
	defer d.warnMu.Unlock()
	if time.Since(d.badMemberAt) < time.Minute {
		return
	}
	d.badMemberAt = time.Now()
	d.p.Logger().Warn("appnet: a membership message was refused (more in the next minute are not logged)", "subject", subject, "err", err)
}

// announce publishes this peer's Info on subject.
func (d *Discoverer) announce(subject string) {
	data, err := peer.Encode(d.p.Info())
	if err == nil {
		err = d.p.Conn().Publish(subject, data)
	}
	if err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		d.p.Logger().Warn("appnet: announcing this peer failed", "subject", subject, "err", err)
	}
}

func (d *Discoverer) announceUpdate() { d.announce(peer.MemberUpdateSubject) }

// publishGone tells the network that id left or failed.
func (d *Discoverer) publishGone(subject string, gone peer.MemberGone) {
	data, _ := peer.Encode(gone)
	if err := d.p.Conn().Publish(subject, data); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		d.p.Logger().Warn("appnet: publishing a membership change failed", "subject", subject, "err", err)
	}
}

// Leave tells the network that this peer is closing, and stops keeping
// the view. Every peer drops it from its view at once.
func (d *Discoverer) Leave() {
	n := &d.net
	if n.stop == nil {
		return
	}
	select {
	case <-n.stop:
		return
	default:
	}
	close(n.stop)
	<-n.done
	if d.p.Server() == nil {
		for _, s := range n.subs {
			_ = s.Unsubscribe()
		}
		return // a follower was never a member
	}
	d.sayGoodbye()
	for _, s := range append(append(n.subs, n.syncSubs...), n.sharedSync) {
		if s != nil {
			_ = s.Unsubscribe()
		}
	}
}

// loop keeps the topology and the failure detection going until Leave.
func (d *Discoverer) loop() {
	n := &d.net
	defer close(n.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-n.stop; cancel() }()
	for {
		tick, wait, changed := hubTick, settle, d.view.wait()
		var news <-chan struct{}
		if !d.isHub() {
			tick, wait, changed = d.leafPace(time.Now()), leafSettle, d.view.waitReshaped()
			news = d.p.Server().LeafNews()
		}
		select {
		case <-n.stop:
			return
		case <-time.After(tick):
		case <-news:
			n.newsUntil, n.newsConn = time.Now().Add(leafNewsFor), n.attachedConn
		case <-changed:
			// Changes come in bursts (a mass start, a hub's leaves moving):
			// look once at the end of one, not once per change.
			select {
			case <-n.stop:
				return
			case <-time.After(wait):
			}
		case hub := <-n.resync:
			d.resyncFrom(ctx, hub)
		case found := <-n.outside:
			if d.isHub() {
				d.routeOutside(found)
			}
		}
		if count := d.view.changes(); count != n.changesSeen {
			n.noteBurst(count)
			n.changesSeen = count
			n.digestAgain = true
			if soon := time.Now().Add(digestSoon); soon.Before(n.nextDigest) {
				n.nextDigest = soon
			}
		}
		if d.isHub() {
			if n.sharedSync == nil {
				_ = d.serveSync() // it knows the network now, or waited long enough
			}
			d.watchHubConnections(ctx)
			d.checkSuspects(ctx)
			d.rescanIfDue(ctx)
			d.publishDigest()
		} else {
			d.watchLeafConnection(ctx)
			d.checkInterest()
			d.spread()
		}
		d.rebalance(ctx)
	}
}

// leafPace returns how long a leaf's loop waits for a change before it
// looks again: leafNewsTick while its connection to a hub changes,
// leafTick while it is detached, its view unloaded, or anything of it in
// motion, and leafIdleTick once all is still.
func (d *Discoverer) leafPace(now time.Time) time.Duration {
	n := &d.net
	switch {
	case now.Before(n.newsUntil) && (n.attachedConn == 0 || n.attachedConn == n.newsConn):
		return leafNewsTick
	case n.attachedConn == 0 || !n.synced || !n.wantSince.IsZero() || n.moving.Load() || len(n.uninterested) > 0,
		now.Sub(d.view.lastChange()) < leafCalm, now.Sub(n.joinedAt) < leafCalm:
		return leafTick
	}
	return leafIdleTick
}

// awaitRoutes waits up to two seconds until srv has routes to the hubs.
func awaitRoutes(ctx context.Context, srv interface{ RemoteNames() []string }, hubs []peer.HubAddr) {
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		routed := setOf(srv.RemoteNames())
		if !slices.ContainsFunc(hubs, func(h peer.HubAddr) bool { return h.Cluster != "" && !routed[string(h.ID)] }) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sayGoodbye publishes this peer's leave so that it reaches the network
// before the server goes: a leaf waits (up to a second) to be attached,
// and a round trip through a hub proves the message got past it.
func (d *Discoverer) sayGoodbye() {
	deadline := time.Now().Add(time.Second)
	srv := d.p.Server()
	hub := ""
	for {
		if srv.Hub() {
			for _, h := range d.hubs() {
				if h.ID != d.p.ID() {
					hub = string(h.ID)
					break
				}
			}
			break
		}
		if hub, _ = srv.Attachment(); hub != "" || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	d.publishGone(peer.MemberLeaveSubject, peer.MemberGone{ID: d.p.ID()})
	if hub == "" {
		_ = d.p.Conn().FlushTimeout(time.Second)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, _ = d.p.Caller.Request(ctx, peer.CallSubject(peer.ID(hub), peer.ConnNull), nil)
}

// ownInfo is this peer's Info for the snapshots it answers: computed at
// most every 100 ms, since a hub with many leaves answers many syncs at
// once and its Info lists its connections.
func (d *Discoverer) ownInfo() peer.Info {
	d.ownMu.Lock()
	defer d.ownMu.Unlock()
	if time.Since(d.ownAt) > 100*time.Millisecond {
		d.own, d.ownAt = d.p.Info(), time.Now()
	}
	return d.own
}

// memberIDs names the members of the view that run a server (what Sync
// waits for).
func (d *Discoverer) memberIDs() []string {
	var ids []string
	for id, info := range d.view.snapshot() {
		if info.Role == peer.RoleHub || info.Role == peer.RoleLeaf {
			ids = append(ids, string(id))
		}
	}
	return ids
}
