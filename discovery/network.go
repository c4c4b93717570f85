package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/appnet-go/appnet/peer"
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
	// suspectGrace is how long a hub waits after a peer's connection
	// went before it asks whether the peer still answers elsewhere; the
	// question is asked twice, probeTimeout apart (a leaf moving to
	// another hub takes a few hundred milliseconds).
	suspectGrace = 100 * time.Millisecond
	// probeTimeout bounds that question; no responders answers at once.
	probeTimeout = 500 * time.Millisecond
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
	subs    []*nats.Subscription
	syncSub *nats.Subscription // while a hub
	stop    chan struct{}
	done    chan struct{}

	// Kept by the loop goroutine only.
	leaves, routes map[string]bool       // the server's connections at the last look
	suspects       map[peer.ID]time.Time // peers to probe, and when
	roleSince      time.Time             // the last role change
	wantSince      time.Time             // since when the view has wanted another role
	attachedTo     string                // a leaf's hub, "" while detached
	attachedConn   uint64                // its connection, which changes when the leaf reconnects
	detachedAt     time.Time
	lastFetch      time.Time
	nextScan       time.Time
	scanEvery      time.Duration
	seenUnrouted   map[peer.ID]bool     // hubs of another network found by the last scan
	routeAdded     map[string]time.Time // when each explicit route was added
	nextDigest     time.Time            // a hub's next digest
	changesSeen    uint64               // the view's change count at the last look
	resync         chan peer.ID         // a hub whose digests differ from the view
	wasLive        map[string]bool      // the hubs' cluster URLs at the last look
}

