package discovery

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/appnet-go/appnet/internal/peer"
)

// The second hub of a network without hubs by configuration is a peer
// that asked the first, as it started, before its application subscribed
// to anything: a promotion later restarts its server under those
// subscriptions. Starters each judge from their own scan whether they are
// the one (fillsQuota), and in a mass start scans see a few peers each, so
// that every host's lowest peer took itself for the second hub; the
// network then demoted the extra ones, whose leaves, moving while every
// server was busy, were taken for failed. The hub answers one claim at a
// time.

// claimHold is how long a hub, having let one starting peer be a hub,
// refuses the others until that peer joins (see claimJoined): the time it
// takes to start again as a hub and join, after which the view counts it.
const claimHold = 5 * time.Second

// answerClaim answers a starting peer's claim to be a hub: true when this
// hub knows the network (it started it, or loaded its view: a hub that
// has just joined knows only itself, and said yes to a third), its view
// has fewer than AutoHubs hubs, none by configuration, and no claim
// granted is on hold (the peer it was granted to has not joined, and
// claimHold has not passed). The hubs are counted under claimMu, which
// claimJoined takes after the view has the peer: one of the two sees the
// other's work.
func (d *Discoverer) answerClaim(m *nats.Msg) {
	d.claimMu.Lock()
	hubs := d.hubs()
	grant := d.isHub() && d.knowsNetwork.Load() && len(hubs) < AutoHubs && !slices.ContainsFunc(hubs, func(h peer.Info) bool { return h.Hub }) &&
		time.Since(d.grantedAt) > claimHold
	if grant {
		d.grantedAt, d.grantedTo = time.Now(), peer.ID(m.Data)
	}
	d.claimMu.Unlock()
	_ = m.Respond([]byte(strconv.FormatBool(grant)))
}

// claimJoined ends the hold of a claim granted to id, which joined: the
// view counts it now (and once it leaves, the next starter may be the
// second hub at once).
func (d *Discoverer) claimJoined(id peer.ID) {
	d.claimMu.Lock()
	defer d.claimMu.Unlock()
	if id == d.grantedTo {
		d.grantedAt, d.grantedTo = time.Time{}, ""
	}
}

// claimHub asks the oldest of the network's hubs, over a connection to
// its own server, whether p may start as a hub too, and reports whether
// it said so. No answer is no.
func claimHub(ctx context.Context, p *peer.Peer, hubs []peer.HubAddr) bool {
	if len(hubs) == 0 {
		return false
	}
	at, err := hubs[0].ID.Decode()
	if err != nil {
		return false
	}
	timeout := 4 * p.Config().ScanTimeout
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	nc, err := dialOwn(at.Host, at.Port, timeout, p.ClientOptions())
	if err != nil {
		p.Logger().Debug("appnet: asking the network's hub whether this peer may be a hub too", "hub", hubs[0].ID, "err", err)
		return false
	}
	defer nc.Close()
	answer, err := nc.RequestWithContext(ctx, peer.HubClaimSubject, []byte(p.ID()))
	if err != nil {
		p.Logger().Debug("appnet: asking the network's hub whether this peer may be a hub too", "hub", hubs[0].ID, "err", err)
		return false
	}
	return string(answer.Data) == "true"
}
