package discovery

import (
	"math/rand/v2"
	"strings"
	"time"

	"github.com/appnet-go/appnet/internal/peer"
)

// A leaf stays on the hub it attached to, and leaves attach to whichever
// hub they reach first: in a mass start, the founder, before the second
// hub was elected (200-peer starts left 162 leaves on one hub and 38 on
// the other), and after a hub fails, the ones left, while the hub elected
// in its place gets only newcomers. A hub that carries most leaves costs
// more, and its failure moves most of the network at once: a hub kill that
// moved 162 leaves onto the other hub took 50 s, with 181 leaves reported
// failed on the way.
//
// So a leaf whose hub carries more than its share of the leaves moves to
// the hub with the fewest. Every leaf of that hub decides alone, from the
// same counts: each moves with the probability that makes the expected
// number of movers the excess, at a moment drawn over spreadEvery. A move
// is a Reattach (embedded.MoveTo): the leaf is away for its pause, and
// what it had in flight is lost, which is why only a clear excess moves
// anyone.

// A leaf compares the hubs' loads once the view has been still for
// spreadQuiet, and again once it changed and stood still again, or after
// spreadAgain: a move is not a change of the view (see sameInfo), and the
// movers of one look, a chance draw, may fall short of the excess (10
// leaves on one of two hubs: one mover or none, one time in 93), so a look
// spreadAgain later, when the last look's movers have all attached again,
// counts them and moves more if need be. spreadEvery is the time over
// which the movers of one look move.
const (
	spreadQuiet = 6 * time.Second
	spreadEvery = 5 * time.Second
	spreadAgain = 15 * time.Second
)

// Leaves spread only once the hubs of the view have been the same for
// spreadHubsStill: after a hub failed, the leaves that moved at once are
// still being heard, and more moves then lose interest (see
// embedded.Reattach), which takes seconds to repair.
//
// And only while every hub's last digest says its view is the leaf's own
// (viewsAgree): leaves count the hubs' loads in their views, and views
// that differ count differently. In 200-peer starts on a slow machine,
// whose hubs' views held 146 and 66 members 90 s in, leaves moved 202
// times, those of each hub to the other, and the network never became
// whole; each move made the hubs busier, and the views later still.
const spreadHubsStill = 20 * time.Second

// overloaded reports whether load leaves exceed a hub's fair share:
// by a fifth, and by at least spreadSlack leaves.
func overloaded(load int, fair float64) bool {
	return float64(load) > max(fair*1.2, fair+spreadSlack)
}

// spreadSlack is the excess of leaves no hub moves any for.
const spreadSlack = 3

// spread moves this leaf to the least loaded hub, by chance, when its own
// is overloaded. It runs on the loop, and moves off it.
func (d *Discoverer) spread() {
	n := &d.net
	now := time.Now()
	if hubs := hubIDs(d.hubs()); hubs != n.spreadHubs {
		n.spreadHubs, n.hubsSince = hubs, now
	}
	changes := d.view.changes()
	if !n.synced || now.Sub(d.view.lastChange()) < spreadQuiet || now.Sub(n.hubsSince) < spreadHubsStill ||
		changes == n.spreadSeen && now.Before(n.spreadAt) || !d.viewsAgree(d.hubs()) {
		return
	}
	n.spreadSeen, n.spreadAt = changes, now.Add(spreadAgain)
	srv := d.p.Server()
	hub, conn := srv.Attachment()
	if conn == 0 || n.moving.Load() {
		return
	}
	mine, target, chance := d.spreadTarget(peer.ID(hub))
	if target.ID == "" || rand.Float64() >= chance {
		return
	}
	urls := []string{target.Leaf} // then the others, should it fail
	for _, h := range d.hubs() {
		if h.ID != target.ID && h.Leaf != "" && dialable(d.p.Config(), h.Leaf) {
			urls = append(urls, h.Leaf)
		}
	}
	n.moving.Store(true)
	go func() {
		defer n.moving.Store(false)
		// The leaves deciding together move over spreadEvery, not at once:
		// a hub that takes dozens of leaves in a second is slow to hear them.
		select {
		case <-time.After(rand.N(spreadEvery)):
		case <-d.p.Context().Done():
			return
		}
		d.p.Logger().Info("appnet: moving to a hub with fewer leaves", "from", hub, "leaves", mine, "to", target.ID)
		if err := srv.MoveTo(d.p.Context(), urls); err != nil {
			d.p.Logger().Warn("appnet: moving to another hub", "err", err)
		}
	}()
}

// spreadTarget counts the leaves of each hub of the view (this one on
// hub) and, when hub is overloaded, returns its load, the hub with the
// fewest leaves, and the chance with which each of hub's leaves moves
// there.
func (d *Discoverer) spreadTarget(hub peer.ID) (int, peer.Info, float64) {
	hubs := d.hubs()
	load := make(map[peer.ID]int, len(hubs))
	for _, h := range hubs {
		load[h.ID] = 0
	}
	if _, ok := load[hub]; !ok || len(hubs) < 2 {
		return 0, peer.Info{}, 0
	}
	total := 1 // this leaf
	load[hub]++
	for id, count := range d.view.loads() {
		if _, ok := load[id]; ok {
			load[id] += count
			total += count
		}
	}
	fair := float64(total) / float64(len(hubs))
	mine := load[hub]
	if !overloaded(mine, fair) {
		return mine, peer.Info{}, 0
	}
	var target peer.Info
	for _, h := range hubs { // oldest first: ties go to the oldest
		if h.Leaf != "" && dialable(d.p.Config(), h.Leaf) && h.ID != hub && (target.ID == "" || load[h.ID] < load[target.ID]) && float64(load[h.ID]) < fair {
			target = h
		}
	}
	if target.ID == "" {
		return mine, target, 0
	}
	// Move no more than the target lacks, nor than this hub has in excess.
	excess := min(float64(mine)-fair, fair-float64(load[target.ID]))
	return mine, target, excess / float64(mine)
}

// hubIDs names hubs, in their order.
func hubIDs(hubs []peer.Info) string {
	var b strings.Builder
	for _, h := range hubs {
		b.WriteString(string(h.ID))
		b.WriteByte(' ')
	}
	return b.String()
}
