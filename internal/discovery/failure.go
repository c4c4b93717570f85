package discovery

import (
	"cmp"
	"context"
	"sync"
	"time"

	"github.com/appnet-go/appnet/internal/peer"
)

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
			n.sawGo[peer.ID(name)] = true
		}
	}
	var arrived []string
	for name := range leaves {
		if !n.leaves[name] {
			arrived = append(arrived, name)
		}
	}
	d.checkRefugees(ctx, arrived)
	for name := range n.routes {
		if routes[name] {
			continue
		}
		// A hub went: its leaves move to other hubs, or went with it (a
		// host that failed). They are asked after a while, patiently: a
		// hundred leaves attaching elsewhere at once take seconds to be
		// heard again, and taking them for failed set off a storm of
		// failures and joins (hub kills of 10-17 s in 200-peer runs, when
		// every leaf not attached here was asked, by every hub).
		n.suspects[peer.ID(name)] = now.Add(suspectGrace)
		n.sawGo[peer.ID(name)] = true
		// Every probe is patient for a while: the digests and syncs of a
		// network whose leaves move disagree, and each disagreement is a
		// suspect (after hub kills at 200 peers, leaves were reported
		// failed from 5 to 30 s after the kill).
		n.busyUntil = now.Add(busyLinger)
		for _, id := range d.view.claiming(peer.ID(name)) {
			if !leaves[string(id)] {
				n.suspectMover(id)
			}
		}
	}
	// A leaf that attached here and went before this loop looked at the
	// connections was never among them: its info, which names its hub,
	// says it should be. Each such claim is checked once; the view is
	// walked for them when it changed, or once a second.
	if count := d.view.changes(); count != n.claimsSeen || now.Sub(n.claimsAt) >= time.Second {
		n.claimsSeen, n.claimsAt = count, now
		checked := make(map[peer.ID]time.Time, len(n.claimChecked))
		for _, id := range d.view.claiming(d.p.ID()) {
			at, seen := n.claimChecked[id]
			if seen && at.After(d.view.learnedAt(id)) {
				checked[id] = at
				continue
			}
			if leaves[string(id)] || n.leaves[string(id)] {
				continue
			}
			checked[id] = now
			if _, due := n.suspects[id]; !due {
				n.suspects[id] = now
			}
		}
		n.claimChecked = checked // only the current claims
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

func setOf[K comparable](keys []K) map[K]bool {
	m := make(map[K]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}

// merge loads the view of hub, newly routed from another network, and
// tells this side of the network about the peers it did not know.
func (d *Discoverer) merge(ctx context.Context, hub peer.ID) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	snap, err := d.sync(ctx, peer.MemberSyncSubject+"."+string(hub), nil)
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
	dueAt, patientFor := map[peer.ID]time.Time{}, map[peer.ID]bool{}
	for id, at := range n.suspects {
		if !now.After(at) {
			continue
		}
		if n.leaves[string(id)] {
			// Attached here since: alive.
			delete(n.suspects, id)
			delete(n.sawGo, id)
			delete(n.movers, id)
			continue
		}
		if learned := d.view.learnedAt(id); !n.sawGo[id] && now.Sub(learned) < newcomerGrace {
			// Its server's interest may not have reached this hub yet
			// (a join outruns it through a busy network): a probe would
			// hear no responders from a peer that is fine. A peer whose
			// connection this hub saw go is another matter.
			n.suspects[id] = learned.Add(newcomerGrace)
			continue
		}
		due = append(due, id)
		dueAt[id] = at
		if n.movers[id] {
			patientFor[id] = true
		}
		delete(n.suspects, id)
		delete(n.sawGo, id)
		delete(n.movers, id)
	}
	if len(due) == 0 {
		return
	}
	patient := now.Before(n.busyUntil)
	go func() {
		limit := make(chan struct{}, 16)
		var wg sync.WaitGroup
		for _, id := range due {
			info, known := d.view.get(id)
			if !known {
				continue // left, or already reported
			}
			// A hub the view has known unchanged for settledHub is asked
			// at once and without patience: when one goes, its leaves are
			// suspects too, and behind their slots the news that it went,
			// which its leaves wait for to attach elsewhere, came 5 s
			// after a kill (the leaves were attached again within 3).
			// Younger hubs are a start's, which restart; a hub by
			// configuration never changes its role.
			settled := info.Role == peer.RoleHub && (info.Hub || time.Since(d.view.stoodSince(id)) > settledHub)
			wg.Go(func() {
				// A slot is held through the pauses between the
				// questions: with many suspects (a mass start), the later
				// ones wait their turn, which gives them time. Taking a
				// slot per question instead made three 100-peer starts
				// without hubs take 1.3-17 s (median 5.1 s), against
				// 1.5-3.5 s.
				// A leaf that its own server answers for and that the
				// network has yet to hear gives its slot back while it is
				// asked again (moverAlive): for up to a minute, a crash
				// beside it would have waited.
				held := !settled
				if held {
					limit <- struct{}{}
				}
				release := func() {
					if held {
						held = false
						<-limit
					}
				}
				defer release()
				alive := false
				if patientFor[id] {
					alive = d.moverAlive(ctx, info, release)
				} else {
					alive = d.answers(ctx, id, patient && !settled)
					// A leaf whose connection went and that is not heard
					// again through the network may be attaching to a hub
					// too busy to pass its interest on: after 200-peer hub
					// kills, 29 and 49 live leaves were reported failed,
					// 8 to 25 s after the kill. One whose own server still
					// answers for it is asked as a mover is.
					if !alive && info.Role == peer.RoleLeaf && ctx.Err() == nil && d.servesItself(ctx, info) {
						release()
						alive = d.moverAlive(ctx, info, func() {})
					}
				}
				if !alive && ctx.Err() == nil && d.reportFailed(id) {
					if info.Role == peer.RoleHub {
						d.p.Logger().Info("appnet: a hub failed; told the network", "hub", id,
							"probed", time.Since(dueAt[id]).Round(time.Millisecond))
					}
				}
			})
		}
		wg.Wait()
	}()
}

// reportFailed drops id from the view and tells the network it failed,
// unless the view no longer holds it (reported, or left, meanwhile). It
// reports whether it told.
func (d *Discoverer) reportFailed(id peer.ID) bool {
	if !d.view.remove(id, Failed) {
		return false
	}
	d.refreshHubs()
	d.publishGone(peer.MemberFailSubject, peer.MemberGone{ID: id, By: d.p.ID()})
	return true
}

// answers reports whether id answers a call through the network, asking
// up to three times, 0.5 s and then 1 s apart: a peer moving to another
// hub, or restarting its server for a new role, is away for a moment,
// and a busy peer answers late. A patient hub (in a burst of changes)
// asks twice more, 2 s apart: in a mass start, a leaf whose connection
// its starved hub closed as stale takes seconds to attach again, and
// taking it for failed sets every peer of the network to work.
func (d *Discoverer) answers(ctx context.Context, id peer.ID, patient bool) bool {
	pauses := []time.Duration{0, probeTimeout, 2 * probeTimeout}
	if patient {
		pauses = append(pauses, 4*probeTimeout, 4*probeTimeout)
	}
	for try, pause := range pauses {
		if try > 0 {
			select {
			case <-ctx.Done():
				return false
			case <-time.After(pause):
			}
		}
		rctx, cancel := context.WithTimeout(ctx, probeTimeout)
		_, err := d.p.Caller.Request(rctx, peer.CallSubject(id, peer.ConnInfo), nil)
		cancel()
		if err == nil {
			return true
		}
	}
	return false
}

// settledHub is how long a hub's info must have stood in the view for
// its failure to be asked about first (see checkSuspects); moverGrace,
// how long after a hub went its leaves are asked about, if they have not
// attached here meanwhile.
const (
	settledHub = 10 * time.Second
	moverGrace = 2 * time.Second
)

// suspectMover makes id, a leaf whose hub went, a suspect asked about
// after moverGrace, patiently: it is moving to another hub (see
// moverAlive).
func (n *network) suspectMover(id peer.ID) {
	n.suspects[id], n.movers[id] = time.Now().Add(moverGrace), true
}

// A burst is burstChanges changes of the view within burstWindow; probes
// stay patient for busyLinger after one.
const (
	burstChanges = 20
	burstWindow  = 2 * time.Second
	busyLinger   = 10 * time.Second
)

// noteBurst counts the view's changes (count is its change count now) and
// notes a burst.
func (n *network) noteBurst(count uint64) {
	now := time.Now()
	if now.Sub(n.burstAt) > burstWindow {
		n.burstFrom, n.burstAt = n.changesSeen, now
	}
	if count-n.burstFrom >= burstChanges {
		n.busyUntil = now.Add(busyLinger)
	}
}

// watchLeafConnection follows a leaf's connection to its hub: after every
// (re)attachment it loads the view again, since it heard nothing while
// away, and announces itself again; when detached for long, it looks for
// the network's hubs (lost.go), elected while it could hear nothing.
func (d *Discoverer) watchLeafConnection(ctx context.Context) {
	n := &d.net
	hub, conn := d.p.Server().Attachment()
	switch {
	case conn != 0 && conn != n.attachedConn:
		if from := cmp.Or(n.attachedTo, n.leftHub); from != "" && from != hub {
			d.leftFor(ctx, peer.ID(from)) // attached elsewhere: see leftFor
		}
		n.attachedTo, n.attachedConn, n.leftHub = hub, conn, ""
		n.syncWait = min(max(n.syncWait, attachSync), maxAttachSync)
		sctx, cancel := context.WithTimeout(ctx, n.syncWait)
		snap, err := d.sync(sctx, peer.MemberSyncSubject, d.syncAsk())
		cancel()
		if err == nil {
			d.applySnapshot(snap)
			n.syncWait = attachSync
		} else {
			n.attachedConn = 0 // try again at the next look
			n.syncWait *= 2    // and wait longer for the answers asked for
		}
		if conn != n.announcedConn {
			// Say we are here over the connection that now works, once
			// per connection, with the view loaded or not: a join sent
			// before it did was lost (a mass start's hubs too busy to
			// answer), and a hub that saw the last connection go may have
			// reported us failed while we could not hear it. In 200-peer
			// starts on a slow machine, loads of the view timed out 945
			// times, 13 to 18 times in a row for some peers, and the
			// hubs' views lacked the peers that had yet to say so.
			n.announcedConn = conn
			d.announce(peer.MemberJoinSubject)
		}
	case conn == 0 && n.attachedTo != "":
		n.leftHub = n.attachedTo
		n.attachedTo, n.attachedConn, n.detachedAt = "", 0, time.Now()
	case conn == 0:
		d.lookForHubs(ctx)
	}
}

// A leaf that attached loads the view, waiting attachSync for it at first;
// after each wait in vain, twice as long, up to maxAttachSync: every
// request asks a busy hub for the whole view again, and an answer that
// comes after its asker gave up is lost work.
const (
	attachSync    = 2 * time.Second
	maxAttachSync = 8 * time.Second
)

// moverAlive reports whether a leaf whose hub went is alive. Its own
// port is dialled first: one that refuses is a leaf gone with its hub,
// reported within a second. Then it is asked through the network,
// patiently (5.5 s); a leaf that does not answer there is asked over its
// own port (servesItself), and one whose server answers for it is on its
// way to another hub, asked again until moverPatience. At 200 peers a
// hundred leaves moving at once took up to 7 s to be heard, some of them
// up to 40 s, and taking them for failed set off storms of failures and
// joins: every 200-peer hub kill reported 2 to 36 live leaves failed,
// when a dial that timed out on a busy host, or a listening port that
// was not heard from within 20 s, was all the hub went by. A port that
// listens but a server that does not answer is a process that froze.
//
// release is called once the leaf's own server answered: the rounds after
// that are a live leaf's, and hold no slot of checkSuspects.
func (d *Discoverer) moverAlive(ctx context.Context, info peer.Info, release func()) bool {
	deadline := time.Now().Add(moverPatience)
	for {
		if d.dialOwnPort(ctx, info, 3, probeTimeout) == portRefused {
			return false
		}
		if d.answers(ctx, info.ID, true) {
			return true
		}
		if _, known := d.view.get(info.ID); !known || ctx.Err() != nil {
			return !known // reported, or left, meanwhile
		}
		if time.Now().After(deadline) || !d.servesItself(ctx, info) {
			return false
		}
		release()
	}
}

// moverPatience is how long a leaf whose hub went may serve on its own
// port and not be heard through the network (see moverAlive): past it,
// it is cut off from the network, and reported so. It joins again when
// it attaches.
const moverPatience = 60 * time.Second
