package discovery

import (
	"context"
	"time"

	"github.com/appnet-go/appnet/internal/peer"
)

// When a hub is killed, its leaves attach to the other hubs within a
// second (their fail-over list), but the other hubs see the route to it go
// only once their servers have taken its subscriptions out, which at 200
// peers, with a hundred leaves arriving, each sent the network's 3,000
// subscriptions, took 0.5 to 6 s; the probes then take 1.5 s more. So a
// hub that sees leaves arrive whose infos name another, settled hub
// (refugees) dials that hub's own port: refused twice, 250 ms apart, the
// hub is gone, and is reported failed at once. A port that refuses is a
// process that is gone; a settled hub (see settledHub) restarts its server
// only to become a leaf, when networks merge, and then announces itself
// again within the second.

// refusedApart is the pause between the two dials that must be refused.
const refusedApart = 250 * time.Millisecond

// checkRefugees looks at the leaves that attached since the last look
// (arrived) for hubs they came from, and checks each such hub once per
// settledHub, off the loop.
func (d *Discoverer) checkRefugees(ctx context.Context, arrived []string) {
	n := &d.net
	for _, id := range arrived {
		leaf, known := d.view.get(peer.ID(id))
		if !known || leaf.Role != peer.RoleLeaf || len(leaf.Leaves) == 0 {
			continue
		}
		from := peer.ID(leaf.Leaves[0])
		hub, known := d.view.get(from)
		if !known || from == d.p.ID() || hub.Role != peer.RoleHub ||
			!hub.Hub && time.Since(d.view.stoodSince(from)) <= settledHub ||
			time.Since(n.refugeesFrom[from]) < settledHub {
			continue
		}
		n.refugeesFrom[from] = time.Now()
		go d.reportIfRefused(ctx, hub)
	}
}

// reportIfRefused reports hub failed if its own port refuses connections
// twice, refusedApart apart.
func (d *Discoverer) reportIfRefused(ctx context.Context, hub peer.Info) {
	if d.dialOwnPort(ctx, hub, 2, refusedApart) != portRefused || !d.reportFailed(hub.ID) {
		return
	}
	d.p.Logger().Info("appnet: a hub failed (its leaves came here, its port refuses); told the network", "hub", hub.ID)
}

// leftFor checks, off the loop, whether from, the hub this leaf was
// attached to before the hub it is attached to now, is gone
// (forgetIfRefused): a hub by configuration or a settled one, as
// checkRefugees does.
//
// Only once attached again: a leaf that dropped its hub while still
// detached, when it cannot hear the network, may elect itself from a view
// the network does not share. Tried so (66b68cf), a start without hubs
// promoted two leaves after a hub kill and was not whole within 60 s.
func (d *Discoverer) leftFor(ctx context.Context, from peer.ID) {
	hub, known := d.view.get(from)
	if known && hub.Role == peer.RoleHub && (hub.Hub || time.Since(d.view.stoodSince(hub.ID)) > settledHub) {
		go d.forgetIfRefused(ctx, hub)
	}
}

// forgetIfRefused drops hub from the view, as failed, if its own port
// refuses connections twice, refusedApart apart. A leaf that was
// detached when the network heard that its hub went was not told; it
// learned it from the view it loaded once attached to another hub, which
// that hub, busy with a hundred newcomers, answered 4 to 8 s later: after
// 200-peer hub kills, the dead hub's leaves attached about 5 s after the
// kill and their views held the dead hub until 10 to 12 s. The network
// needs no news of it from here: the hubs left report it.
func (d *Discoverer) forgetIfRefused(ctx context.Context, hub peer.Info) {
	if d.dialOwnPort(ctx, hub, 2, refusedApart) != portRefused || !d.view.remove(hub.ID, Failed) {
		return
	}
	d.refreshHubs()
	d.p.Logger().Debug("appnet: the hub this peer was attached to is gone (its port refuses)", "hub", hub.ID)
}
