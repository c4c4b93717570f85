package discovery

import (
	"context"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/appnet-go/appnet/internal/peer"
)

// A leaf promoted to hub restarts its server, which closes its connection
// to its hub. nats-server (2.15) takes a closed connection's
// subscriptions out of the account first, and then tells its other leaves
// one at a time (closeConnection; see interest.go). Should the promoted
// peer's new route bring the same subscriptions back meanwhile, a leaf
// that attached in between gets the late removal after the addition, and
// loses them for good: after a hub failure the promoted leaf had moved to
// the hub left a second before, which was taking the dead hub's hundred
// leaves, and 10 and 14 of them lost it; each found out by its interest
// check and attached again itself (a hub cannot be told to), and the
// network was whole 9–10 s after the kill instead of 3 s (2 of 15 hub
// kills at 200 peers without hubs).
//
// So before it routes, a promoted leaf waits until the hub it left
// answers "no responders" for it, which it does once it has flagged the
// connection closed, the removals following in the same goroutine, and
// handoverMargin more for those; handoverWait at most. The margin is a
// guess, and other hubs, which hear of the removal by a route later, are
// not waited for: this narrows the race, it does not close it (in 28 hub
// kills since, one leaf once attached again for the promoted hub).
const (
	handoverWait   = 3 * time.Second
	handoverMargin = 500 * time.Millisecond
	handoverPoll   = 50 * time.Millisecond
)

// waitForgotten waits, as handover.go says, until hub (the server of the
// hub this peer was a leaf of) no longer reaches this peer. It reports
// whether the hub said so; a hub that cannot be dialled within a second,
// or that still reaches this peer after handoverWait, is not waited for
// longer.
//
// It asks every handoverPoll on one reply subject and takes a "no
// responders" whenever it comes: a busy hub answers late.
func (d *Discoverer) waitForgotten(ctx context.Context, hub Hit) bool {
	ctx, cancel := context.WithTimeout(ctx, handoverWait)
	defer cancel()
	// A connection whose replies stay on that server: the hub's leaves
	// are not told of its inbox at their busiest moment.
	nc, err := dialOwn(hub.Host, hub.Port, time.Second, d.p.ClientOptions())
	if err != nil {
		return false
	}
	defer nc.Close()
	inbox := nc.NewInbox()
	answers := make(chan *nats.Msg, 16)
	if _, err := nc.ChanSubscribe(inbox, answers); err != nil {
		return false
	}
	subject := peer.CallSubject(d.p.ID(), peer.ConnInfo)
	if err := nc.PublishRequest(subject, inbox, nil); err != nil {
		return false
	}
	tick := time.NewTicker(handoverPoll)
	defer tick.Stop()
	for {
		select {
		case m := <-answers:
			if !peer.NoResponders(m) {
				continue // this peer still answers there: by a route
			}
			nc.Close()
			select {
			case <-time.After(handoverMargin):
			case <-ctx.Done():
			}
			return true
		case <-tick.C:
			if err := nc.PublishRequest(subject, inbox, nil); err != nil {
				return false
			}
		case <-ctx.Done():
			d.p.Logger().Debug("appnet: the hub this peer left did not say it let go of it; routing anyway",
				"hub", hub.ID, "err", ctx.Err())
			return false
		}
	}
}
