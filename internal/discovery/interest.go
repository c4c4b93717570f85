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
// a member missing at missedChecks checks in a row makes it attach to its
// hub again, which resends everything.
//
// A member that attaches again is missing everywhere until it is back, and
// in a busy network that takes seconds: were that enough to make others
// attach again, one would set off the rest (a 200-peer start did, 149
// times). So a member counts only once it has been known for
// interestSettled (one that comes back announces itself, and is known
// anew), only when missing at three checks 5 s apart, and a leaf attaches
// again at most once a minute.
const (
	interestEvery   = 5 * time.Second
	missedChecks    = 3
	interestSettled = 15 * time.Second
	reattachAtMost  = time.Minute
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
	for _, id := range d.view.servers(now.Add(-interestSettled)) {
		if !srv.Interest(peer.CallSubject(id, peer.ConnInfo)) {
			missing = append(missing, id)
		}
	}
	var long []peer.ID
	n.uninterested, long = countMissing(n.uninterested, missing)
	if len(long) == 0 || now.Sub(n.reattached) < reattachAtMost {
		return
	}
	n.reattached = now
	d.p.Logger().Warn("appnet: this peer's server does not hear members of its view; attaching to its hub again",
		"members", len(long), "e.g.", long[:min(len(long), interestSampled)])
	if err := srv.Reattach(); err != nil {
		d.p.Logger().Warn("appnet: attaching to the hub again", "err", err)
	}
}

// countMissing returns, from the counts of checks in a row each member was
// missing at (before) and the members missing now, the new counts and the
// members missing at missedChecks checks in a row or more. It leaves
// missing as it is.
func countMissing(before map[peer.ID]int, missing []peer.ID) (map[peer.ID]int, []peer.ID) {
	counts := make(map[peer.ID]int, len(missing))
	var long []peer.ID
	for _, id := range missing {
		counts[id] = before[id] + 1
		if counts[id] >= missedChecks {
			long = append(long, id)
		}
	}
	return counts, long
}
