package discovery

import (
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/peer"
)

// Digests that differ from a view changing at that moment do not count;
// two in a row that differ from a still view ask for the view again, and
// so do they after digestDefer of changes without a break.
func TestDigestsCountOnAStillView(t *testing.T) {
	t.Parallel()
	d := unjoinedLeaf(t)
	d.net.resync = make(chan peer.ID, 1)
	differs := peer.MemberDigest{Hub: "h", Peers: 99, Sum: "0"}
	asked := func() bool {
		select {
		case <-d.net.resync:
			return true
		default:
			return false
		}
	}
	d.view.join(peer.Info{ID: "a", Role: peer.RoleLeaf})
	d.compareDigest(differs)
	d.compareDigest(differs)
	if asked() {
		t.Fatal("digests that differ from a view changing now asked for the view")
	}
	changedAgo(d, time.Second)
	d.compareDigest(differs)
	if asked() {
		t.Fatal("one digest that differs asked for the view")
	}
	d.compareDigest(differs)
	if !asked() {
		t.Fatal("two digests in a row that differ from a still view did not ask for it")
	}
	changedAgo(d, 0)
	d.compareDigest(differs) // the view is busy from now
	d.busySince = time.Now().Add(-digestDefer)
	d.compareDigest(differs)
	d.compareDigest(differs)
	if !asked() {
		t.Fatalf("digests that differ after %s of changes did not ask for the view", digestDefer)
	}
}