// Join makes p a member of the network whose hubs are given (none: p is
// the network's first hub): it attaches p's server to them, loads the
// network's view from a hub, tells every peer that p joined, and keeps
// the view and the topology current until [Discoverer.Leave].
func (d *Discoverer) Join(ctx context.Context, hubs []peer.HubAddr) error {
	n := &d.net
	n.stop, n.done = make(chan struct{}), make(chan struct{})
	n.leaves, n.routes, n.suspects, n.seenUnrouted = map[string]bool{}, map[string]bool{}, map[peer.ID]time.Time{}, map[peer.ID]bool{}
	n.routeAdded, n.wasLive = map[string]time.Time{}, map[string]bool{}
	n.resync = make(chan peer.ID, 1)
	n.nextDigest = time.Now().Add(digestEvery)
	n.roleSince, n.scanEvery = time.Now(), 50*time.Millisecond
	n.nextScan = time.Now().Add(n.scanEvery)
	hubs = slices.DeleteFunc(slices.Clone(hubs), func(h peer.HubAddr) bool { return h.ID == d.p.ID() })
	d.p.SetKnownHubs(hubs)
	if err := d.subscribe(); err != nil {
		return err
	}
	if len(hubs) > 0 {
		if err := d.attach(ctx, hubs); err != nil {
			return err
		}
	}
	d.p.OnChange(d.announceUpdate)
	d.announce(peer.MemberJoinSubject)
	d.checkIdentity()
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
	sub, err := d.p.Conn().Subscribe(peer.MemberSubjects, d.onMember)
	if err != nil {
		return fmt.Errorf("subscribing to membership: %w", err)
	}
	n.subs = append(n.subs, sub)
	sctx, cancel := context.WithTimeout(ctx, time.Second)
	if snap, err := d.sync(sctx, peer.MemberSyncSubject); err == nil {
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
				if snap, err := d.sync(ctx, peer.MemberSyncSubject); err == nil {
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
	nc := d.p.Conn()
	sub, err := nc.Subscribe(peer.MemberSubjects, d.onMember)
	if err != nil {
		return fmt.Errorf("subscribing to membership: %w", err)
	}
	d.net.subs = append(d.net.subs, sub)
	sub, err = nc.Subscribe(peer.MemberSyncSubject+"."+string(d.p.ID()), d.onSync)
	if err != nil {
		return fmt.Errorf("subscribing to membership sync: %w", err)
	}
	d.net.subs = append(d.net.subs, sub)
	return d.serveSync()
}

// serveSync joins the hubs' queue group of sync requests while this peer
// is a hub, and leaves it when it is not: a leaf in the group would take
// requests (NATS prefers a local member) that only hubs can answer.
func (d *Discoverer) serveSync() error {
	n := &d.net
	switch hub := d.isHub(); {
	case hub && n.syncSub == nil:
		sub, err := d.p.Conn().QueueSubscribe(peer.MemberSyncSubject, peer.HubQueue, d.onSync)
		if err != nil {
			return fmt.Errorf("subscribing to membership sync: %w", err)
		}
		n.syncSub = sub
	case !hub && n.syncSub != nil:
		_ = n.syncSub.Unsubscribe()
		n.syncSub = nil
	}
	return nil
}

// attach connects p's server to the hubs (a leaf's leaf node connection,
// a hub's routes) and loads the view from one of them.
func (d *Discoverer) attach(ctx context.Context, hubs []peer.HubAddr) error {
	srv := d.p.Server()
	subject := peer.MemberSyncSubject
	if srv.Hub() {
		var urls []string
		for _, h := range hubs {
			if h.Cluster != "" {
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
	} else {
		var urls []string
		for _, h := range hubs {
			if h.Leaf != "" {
				urls = append(urls, h.Leaf)
			}
		}
		if err := srv.SetHubs(urls); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	snap, err := d.sync(ctx, subject)
	if !srv.Hub() {
		// The view below is this connection's: no second load for it.
		d.net.attachedTo, d.net.attachedConn = srv.Attachment()
	}
	if err != nil {
		// The network will tell us of changes; the view fills as they
		// come and at the next resync.
		d.p.Logger().Warn("appnet: joined the network without its view", "err", err)
		return nil
	}
	d.applySnapshot(snap)
	return nil
}

// sync asks subject for a hub's view until one answers or ctx ends: until
// the connection to the hubs is up, nobody answers at once.
func (d *Discoverer) sync(ctx context.Context, subject string) (peer.MemberSnapshot, error) {
	// The first request through a connection just made can go unanswered
	// (the way back is not known yet): ask again soon, then less often.
	wait := 20 * time.Millisecond
	for {
		asked := time.Now()
		rctx, cancel := context.WithTimeout(ctx, wait)
		wait = min(2*wait, 500*time.Millisecond)
		m, err := d.p.Conn().RequestWithContext(rctx, subject, nil)
		cancel()
		if err == nil {
			snap, err := peer.Decode[peer.MemberSnapshot](m.Data)
			snap.Asked = asked
			return snap, err
		}
		select {
		case <-ctx.Done():
			return peer.MemberSnapshot{}, fmt.Errorf("asking the hubs for the view: %w", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// applySnapshot makes a hub's view this peer's, as changes.
func (d *Discoverer) applySnapshot(snap peer.MemberSnapshot) {
	members := make(map[peer.ID]peer.Info, len(snap.Members))
	self := false
	for _, info := range snap.Members {
		if info.ID == d.p.ID() {
			self = true
			continue
		}
		members[info.ID] = info
	}
	d.view.replace(members, snap.Asked)
	d.refreshHubs()
	if !self && d.net.stop != nil && d.p.Server() != nil {
		// The network lost us while we were away (or never heard of us).
		d.announce(peer.MemberJoinSubject)
	}
}

// onSync answers a sync request with the whole view, this peer included,
// while the peer is a hub.
func (d *Discoverer) onSync(m *nats.Msg) {
	if m.Reply == "" || !d.isHub() {
		return
	}
	snap := peer.MemberSnapshot{Members: []peer.Info{d.p.Info()}}
	for _, info := range d.view.snapshot() {
		snap.Members = append(snap.Members, info)
	}
	data, err := peer.Encode(snap)
	if err == nil {
		err = m.Respond(data)
	}
	if err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		d.p.Logger().Warn("appnet: answering a membership sync failed", "err", err)
	}
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
		if d.view.join(info) {
			d.refreshHubs()
		}
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
		kind := Left
		if m.Subject == peer.MemberFailSubject {
			kind = Failed
		}
		if d.view.remove(gone.ID, kind) {
			d.refreshHubs()
		}
	}
}

// A hub publishes its view's digest every digestEvery, and digestSoon
// after its view changed, so that a peer that missed a change catches up
// within a few seconds of it, not at the next idle digest.
const (
	digestEvery = 5 * time.Second
	digestSoon  = time.Second
)

// compareDigest counts the digests of a hub that differ from this peer's
// view; at the second in a row it asks the loop to load the view again.
func (d *Discoverer) compareDigest(dg peer.MemberDigest) {
	var self *peer.Info
	if d.p.Server() != nil {
		info := d.p.Info()
		self = &info
	}
	n, sum := digest(self, d.view.snapshot())
	d.digestMu.Lock()
	defer d.digestMu.Unlock()
	if n == dg.Peers && sum == dg.Sum {
		delete(d.digestMiss, dg.Hub)
		return
	}
	d.digestMiss[dg.Hub]++
	if d.digestMiss[dg.Hub] >= 2 {
		delete(d.digestMiss, dg.Hub)
		select {
		case d.net.resync <- dg.Hub:
		default:
		}
	}
}

// publishDigest sends this hub's digest, when it is due.
func (d *Discoverer) publishDigest() {
	n := &d.net
	if time.Now().Before(n.nextDigest) {
		return
	}
	n.nextDigest = time.Now().Add(digestEvery)
	// Members without a server of their own (foreign programs, clients
	// of a peer's server) have no connection a hub sees go: they are
	// asked whether they still answer at every digest.
	for id, info := range d.view.snapshot() {
		if info.Role != peer.RoleHub && info.Role != peer.RoleLeaf {
			if _, due := n.suspects[id]; !due {
				n.suspects[id] = time.Now()
			}
		}
	}
	self := d.p.Info()
	count, sum := digest(&self, d.view.snapshot())
	if data, err := peer.Encode(peer.MemberDigest{Hub: d.p.ID(), Peers: count, Sum: sum}); err == nil {
		_ = d.p.Conn().Publish(peer.MemberDigestSubject, data)
	}
}

// resyncFrom loads the view again after digests disagreed: a leaf takes
// its hub's view; a hub adds what the other hub knows and it does not,
// and probes what it knows and the other does not.
func (d *Discoverer) resyncFrom(ctx context.Context, hub peer.ID) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if !d.isHub() {
		if snap, err := d.sync(ctx, peer.MemberSyncSubject); err == nil {
			d.applySnapshot(snap)
		}
		return
	}
	snap, err := d.sync(ctx, peer.MemberSyncSubject+"."+string(hub))
	if err != nil {
		return
	}
	theirs := map[peer.ID]bool{}
	for _, info := range snap.Members {
		theirs[info.ID] = true
		if info.ID != d.p.ID() {
			d.view.join(info)
		}
	}
	for id := range d.view.snapshot() {
		if !theirs[id] {
			d.net.suspects[id] = time.Now()
		}
	}
	d.refreshHubs()
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
	d.publishGone(peer.MemberLeaveSubject, peer.MemberGone{ID: d.p.ID()})
	_ = d.p.Conn().FlushTimeout(time.Second)
	for _, s := range append(n.subs, n.syncSub) {
		if s != nil {
			_ = s.Unsubscribe()
		}
	}
}

// isHub reports whether this peer's server is a hub now.
func (d *Discoverer) isHub() bool {
	srv := d.p.Server()
	return srv != nil && srv.Hub()
}

// hubs returns the hubs of the view, this peer included when it is one,
// oldest first.
func (d *Discoverer) hubs() []peer.Info {
	var out []peer.Info
	for _, info := range d.view.snapshot() {
		if info.Role == peer.RoleHub {
			out = append(out, info)
		}
	}
	if d.isHub() {
		out = append(out, d.selfRef())
	}
	slices.SortFunc(out, byAge)
	return out
}

// selfRef is what the topology needs of this peer's own Info, cheaply.
func (d *Discoverer) selfRef() peer.Info {
	h := d.p.HubAddr()
	role := peer.RoleLeaf
	if d.isHub() {
		role = peer.RoleHub
	}
	return peer.Info{ID: d.p.ID(), Started: d.p.Started(), FriendlyID: peer.FriendlyID{Hub: d.p.Config().Hub},
		Role: role, Cluster: h.Cluster, Leaf: h.Leaf}
}

// byAge orders peers oldest first, ties broken by ID.
func byAge(a, b peer.Info) int {
	if older(a, b) {
		return -1
	}
	if older(b, a) {
		return 1
	}
	return 0
}

// refreshHubs tells the peer the hubs of its view, for its Info.
func (d *Discoverer) refreshHubs() {
	var addrs []peer.HubAddr
	for _, h := range d.hubs() {
		addrs = append(addrs, peer.HubAddr{ID: h.ID, Cluster: h.Cluster, Leaf: h.Leaf, Fixed: h.Hub})
	}
	d.p.SetKnownHubs(addrs)
}

// loop keeps the topology and the failure detection going until Leave.
func (d *Discoverer) loop() {
	n := &d.net
	defer close(n.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-n.stop; cancel() }()
	for {
		tick := leafTick
		if d.isHub() {
			tick = hubTick
		}
		select {
		case <-n.stop:
			return
		case <-time.After(tick):
		case <-d.view.wait():
		case hub := <-n.resync:
			d.resyncFrom(ctx, hub)
		}
		if count := d.view.changes(); count != n.changesSeen {
			n.changesSeen = count
			if soon := time.Now().Add(digestSoon); soon.Before(n.nextDigest) {
				n.nextDigest = soon
			}
		}
		if d.isHub() {
			d.watchHubConnections(ctx)
			d.checkSuspects(ctx)
			d.rescanIfDue(ctx)
			d.publishDigest()
		} else {
			d.watchLeafConnection(ctx)
		}
		d.rebalance(ctx)
	}
}

// watchHubConnections notes the leaves and routes that went (suspects, to
// probe after a grace period) and the hubs newly routed that the view
// does not know (a network merged with ours: exchange views).
func (d *Discoverer) watchHubConnections(ctx context.Context) {
	n := &d.net
	srv := d.p.Server()
	now := time.Now()
	leaves := setOf(srv.Leaves())
	routes := setOf(srv.RemoteNames())
	for name := range n.leaves {
		if !leaves[name] {
			n.suspects[peer.ID(name)] = now.Add(suspectGrace)
		}
	}
	for name := range n.routes {
		if routes[name] {
			continue
		}
		// A hub went: its leaves move to other hubs, or went with it.
		n.suspects[peer.ID(name)] = now.Add(suspectGrace)
		for id, info := range d.view.snapshot() {
			if info.Role == peer.RoleLeaf && !leaves[string(id)] {
				n.suspects[id] = now.Add(time.Second) // its leaves move to another hub first
			}
		}
	}
	for name := range routes {
		if !n.routes[name] {
			if _, known := d.view.get(peer.ID(name)); !known {
				go d.merge(ctx, peer.ID(name))
			}
		}
	}
	n.leaves, n.routes = leaves, routes
}

func setOf(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// merge loads the view of hub, newly routed from another network, and
// tells this side of the network about the peers it did not know.
func (d *Discoverer) merge(ctx context.Context, hub peer.ID) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	snap, err := d.sync(ctx, peer.MemberSyncSubject+"."+string(hub))
	if err != nil {
		d.p.Logger().Debug("appnet: merging with another network: no view from its hub", "hub", hub, "err", err)
		return
	}
	for _, info := range snap.Members {
		if _, known := d.view.get(info.ID); known || info.ID == d.p.ID() {
			continue
		}
		if data, err := peer.Encode(info); err == nil {
			_ = d.p.Conn().Publish(peer.MemberJoinSubject, data)
		}
	}
}

// checkSuspects probes the suspects whose grace period is over: a peer
// that nobody serves is reported failed to the whole network.
func (d *Discoverer) checkSuspects(ctx context.Context) {
	n := &d.net
	now := time.Now()
	var due []peer.ID
	for id, at := range n.suspects {
		if now.After(at) {
			due = append(due, id)
			delete(n.suspects, id)
		}
	}
	if len(due) == 0 {
		return
	}
	go func() {
		limit := make(chan struct{}, 16)
		var wg sync.WaitGroup
		for _, id := range due {
			if _, known := d.view.get(id); !known {
				continue // left, or already reported
			}
			wg.Go(func() {
				limit <- struct{}{}
				defer func() { <-limit }()
				if !d.answers(ctx, id) && ctx.Err() == nil {
					d.view.remove(id, Failed)
					d.refreshHubs()
					d.publishGone(peer.MemberFailSubject, peer.MemberGone{ID: id, By: d.p.ID()})
				}
			})
		}
		wg.Wait()
	}()
}

// answers reports whether id answers a call through the network, asking
// twice: a peer moving to another hub, or restarting its server for a
// new role, is away for a moment.
func (d *Discoverer) answers(ctx context.Context, id peer.ID) bool {
	for try := range 2 {
		if try > 0 {
			select {
			case <-ctx.Done():
				return false
			case <-time.After(probeTimeout):
			}
		}
		rctx, cancel := context.WithTimeout(ctx, probeTimeout)
		_, err := d.p.Conn().RequestWithContext(rctx, peer.CallSubject(id, peer.ConnInfo), nil)
		cancel()
		if err == nil {
			return true
		}
	}
	return false
}

// watchLeafConnection follows a leaf's connection to its hub: after every
// (re)attachment it loads the view again, since it heard nothing while
// away; when detached for long, it asks the peers that should be hubs
// directly, so that it finds hubs elected while it could hear nothing.
func (d *Discoverer) watchLeafConnection(ctx context.Context) {
	n := &d.net
	hub, conn := d.p.Server().Attachment()
	switch {
	case conn != 0 && conn != n.attachedConn:
		n.attachedTo, n.attachedConn = hub, conn
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		snap, err := d.sync(sctx, peer.MemberSyncSubject)
		cancel()
		if err == nil {
			d.applySnapshot(snap)
		} else {
			n.attachedConn = 0 // try again at the next look
		}
	case conn == 0 && n.attachedTo != "":
		n.attachedTo, n.attachedConn, n.detachedAt = "", 0, time.Now()
	case conn == 0 && time.Since(n.detachedAt) > time.Second && time.Since(n.lastFetch) > time.Second:
		n.lastFetch = time.Now()
		d.askElected(ctx)
	}
}

// askElected asks the peers that the view says should be hubs for their
// info directly, over their own servers.
func (d *Discoverer) askElected(ctx context.Context) {
	opts := d.p.ClientOptions()
	for _, info := range d.elected() {
		if info.ID == d.p.ID() {
			continue
		}
		got, err := FetchInfo(ctx, Hit{Host: info.Host, Port: info.Port, ID: info.ID}, 4*d.p.Config().ScanTimeout, opts...)
		if err == nil {
			d.view.join(got)
			d.refreshHubs()
		}
	}
}

// elected returns the peers that should be hubs by the view: the hubs by
// configuration, and the elected hubs alive, oldest first, up to
// MaxAutoHubs in all (an elected hub that saw a hub by configuration come
// stays one: a role change restarts the server, which its clients and
// leaves would feel, for no gain); and, when there is no hub by
// configuration and fewer than AutoHubs, the oldest of the rest to make up
// the number.
func (d *Discoverer) elected() []peer.Info {
	all := []peer.Info{d.selfRef()}
	for _, info := range d.view.snapshot() {
		all = append(all, info)
	}
	slices.SortFunc(all, byAge)
	var fixed, auto, rest []peer.Info
	for _, info := range all {
		switch {
		case info.Hub && info.Role == peer.RoleHub:
			fixed = append(fixed, info)
		case info.Role == peer.RoleHub:
			auto = append(auto, info)
		case !info.Hub:
			rest = append(rest, info)
		}
	}
	hubs := append(fixed, auto[:min(len(auto), max(0, MaxAutoHubs-len(fixed)))]...)
	if len(fixed) > 0 || len(hubs) >= AutoHubs {
		return hubs
	}
	return append(hubs, rest[:min(len(rest), AutoHubs-len(hubs))]...)
}

// rebalance makes this peer's role and attachments match the view: it
// becomes a hub when elected and demotes itself when not; a leaf points
// at the hubs of the view; a hub routes to them.
func (d *Discoverer) rebalance(ctx context.Context) {
	n := &d.net
	cfg := d.p.Config()
	if cfg.External() {
		return
	}
	elected := d.elected()
	want := cfg.Hub || slices.ContainsFunc(elected, func(i peer.Info) bool { return i.ID == d.p.ID() })
	// A change of role waits until the view has wanted it for roleCalm
	// without a break: views agree again within milliseconds of most
	// changes, and a role change restarts the peer's server.
	if want == d.isHub() {
		n.wantSince = time.Time{}
	} else if n.wantSince.IsZero() {
		n.wantSince = time.Now()
	}
	if want != d.isHub() && time.Since(n.wantSince) > roleCalm && time.Since(n.roleSince) > roleCalm {
		n.roleSince, n.wantSince = time.Now(), time.Time{}
		if err := d.p.SetRole(ctx, want); err != nil {
			return
		}
		d.p.Logger().Info("appnet: this peer's server changed role, as the network's hubs changed", "hub", want)
		n.leaves, n.routes, n.attachedTo, n.attachedConn = map[string]bool{}, map[string]bool{}, "", 0
		if err := d.serveSync(); err != nil {
			d.p.Logger().Warn("appnet: after a role change", "err", err)
		}
		d.refreshHubs()
		d.connect()
		// Tell the network once it can hear: after the first route or
		// the leaf node connection is up, which the sync proves.
		sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		snap, err := d.sync(sctx, d.syncSubject())
		cancel()
		if err == nil {
			d.applySnapshot(snap)
		}
		d.announceUpdate()
		return
	}
	d.connect()
}

// syncSubject is where this peer asks for the view: any hub for a leaf
// (its own answers first), another hub for a hub.
func (d *Discoverer) syncSubject() string {
	if !d.isHub() {
		return peer.MemberSyncSubject
	}
	for _, h := range d.hubs() {
		if h.ID != d.p.ID() {
			return peer.MemberSyncSubject + "." + string(h.ID)
		}
	}
	return peer.MemberSyncSubject + "." + string(d.p.ID())
}

// connect routes a hub to the hubs of the view older than itself (the
// oldest hub to the next one: NATS gossip completes the mesh; a route
// dialled from both ends at once would be closed as a duplicate), and
// points a leaf at every hub; explicit routes to hubs that have gone are
// dropped.
func (d *Discoverer) connect() {
	n := &d.net
	srv := d.p.Server()
	hubs := d.hubs()
	self := d.selfRef()
	var urls, others []string
	for _, h := range hubs {
		switch {
		case h.ID == d.p.ID():
		case srv.Hub() && h.Cluster != "":
			others = append(others, h.Cluster)
			if older(h, self) {
				urls = append(urls, h.Cluster)
			}
		case !srv.Hub() && h.Leaf != "":
			urls = append(urls, h.Leaf)
		}
	}
	if !srv.Hub() {
		if len(urls) > 0 {
			if err := srv.SetHubs(urls); err != nil {
				d.p.Logger().Warn("appnet: attaching to the hubs failed", "err", err)
			}
		}
		return
	}
	if len(urls) == 0 && len(others) > 0 {
		urls = others[:1]
	}
	now := time.Now()
	for _, u := range urls {
		if _, ok := n.routeAdded[u]; !ok {
			n.routeAdded[u] = now
		}
	}
	if err := srv.AddRoutes(urls...); err != nil {
		d.p.Logger().Warn("appnet: routing to the hubs failed", "err", err)
	}
	d.dropStaleRoutes(hubs)
}

// dropStaleRoutes removes the explicit routes to hubs that are no longer
// in the view (they left or failed), which NATS would otherwise dial
// forever. A route added in the last moments to a hub the view never knew
// is kept: it may lead to a network being merged, whose hubs the view
// learns only once it is up.
func (d *Discoverer) dropStaleRoutes(hubs []peer.Info) {
	n := &d.net
	live := map[string]bool{}
	for _, h := range hubs {
		live[h.Cluster] = true
	}
	var stale []string
	for _, r := range d.p.Server().Routes() {
		if !live[r] && (n.wasLive[r] || time.Since(n.routeAdded[r]) > staleRouteAfter) {
			stale = append(stale, r)
			delete(n.routeAdded, r)
		}
	}
	n.wasLive = live
	if len(stale) > 0 {
		if err := d.p.Server().RemoveRoutes(stale...); err != nil {
			d.p.Logger().Warn("appnet: dropping routes to hubs that went failed", "err", err)
		}
	}
}

// staleRouteAfter is how long an explicit route to a hub the view does not
// know is kept.
const staleRouteAfter = 10 * time.Second

// rescanIfDue has a hub look for peers that are not in its network, on
// its host and the hosts of NET_SCAN: often just after it starts alone
// (peers that start together miss each other), then every
// NET_SCAN_INTERVAL. A peer of another network found is merged: this hub
// routes to that network's hubs.
func (d *Discoverer) rescanIfDue(ctx context.Context) {
	n := &d.net
	cfg := d.p.Config()
	if cfg.ScanInterval <= 0 || time.Now().Before(n.nextScan) {
		return
	}
	n.scanEvery = min(n.scanEvery*2, cfg.ScanInterval)
	n.nextScan = time.Now().Add(n.scanEvery)
	found, err := d.scanUnknown(ctx, cfg.Scan == "")
	if err != nil {
		if ctx.Err() == nil {
			d.p.Logger().Debug("appnet: rescan failed", "err", err)
		}
		return
	}
	d.routeOutside(found)
}

// routeOutside routes this hub to the hubs of the networks that the peers
// found belong to, merging them with ours. The younger hub routes to the
// older; the older does too when the younger has not by the next scan.
func (d *Discoverer) routeOutside(found map[peer.ID]peer.Info) {
	n := &d.net
	self := d.selfRef()
	seen := map[peer.ID]bool{}
	for _, info := range found {
		for _, h := range info.Hubs {
			if _, known := d.view.get(h.ID); known || h.ID == d.p.ID() || h.Cluster == "" {
				continue
			}
			seen[h.ID] = true
			hub, ok := found[h.ID]
			if ok && !older(hub, self) && !n.seenUnrouted[h.ID] {
				continue
			}
			n.routeAdded[h.Cluster] = time.Now()
			if err := d.p.Server().AddRoutes(h.Cluster); err != nil {
				d.p.Logger().Warn("appnet: routing to another network's hub failed", "hub", h.ID, "err", err)
			}
		}
	}
	n.seenUnrouted = seen
}

// scanUnknown probes the scope (this host only, or the hosts of a network
// discovery) for peers outside the view, and returns their infos.
func (d *Discoverer) scanUnknown(ctx context.Context, onHost bool) (map[peer.ID]peer.Info, error) {
	cfg := d.p.Config()
	hosts, err := Targets(cfg, onHost)
	if err != nil {
		return nil, err
	}
	known := map[string]bool{net.JoinHostPort(cfg.Host, strconv.Itoa(d.p.Server().Port())): true}
	for _, info := range d.view.snapshot() {
		known[net.JoinHostPort(info.Host, strconv.Itoa(info.Port))] = true
	}
	allow, err := cfg.ScanAllowed()
	if err != nil {
		return nil, err
	}
	scanner := Scanner{Workers: cfg.ThreadLimit, Timeout: cfg.ScanTimeout, Allow: allow,
		Skip: func(addr string) bool { return known[addr] }, OnMisnamed: d.misnamed}
	hits, err := scanner.Scan(ctx, hosts, cfg.Ports())
	if err != nil {
		return nil, err
	}
	defer d.checkIdentity()
	opts := d.p.ClientOptions()
	found := map[peer.ID]peer.Info{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	limit := make(chan struct{}, max(cfg.ThreadLimit, 1))
	for _, h := range hits {
		if !joinable(cfg, h) {
			d.p.Logger().Debug("appnet: discovery: a peer that demands no secret is left out", "peer", h.ID)
			continue
		}
		wg.Go(func() {
			limit <- struct{}{}
			defer func() { <-limit }()
			info, err := FetchInfo(ctx, h, 4*cfg.ScanTimeout, opts...)
			if err != nil {
				d.refused(h, err)
				return
			}
			mu.Lock()
			found[info.ID] = info
			mu.Unlock()
		})
	}
	wg.Wait()
	return found, ctx.Err()
}
