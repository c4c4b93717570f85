package discovery

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/peer"
)

// A leaf its view elects to make up the hub count waits while the view,
// which knows a hub and has never held AutoHubs, changes, for
// promoteDefer at most; with no hub in the view, or after one of AutoHubs
// hubs went, it does not wait.
func TestAPromotionWaitsForAStillView(t *testing.T) {
	t.Parallel()
	d := unjoinedLeaf(t)

	d.view.join(peer.Info{ID: "a", Role: peer.RoleLeaf})
	d.net.wantSince = time.Now()
	if d.promotionWaits(true) {
		t.Fatal("a leaf whose view knows no hub waited to be one")
	}
	d.view.join(peer.Info{ID: "h", Role: peer.RoleHub})
	if !d.promotionWaits(true) {
		t.Fatal("a leaf whose view knows a hub and changes now did not wait")
	}
	if d.promotionWaits(false) {
		t.Fatal("a leaf not elected waited")
	}
	changedAgo(d, promoteQuiet+100*time.Millisecond)
	if d.promotionWaits(true) {
		t.Fatalf("a leaf whose view has been still for %s waited", promoteQuiet)
	}
	changedAgo(d, 0)
	d.net.wantSince = time.Now().Add(-promoteDefer)
	if d.promotionWaits(true) {
		t.Fatalf("a leaf elected for %s waited", promoteDefer)
	}
	d.net.wantSince = time.Now()
	d.net.hubsSeen = AutoHubs // the view held them all once: one failed
	if d.promotionWaits(true) {
		t.Fatal("a leaf whose view lost one of its hubs waited")
	}
}

// Elected hubs stay beside one hub by configuration, and become leaves
// again once AutoHubs hubs by configuration carry the network.
func TestElectedHubsGiveWayToHubsByConfiguration(t *testing.T) {
	t.Parallel()
	d := unjoinedLeaf(t)
	now := time.Now()
	hub := func(id peer.ID, age time.Duration, fixed bool) peer.Info {
		return peer.Info{ID: id, Role: peer.RoleHub, Started: now.Add(-age), FriendlyID: peer.FriendlyID{Hub: fixed}}
	}
	d.view.join(hub("auto1", 3*time.Minute, false))
	d.view.join(hub("auto2", 2*time.Minute, false))
	d.view.join(hub("fixed1", time.Minute, true))
	if got := ids(d.elected()); !slices.Equal(got, []peer.ID{"fixed1", "auto1", "auto2"}) {
		t.Fatalf("beside one hub by configuration the view elects %v, want it and both elected hubs", got)
	}
	d.view.join(hub("fixed2", time.Second, true))
	if got := ids(d.elected()); !slices.Equal(got, []peer.ID{"fixed1", "fixed2"}) {
		t.Fatalf("beside %d hubs by configuration the view elects %v, want only them", AutoHubs, got)
	}
}

// ids returns the IDs of infos, in order.
func ids(infos []peer.Info) []peer.ID {
	var out []peer.ID
	for _, info := range infos {
		out = append(out, info.ID)
	}
	return out
}

// A leaf its view elects stays a leaf while it is attached to a hub the
// view lost: the network has that hub, the view is wrong.
func TestALeafAttachedToAHubItsViewLostIsNotPromoted(t *testing.T) {
	t.Parallel()
	_, d, _ := attachedLeaf(t)
	// The view lost the hub and holds one younger leaf: it elects this
	// leaf and that one, and has wanted it for longer than roleCalm.
	d.view.join(peer.Info{ID: "younger", Role: peer.RoleLeaf, Started: time.Now().Add(time.Hour)})
	d.net.synced = true
	if got := ids(d.elected()); !slices.Contains(got, d.p.ID()) {
		t.Fatalf("the view elects %v, want this leaf among them", got)
	}
	d.net.wantSince = time.Now().Add(-2 * roleCalm)
	d.rebalance(context.Background())
	if d.isHub() {
		t.Fatal("a leaf attached to a hub its view lost made itself a hub")
	}
}
