package discovery

import (
	"time"

	"github.com/appnet-go/appnet/internal/peer"
)

// A leaf's server learns from its hub which subjects the network listens
// to, and forwards only those. Should the hub's word on some member be
// lost (seen with nats-server 2.15 after mass starts with servers that
// restarted: a member in every view that some leaves' servers had no
// interest for, so that calls to it got no responders, for good), the
// leaf would never hear of it again. So a leaf checks, in its own server
// and without traffic, that it knows of every member's call subject;
// a member missing at two checks in a row makes it attach to its hub
// again, which resends everything.
const (
	interestEvery   = 5 * time.Second
	reattachAtMost  = 30 * time.Second
	interestSampled = 3 // members named in the warning
)

// checkInterest is a leaf's check, when due.
func (d *Discoverer) checkInterest() {
	n := &d.net
	now := time.Now()
	if now.Before(n.nextInterest) {
		return
	}
	n.nextInterest = now.Add(interestEvery)
	srv := d.p.Server()
	if _, conn := srv.Attachment(); conn == 0 {
		return
	}
	var missing []peer.ID
	for _, id := range d.view.servers(now.Add(-newcomerGrace)) {
		if !srv.Interest(peer.CallSubject(id, peer.ConnInfo)) {
			missing = append(missing, id)
		}
	}
	again := missingAgain(n.uninterested, missing)
	n.uninterested = setOf(missing)
	if len(again) == 0 || now.Sub(n.reattached) < reattachAtMost {
		return
	}
	n.reattached = now
	d.p.Logger().Warn("appnet: this peer's server does not hear members of its view; attaching to its hub again",
		"members", len(again), "e.g.", again[:min(len(again), interestSampled)])
	if err := srv.Reattach(); err != nil {
		d.p.Logger().Warn("appnet: attaching to the hub again", "err", err)
	}
}

// missingAgain returns the members of missing that were missing at the
// last check too (before), leaving missing as it is.
func missingAgain(before map[peer.ID]bool, missing []peer.ID) []peer.ID {
	var again []peer.ID
	for _, id := range missing {
		if before[id] {
			again = append(again, id)
		}
	}
	return again
}
