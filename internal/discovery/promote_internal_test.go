package discovery

import (
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
