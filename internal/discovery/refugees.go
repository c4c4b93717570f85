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
