package discovery

import (
	"context"
	"net/url"
	"slices"
	"time"

	"github.com/appnet-go/appnet/internal/peer"
)

// A leaf detached from every hub finds its network's hubs again, in three
// steps, each a second apart while it stays detached and no hub its
// server dials accepts connections (hubListens):
//
//  1. It asks the peers its view elects (askElected): the hubs it knew, or
//     the oldest peers when it knows none. A hub answers as one.
//  2. It asks the hubs that those peers name and its view does not hold
//     as hubs; if none answers as one, lostAsked other peers of its view,
//     and the hubs they name. In one 200-peer start without hubs, six
//     leaves stayed outside the network (for the 90 s the bench waited)
//     after a small network merged into the big one: their views held
//     peers that had been the small network's hubs and were leaves of the
//     big one now, and step 1 was all they did.
//  3. Detached for lostAfter with no hub found, it scans for the network
//     as a starting peer does (scanForHubs), at most once per
//     NET_SCAN_INTERVAL: every peer of its view has gone.
//
// All three run off the loop (lookForHubs), one look at a time.
//
// The hubs found join its view, and the topology loop (rebalance)
// attaches the leaf to them.

// lostAfter is how long a leaf stays detached before it scans for the
// network; lostAsked, how many peers of its view besides the elected it
// asks for the hubs they know, each second.
const (
	lostAfter = 5 * time.Second
	lostAsked = 2
)

// askElected asks the peers that the view says should be hubs for their
// info directly, over their own servers, and then the hubs they name that
// the view does not hold; when that finds no hub, lostAsked other peers of
// the view, at random, and the hubs they name. It reports whether a hub
// answered.
func (d *Discoverer) askElected(ctx context.Context) bool {
	defer d.refreshHubs()
	elected := slices.DeleteFunc(d.elected(), func(i peer.Info) bool { return i.ID == d.p.ID() })
	if d.askForHubs(ctx, elected) {
		return true
	}
	var others []peer.Info
	for id, info := range d.view.snapshot() { // map order: at random
		if len(others) == lostAsked {
			break
		}
		if !slices.ContainsFunc(elected, func(i peer.Info) bool { return i.ID == id }) {
			others = append(others, info)
		}
	}
	return d.askForHubs(ctx, others)
}

// askForHubs asks each of peers for its info, and then the hubs they name
// that the view does not hold, and adds what answers to the view. It
// reports whether a hub answered.
func (d *Discoverer) askForHubs(ctx context.Context, peers []peer.Info) bool {
	opts := d.p.ClientOptions()
	var named []peer.HubAddr
	hub := false
	for _, info := range peers {
		got, err := FetchInfo(ctx, Hit{Host: info.Host, Port: info.Port, ID: info.ID}, 4*d.p.Config().ScanTimeout, opts...)
		if err != nil {
			continue
		}
		d.view.join(got)
		hub = hub || got.Role == peer.RoleHub
		named = append(named, got.Hubs...)
	}
	for _, info := range d.fetchHubs(ctx, named) {
		d.view.join(info)
		hub = true
	}
	return hub
}

// fetchHubs asks the hubs of addrs that the view does not hold as hubs,
// and this peer is not, for their info, and returns those that answer as
// hubs.
func (d *Discoverer) fetchHubs(ctx context.Context, addrs []peer.HubAddr) []peer.Info {
	cfg := d.p.Config()
	var out []peer.Info
	asked := map[peer.ID]bool{}
	for _, h := range addrs {
		if info, known := d.view.get(h.ID); known && info.Role == peer.RoleHub || asked[h.ID] || h.ID == d.p.ID() || !dialable(cfg, h.Leaf) {
			continue
		}
		asked[h.ID] = true
		at, err := h.ID.Decode()
		if err != nil {
			continue
		}
		got, err := FetchInfo(ctx, Hit{Host: at.Host, Port: at.Port, ID: h.ID}, 4*cfg.ScanTimeout, d.p.ClientOptions()...)
		if err == nil && got.Role == peer.RoleHub {
			out = append(out, got)
		}
	}
	return out
}

// lookForHubs starts a look for the network's hubs (the steps above) off
// the loop, when the leaf has been detached for a second, none runs, and
// the last began a second ago or more: the questions wait up to a second
// each for busy peers, and the loop attaches the leaf meanwhile.
func (d *Discoverer) lookForHubs(ctx context.Context) {
	n := &d.net
	if time.Since(n.detachedAt) <= time.Second || time.Since(n.lastFetch) <= time.Second || !n.looking.CompareAndSwap(false, true) {
		return
	}
	n.lastFetch = time.Now()
	since := n.detachedAt
	if since.Before(n.joinedAt) {
		since = n.joinedAt
	}
	go func() {
		defer n.looking.Store(false)
		if d.hubListens(ctx) {
			return
		}
		if d.askElected(ctx) {
			return
		}
		d.scanIfLost(ctx, since)
	}()
}

// hubListens reports whether a hub that this leaf's server dials accepts
// connections on its leaf port. Such a hub is busy, not lost: nats-server
// drops a leaf whose handshake its hub did not finish within 2 s and
// dials again 250 ms later, by itself. Asking that hub for its info,
// every second, and then every host for the network, adds to what keeps
// it busy: in 200-peer starts on a slow machine, detached leaves scanned
// 97 and 136 times and found the same two hubs each time.
func (d *Discoverer) hubListens(ctx context.Context) bool {
	for _, raw := range d.p.Server().Hubs() {
		u, err := url.Parse(raw)
		if err != nil || !dialable(d.p.Config(), "nats://"+u.Host) {
			continue
		}
		if dialPort(ctx, u.Host, 1, 0) == portAccepts {
			return true
		}
	}
	return false
}

// scanIfLost scans for the network's hubs (step 3 above) when the leaf
// has been detached since since for lostAfter, and no scan ran for
// NET_SCAN_INTERVAL, and adds the hubs it finds to the view if the leaf
// is still detached. A hub too busy to take the leaf now is no reason to
// look elsewhere: lookForHubs scans only when no peer it asked was a hub
// (else, in a mass start, a third of the leaves scanned).
func (d *Discoverer) scanIfLost(ctx context.Context, since time.Time) {
	n := &d.net
	every := max(d.p.Config().ScanInterval, lostAfter)
	if time.Since(since) < lostAfter || time.Since(n.lostScan) < every {
		return
	}
	n.lostScan = time.Now()
	_, _, hubs, err := scanForHubs(ctx, d.p)
	if err != nil {
		return
	}
	found := d.fetchHubs(ctx, hubs)
	if _, conn := d.p.Server().Attachment(); conn != 0 || d.isHub() || len(found) == 0 {
		return
	}
	for _, info := range found {
		d.view.join(info)
	}
	d.p.Logger().Info("appnet: this peer lost its hubs and found the network's again", "hubs", len(found))
	d.refreshHubs()
}
