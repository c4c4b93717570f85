package discovery

import (
	"context"
	"hash/fnv"
	"maps"
	"slices"
	"time"

	"github.com/appnet-go/appnet/internal/peer"
)

// A hub publishes its view's digest every digestEvery, and digestSoon
// after its view changed and digestSoon after that, so that a peer that
// missed a change catches up within two seconds of the last change, not
// at the next idle digest.
const (
	digestEvery = 5 * time.Second
	digestSoon  = time.Second
)

// unattachedGrace is how long a leaf that joined before it was attached
// (its info names no hub) has to say where it is before the hubs ask it,
// at every digest, whether it still answers.
const unattachedGrace = 30 * time.Second

// digestQuiet is how long a view must have been still for a digest that
// differs from it to count: in a burst of changes (a mass start) the
// changes on their way explain the difference, and every peer loaded the
// whole view from the hubs every two seconds, the greatest load of the
// start. Once the burst ends, two digests a second apart repair a view
// that missed some of it. Churn that never stops is not waited out for
// more than digestDefer.
const (
	digestQuiet = 500 * time.Millisecond
	digestDefer = 10 * time.Second
)

// compareDigest counts the digests of a hub that differ from this peer's
// view; at the second in a row it asks the loop to load the view again.
func (d *Discoverer) compareDigest(dg peer.MemberDigest) {
	d.digestMu.Lock()
	defer d.digestMu.Unlock()
	maps.DeleteFunc(d.hubDigests, func(_ peer.ID, h heardDigest) bool { return time.Since(h.at) > agreeFresh })
	d.hubDigests[dg.Hub] = heardDigest{peers: dg.Peers, sum: dg.Sum, at: time.Now()}
	if now := time.Now(); now.Sub(d.view.lastChange()) < digestQuiet {
		if d.busySince.IsZero() {
			d.busySince = now
		}
		if now.Sub(d.busySince) < digestDefer {
			return
		}
	} else {
		d.busySince = time.Time{}
	}
	var self *peer.Info
	if d.p.Server() != nil {
		info := d.selfRef()
		info.Values = d.p.Values()
		self = &info
	}
	n, sum := d.view.digest(self)
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

// heardDigest is a hub's last digest, and when it came.
type heardDigest struct {
	peers int
	sum   string
	at    time.Time
}

// viewsAgree reports whether every one of hubs said in a digest within
// agreeFresh that its view is this peer's: the network's membership has
// settled.
func (d *Discoverer) viewsAgree(hubs []peer.Info) bool {
	n, sum := d.ownDigest()
	d.digestMu.Lock()
	defer d.digestMu.Unlock()
	for _, h := range hubs {
		if dg, ok := d.hubDigests[h.ID]; !ok || time.Since(dg.at) > agreeFresh || dg.peers != n || dg.sum != sum {
			return false
		}
	}
	return len(hubs) > 0
}

// agreeFresh is how old a hub's digest may be for viewsAgree: a hub sends
// one every digestEvery.
const agreeFresh = 2*digestEvery + digestSoon

// publishDigest sends this hub's digest, when it is due.
func (d *Discoverer) publishDigest() {
	n := &d.net
	if time.Now().Before(n.nextDigest) {
		return
	}
	n.nextDigest = time.Now().Add(digestEvery)
	if n.digestAgain {
		// Once more soon after a change: a peer that missed some of it
		// sees two digests that differ from its view within two
		// seconds, and loads the view again, not at the next idle one.
		n.digestAgain = false
		n.nextDigest = time.Now().Add(digestSoon)
	}
	// Every hub sees its own leaves go (watchHubConnections), and the
	// leaves of a hub that went. The members no hub may see are asked
	// whether they still answer, each by one hub (the members are shared
	// out by their ID's hash), at every digest: a request and an answer
	// per such member every 5 s. They are those without a server of their
	// own (foreign programs, clients of a peer's server), and leaves whose
	// info names no member of the view as their hub: one that went, before
	// they said where they moved (asked as movers are: after moverGrace,
	// patiently; asked at once, a hundred leaves attaching elsewhere after
	// a hub kill were reported failed, joined again, and set off more), or
	// none for unattachedGrace. Other leaves are not: in a mass start a
	// leaf of another hub may not be reachable from this one for seconds,
	// and was reported failed.
	hubs := d.hubs()
	me := slices.IndexFunc(hubs, func(h peer.Info) bool { return h.ID == d.p.ID() })
	view := d.view.snapshot()
	for id, info := range view {
		if info.Role == peer.RoleHub || me < 0 || shareOf(id, len(hubs)) != me {
			continue
		}
		if info.Role == peer.RoleLeaf {
			if slices.ContainsFunc(info.Leaves, func(h string) bool {
				_, member := view[peer.ID(h)]
				return member || h == string(d.p.ID())
			}) {
				continue // its hub is alive, and sees it go (a new hub's role may not have reached the view yet)
			}
			if len(info.Leaves) == 0 && time.Since(d.view.learnedAt(id)) < unattachedGrace {
				continue // it joined before its connection was up, and says where once it is
			}
		}
		if _, due := n.suspects[id]; due {
			continue
		}
		if info.Role == peer.RoleLeaf && len(info.Leaves) > 0 {
			n.suspectMover(id) // its hub went
		} else {
			n.suspects[id] = time.Now()
		}
	}
	count, sum := d.ownDigest()
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
		if snap, err := d.sync(ctx, peer.MemberSyncSubject, d.syncAsk()); err == nil {
			d.applySnapshot(snap)
		}
		return
	}
	snap, err := d.sync(ctx, peer.MemberSyncSubject+"."+string(hub), nil)
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

// shareOf is which of n hubs (oldest first) checks on the member id.
func shareOf(id peer.ID, n int) int {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int(h.Sum32() % uint32(max(n, 1)))
}
