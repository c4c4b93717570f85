package discovery

import (
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/appnet-go/appnet/internal/peer"
)

// A leaf promoted to hub restarts its server, which closes its connection
// to its hub. nats-server (2.15) takes a closed connection's
// subscriptions out of the account first, and then tells its other leaves
// one at a time (see interest.go). Should the promoted peer's new route
// bring the same subscriptions back meanwhile, every leaf that attached
// in between loses them for good: after a hub failure the promoted leaf
// had moved to the hub left a second before, which was taking the dead
// hub's hundred leaves, and 10 of them lost it; each found out by its
// interest check and attached again itself (a hub cannot be told to),
// and the network was whole 9–10 s after the kill instead of 3 s (2 of 15
// hub kills at 200 peers without hubs).
//
// So before it routes, a promoted leaf waits until the hub it left no
// longer reaches it (a call to it there answers "no responders": the
// subscriptions are out of the account) and handoverMargin more, for the
// hub to tell its leaves; handoverWait at most.
const (
	handoverWait   = 3 * time.Second
	handoverMargin = 500 * time.Millisecond
	handoverPoll   = 50 * time.Millisecond
)

// waitForgotten waits, as handover.go says, until hub (the hub this peer
// was a leaf of) no longer reaches this peer. It reports whether the hub
// showed it had let go; a hub that cannot be dialled, or that still
// reaches this peer after handoverWait, is not waited for longer.
func (d *Discoverer) waitForgotten(ctx context.Context, hub peer.Info) bool {
	ctx, cancel := context.WithTimeout(ctx, handoverWait)
	defer cancel()
	nc, err := nats.Connect("nats://"+net.JoinHostPort(hub.Host, strconv.Itoa(hub.Port)),
		append(slices.Clone(d.p.ClientOptions()), nats.Name("appnet handover"), nats.Timeout(time.Second), nats.NoReconnect())...)
	if err != nil {
		return false // gone: it forgot this peer with everything else
	}
	defer nc.Close()
	subject := peer.CallSubject(d.p.ID(), peer.ConnInfo)
	for {
		rctx, rcancel := context.WithTimeout(ctx, handoverPoll)
		_, err := nc.RequestWithContext(rctx, subject, nil)
		rcancel()
		switch {
		case errors.Is(err, nats.ErrNoResponders):
			select {
			case <-time.After(handoverMargin):
			case <-ctx.Done():
			}
			return true
		case ctx.Err() != nil:
			d.p.Logger().Debug("appnet: the hub this peer left still reaches it; routing anyway",
				"hub", hub.ID, "after", handoverWait)
			return false
		case err == nil:
			// Answered: the hub still reaches this peer (by a route to
			// its new server, if the hub dialled it first).
			select {
			case <-time.After(handoverPoll):
			case <-ctx.Done():
			}
		case !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout):
			return false // the connection to the hub failed
		}
		// Else no answer in handoverPoll: the hub still sends calls to
		// the connection that went. Ask again.
	}
}
