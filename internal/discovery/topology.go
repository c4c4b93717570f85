package discovery

import (
	"context"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/appnet-go/appnet/internal/peer"
)

// isHub reports whether this peer's server is a hub now.
func (d *Discoverer) isHub() bool {
	srv := d.p.Server()
	return srv != nil && srv.Hub()
}

// hubs returns the hubs of the view, this peer included when it is one,
// oldest first.
func (d *Discoverer) hubs() []peer.Info {
	out := d.view.hubs()
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

// elected returns the peers that should be hubs by the view: the hubs by
// configuration, and the elected hubs alive, oldest first, up to
// MaxAutoHubs in all (an elected hub that saw one hub by configuration
// come stays one: a role change restarts the server, which its clients
// and leaves would feel, and one configured hub is no pair to fail over
// to); no elected hub once AutoHubs are hubs by configuration (they carry
// the network: a 200-peer start that elected two beside them spread its
// leaves over four hubs for minutes); and, when there is no hub by
// configuration and fewer than AutoHubs, the oldest of the rest to make
// up the number.
func (d *Discoverer) elected() []peer.Info {
	rest := d.view.oldest(AutoHubs)
	if self := d.selfRef(); self.Role != peer.RoleHub && !self.Hub {
		rest = keepOldest(rest, self, AutoHubs)
	}
	var fixed, auto []peer.Info
	for _, info := range d.hubs() {
		if info.Hub {
			fixed = append(fixed, info)
		} else {
			auto = append(auto, info)
		}
	}
	keep := max(0, MaxAutoHubs-len(fixed))
	if len(fixed) >= AutoHubs {
		keep = 0
	}
	elected := append(fixed, auto[:min(len(auto), keep)]...)
	if len(fixed) > 0 || len(elected) >= AutoHubs {
		return elected
	}
	return append(elected, rest[:min(len(rest), AutoHubs-len(elected))]...)
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
	var key look
	if !d.isHub() {
		// A leaf decides from the view and its attachment alone: when
		// neither changed and no role change is pending, the last look
		// stands, and an idle leaf does not walk the view twice a second.
		_, conn := d.p.Server().Attachment()
		key = look{changes: d.view.changes(), conn: conn, synced: n.synced, valid: true}
		if key == n.looked && n.wantSince.IsZero() {
			return
		}
	}
	n.looked = key
	n.hubsSeen = max(n.hubsSeen, len(d.hubs()))
	elected := d.elected()
	want := cfg.Hub || slices.ContainsFunc(elected, func(i peer.Info) bool { return i.ID == d.p.ID() })
	if want && !d.isHub() && !cfg.Hub && !n.synced {
		// A leaf that has not loaded the view yet (its hubs were too busy
		// to answer) knows too few hubs to elect itself: in a mass start
		// that promoted peers by the dozen, each restarting its server.
		want = false
	}
	if want && !d.isHub() && !cfg.Hub && d.attachedToLostHub() {
		// The network has the hub this leaf is attached to: the view that
		// lost it is wrong (a busy hub reported failed), not short of a
		// hub. Once the hub is gone, so is the connection.
		want = false
	}
	// A change of role waits until the view has wanted it for roleCalm
	// without a break: views agree again within milliseconds of most
	// changes, and a role change restarts the peer's server.
	if want == d.isHub() {
		n.wantSince = time.Time{}
	} else if n.wantSince.IsZero() {
		n.wantSince = time.Now()
	}
	if want != d.isHub() && time.Since(n.wantSince) > roleCalm && time.Since(n.roleSince) > roleCalm && !d.promotionWaits(want) {
		n.roleSince, n.wantSince = time.Now(), time.Time{}
		left, _ := d.p.Server().Attachment()
		if err := d.p.SetRole(ctx, want); err != nil {
			return
		}
		// Before any route: see handover.go. The hub's address is its
		// ID's, should the view have lost it (a hub reported failed by
		// mistake, that the leaf stayed attached to).
		if at, err := peer.ID(left).Decode(); want && left != "" && err == nil {
			d.waitForgotten(ctx, Hit{Host: at.Host, Port: at.Port, ID: peer.ID(left)})
			if ctx.Err() != nil {
				return // leaving
			}
		}
		d.p.Logger().Info("appnet: this peer's server changed role, as the network's hubs changed", "hub", want)
		n.leaves, n.routes, n.attachedTo, n.attachedConn, n.leftHub = map[string]bool{}, map[string]bool{}, "", 0, ""
		if err := d.serveSync(); err != nil {
			d.p.Logger().Warn("appnet: after a role change", "err", err)
		}
		d.refreshHubs()
		d.connect()
		// Tell the network once it can hear: after the first route or
		// the leaf node connection is up, which the sync proves.
		sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		snap, err := d.sync(sctx, d.syncSubject(), nil)
		cancel()
		if err == nil {
			d.applySnapshot(snap)
		}
		d.announceUpdate()
		return
	}
	d.connect()
}

// attachedToLostHub says whether this leaf is attached to a hub its view
// does not hold.
func (d *Discoverer) attachedToLostHub() bool {
	hub, _ := d.p.Server().Attachment()
	return hub != "" && !slices.ContainsFunc(d.hubs(), func(h peer.Info) bool { return string(h.ID) == hub })
}

// promotionWaits says whether a leaf its view elects to make up the hub
// count waits: while the view knows a hub but has never held AutoHubs,
// until the view has been still for promoteQuiet, or the leaf elected for
// promoteDefer. In a start, a view that has not yet heard of the second
// hub (the one the first let be, see claimHub) elects the oldest
// starters, and a founder's restart made it younger than the starters
// scanning beside it: 200-peer starts promoted two of them at once, and
// one start held six hubs to demote. The network has a hub meanwhile; a
// second can wait for the view to settle. A view that held AutoHubs and
// lost one (a hub failed) promotes at once, as before: the remaining hub
// should not carry every leaf alone while views settle.
func (d *Discoverer) promotionWaits(want bool) bool {
	n := &d.net
	return want && !d.isHub() && len(d.hubs()) > 0 && n.hubsSeen < AutoHubs &&
		time.Since(d.view.lastChange()) < promoteQuiet && time.Since(n.wantSince) < promoteDefer
}

// A leaf elected while its view knows a hub, but has never held AutoHubs,
// waits for a view still for promoteQuiet, at most promoteDefer (see
// promotionWaits).
const (
	promoteQuiet = 2 * time.Second
	promoteDefer = 10 * time.Second
)

// look is what a leaf's rebalance decided from.
type look struct {
	changes uint64 // the view's change count
	conn    uint64 // the leaf's connection to its hub, 0 while detached
	synced  bool   // the view was loaded
	valid   bool
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
		case srv.Hub() && dialable(d.p.Config(), h.Cluster):
			others = append(others, h.Cluster)
			if older(h, self) {
				urls = append(urls, h.Cluster)
			}
		case !srv.Hub() && dialable(d.p.Config(), h.Leaf):
			urls = append(urls, h.Leaf)
		}
	}
	if !srv.Hub() {
		// Pointing the leaf elsewhere drops its connection, and what is in
		// flight on it: a leaf attached stays, and takes the new list when
		// it next has to move. That holds for a hub its view has lost too:
		// a hub that died or stopped being one (a role change restarts its
		// server) drops the connection, so one that holds it is a hub, and
		// a report that it failed was wrong. In starts, a busy first hub
		// reported failed sent its leaves elsewhere before it said it was
		// there, and leaves attaching meanwhile lost their interest in them.
		if hub, _ := srv.Attachment(); hub != "" {
			return
		}
		if len(urls) > 0 {
			if err := srv.SetHubs(urls); err != nil {
				d.p.Logger().Warn("appnet: attaching to the hubs failed", "err", err)
				d.net.looked = look{} // try again at the next look, changes or not
			}
		}
		return
	}
	if len(urls) == 0 && len(others) > 0 {
		urls = others[:1]
	}
	// A hub already routed to needs no explicit route: adding one is a
	// configuration reload, which can drop a client connecting then.
	routed := setOf(srv.RemoteNames())
	urls = slices.DeleteFunc(urls, func(u string) bool {
		i := slices.IndexFunc(hubs, func(h peer.Info) bool { return h.Cluster == u })
		return i >= 0 && routed[string(hubs[i].ID)] && !slices.Contains(srv.Routes(), u)
	})
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
// routes to that network's hubs. Of the listeners it finds outside the
// view it asks the hubs (their greeting says so) and outsideAsked others
// who they are: one member of another network names its hubs, and in a
// mass start every newcomer is such a listener for a moment, joining by
// itself; a question each, at every early rescan, was a connection that
// the busiest moment of both servers could least afford.
func (d *Discoverer) rescanIfDue(ctx context.Context) {
	n := &d.net
	cfg := d.p.Config()
	if cfg.ScanInterval <= 0 || time.Now().Before(n.nextScan) {
		return
	}
	n.scanEvery = min(n.scanEvery*2, cfg.ScanInterval)
	n.nextScan = time.Now().Add(n.scanEvery)
	found, err := d.scanUnknown(ctx, cfg.Scan == "", someOutside)
	if err != nil {
		if ctx.Err() == nil {
			d.p.Logger().Debug("appnet: rescan failed", "err", err)
		}
		return
	}
	d.routeOutside(found)
}

// A hub's first rescan comes firstRescan after it joins; each waits twice
// as long as the last, up to NET_SCAN_INTERVAL.
const firstRescan = 50 * time.Millisecond

// outsideAsked is how many listeners outside the view, besides hubs, a
// rescan asks who they are.
const outsideAsked = 2

// someOutside picks the listeners a rescan asks: every hub, and
// outsideAsked of the others, at random.
func someOutside(hits []Hit) []Hit {
	var hubs, others []Hit
	for _, h := range hits {
		if h.Hub {
			hubs = append(hubs, h)
		} else {
			others = append(others, h)
		}
	}
	rand.Shuffle(len(others), func(i, j int) { others[i], others[j] = others[j], others[i] })
	return append(hubs, others[:min(len(others), outsideAsked)]...)
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
			if _, known := d.view.get(h.ID); known || h.ID == d.p.ID() || !dialable(d.p.Config(), h.Cluster) {
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
func (d *Discoverer) scanUnknown(ctx context.Context, onHost bool, pick func([]Hit) []Hit) (map[peer.ID]peer.Info, error) {
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
	if pick != nil {
		hits = pick(hits)
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
