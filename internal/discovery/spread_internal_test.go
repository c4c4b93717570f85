package discovery

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/appnet-go/appnet/internal/peer"
	"github.com/appnet-go/appnet/internal/testnet"
)

// A leaf of a hub with more than its share moves, by the chance that
// makes the expected movers the excess, to the hub with the fewest; a
// leaf of a hub within its share stays.
func TestALeafOfAnOverloadedHubMovesToTheLeastLoaded(t *testing.T) {
	t.Parallel()
	d := unjoinedLeaf(t)
	host := d.p.Config().Host
	hub := func(port int) peer.Info {
		return peer.Info{ID: peer.NewID(host, port, "None"), Role: peer.RoleHub, Leaf: fmt.Sprintf("nats://%s:%d", host, port+1),
			Started: time.Unix(int64(port), 0), FriendlyID: peer.FriendlyID{Host: host, Port: port, Group: "None"}}
	}
	a, b, c := hub(1000), hub(2000), hub(3000)
	leaves := 0
	attach := func(to peer.Info, k int) {
		for range k {
			leaves++
			d.view.join(peer.Info{ID: peer.ID(fmt.Sprint("leaf", leaves)), Role: peer.RoleLeaf, Leaves: []string{string(to.ID)}})
		}
	}
	d.view.join(a)
	d.view.join(b)
	attach(a, 30) // with this leaf, 31 of 36: a fair share is 18
	attach(b, 5)

	mine, target, chance := d.spreadTarget(a.ID)
	if mine != 31 || target.ID != b.ID || math.Abs(chance-13.0/31) > 1e-9 {
		t.Fatalf("31 of 36 leaves on one of 2 hubs: load %d, target %q, chance %.3f; want 31, the other hub, 13/31", mine, target.ID, chance)
	}
	if _, target, _ := d.spreadTarget(b.ID); target.ID != "" {
		t.Fatalf("a leaf of the hub with 6 leaves of 36 moves to %q", target.ID)
	}

	d.view.join(c)
	attach(c, 2) // 31, 5 and 2 of 38
	if _, target, _ := d.spreadTarget(a.ID); target.ID != c.ID {
		t.Fatalf("with a third hub of 2 leaves, the target is %q, want it", target.ID)
	}
	attach(b, 10)
	attach(c, 12) // 31, 15 and 14 of 60: a fair share is 20, and 31 exceeds it
	if _, target, chance := d.spreadTarget(a.ID); target.ID != c.ID || math.Abs(chance-6.0/31) > 1e-9 {
		t.Fatalf("31, 15 and 14 leaves: target %q, chance %.3f, want the third hub, 6/31", target.ID, chance)
	}
	attach(b, 12)
	attach(c, 13) // 31, 27 and 27 of 85: a fair share is 28.3, and 31 within a fifth of it
	if _, target, _ := d.spreadTarget(a.ID); target.ID != "" {
		t.Fatalf("31, 27 and 27 leaves: a leaf moves to %q, want it to stay", target.ID)
	}
}

// A leaf of an overloaded hub looks at the hubs' loads only while every
// hub's last digest says its view is the leaf's own.
func TestLeavesSpreadOnlyWhileTheHubsViewsAgree(t *testing.T) {
	t.Parallel()
	d := unjoinedLeaf(t)
	d.net.resync = make(chan peer.ID, 1)
	host := d.p.Config().Host
	var hubs []peer.Info
	for _, port := range []int{1000, 2000} {
		h := peer.Info{ID: peer.NewID(host, port, "None"), Role: peer.RoleHub, Leaf: fmt.Sprintf("nats://%s:%d", host, port+1),
			Started: time.Unix(int64(port), 0), FriendlyID: peer.FriendlyID{Host: host, Port: port, Group: "None"}}
		d.view.join(h)
		hubs = append(hubs, h)
	}
	for i := range 30 { // all on the first hub
		d.view.join(peer.Info{ID: peer.ID(fmt.Sprint("leaf", i)), Role: peer.RoleLeaf, Leaves: []string{string(hubs[0].ID)}})
	}
	n := &d.net
	n.synced = true
	changedAgo(d, time.Minute)
	n.spreadHubs, n.hubsSince = hubIDs(d.hubs()), time.Now().Add(-time.Minute)
	looks := func() bool {
		n.spreadAt, n.spreadSeen = time.Time{}, 0
		d.spread()
		return !n.spreadAt.IsZero()
	}
	if looks() {
		t.Fatal("a leaf that has no digest from the hubs looked at their loads")
	}
	peers, sum := d.ownDigest()
	d.compareDigest(peer.MemberDigest{Hub: hubs[0].ID, Peers: peers, Sum: sum})
	d.compareDigest(peer.MemberDigest{Hub: hubs[1].ID, Peers: peers - 1, Sum: "0"})
	if looks() {
		t.Fatal("a leaf looked at the hubs' loads while a hub's view differed from its own")
	}
	d.compareDigest(peer.MemberDigest{Hub: hubs[1].ID, Peers: peers, Sum: sum})
	if !looks() {
		t.Fatal("a leaf whose view every hub's digest gave did not look at the hubs' loads")
	}
}

// Ten leaves on the one hub of a network stay there when a second hub
// joins it, until the leaves spread: then each hub carries some, and none
// was reported failed on its way.
func TestLeavesSpreadOverANewHub(t *testing.T) {
	t.Parallel()
	host := testnet.Host(t)
	testnet.MustLoopback(t, host)
	a, aD := joined(t, host, testnet.Ports(t))
	failed := make(chan string, 16)
	if _, err := a.Conn().Subscribe(peer.MemberFailSubject, func(m *nats.Msg) {
		select {
		case failed <- string(m.Data):
		default:
		}
	}); err != nil {
		t.Fatal(err)
	}
	var leaves []*Discoverer
	for range 10 {
		_, d := joined(t, host, testnet.Ports(t), a.HubAddr())
		attachedTo(t, d, a.ID(), 10*time.Second)
		leaves = append(leaves, d)
	}
	cfg := peer.DefaultLocalConfig()
	cfg.Host, cfg.PortStart, cfg.Registry, cfg.Hub = host, testnet.Ports(t), peer.NewRegistry(), true
	b, err := peer.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	bD := New(b)
	if err := bD.Join(context.Background(), []peer.HubAddr{a.HubAddr()}); err != nil {
		b.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { bD.Leave(); b.Close() })

	deadline := time.Now().Add(time.Minute)
	for {
		onB := 0
		for _, d := range leaves {
			if hub, conn := d.p.Server().Attachment(); conn != 0 && hub == string(b.ID()) {
				onB++
			}
		}
		if !overloaded(onB, 5) && !overloaded(10-onB, 5) { // 2 to 8 on each
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a minute, %d of 10 leaves are on the new hub, want 2 to 8 (neither hub a fifth and 3 leaves above its share)", onB)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, hubD := range []*Discoverer{aD, bD} {
		if got := len(hubD.view.snapshot()); got != 11 {
			t.Errorf("a hub's view holds %d peers after the leaves spread, want all 11 others", got)
		}
	}
	select {
	case gone := <-failed:
		t.Fatalf("a peer was reported failed while the leaves spread: %s", gone)
	default:
	}
}
