package discovery

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/appnet-go/appnet/internal/peer"
	"github.com/appnet-go/appnet/internal/testnet"
)

// A hub that has not loaded the network's view leaves the hubs' sync
// requests, its own leaves' included, to the hubs that know the network,
// and takes its share once it knows it.
func TestAHubServesTheViewOnceItKnowsTheNetwork(t *testing.T) {
	t.Parallel()
	host, hubA, leaf, _ := hubWithLeaf(t)

	// Hub B, routed to A, whose view is empty: it joined a moment ago.
	cfg := peer.DefaultLocalConfig()
	cfg.Host, cfg.PortStart, cfg.Registry, cfg.Hub = host, testnet.Ports(t), peer.NewRegistry(), true
	pB, err := peer.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pB.Close() })
	if err := pB.Server().AddRoutes(hubA.HubAddr().Cluster); err != nil {
		t.Fatal(err)
	}
	awaitRoutes(context.Background(), pB.Server(), []peer.HubAddr{hubA.HubAddr()})
	b := New(pB)
	b.net.stop, b.net.joinedAt = make(chan struct{}), time.Now()
	t.Cleanup(func() { close(b.net.stop) })
	if err := b.subscribe(); err != nil {
		t.Fatal(err)
	}

	// ask sends one sync request, from a client of B's own (a hub answers
	// a client's repeats within syncRepeat once), and returns who answered
	// (a hub's answer begins with its own info) and the members.
	ask := func() (from peer.ID, members map[peer.ID]bool) {
		t.Helper()
		nc, err := nats.Connect(pB.Server().ClientURL(), pB.ClientOptions()...)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		// A's queue subscription reaches B a moment after the route is
		// up: "no responders" until then.
		var m *nats.Msg
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if m, err = nc.Request(peer.MemberSyncSubject, nil, 5*time.Second); err == nil {
				break
			}
			if !errors.Is(err, nats.ErrNoResponders) || time.Now().After(deadline) {
				t.Fatalf("a sync request from a client of hub B: %v", err)
			}
		}
		snap, err := peer.Decode[peer.MemberSnapshot](m.Data)
		if err != nil || len(snap.Members) == 0 {
			t.Fatalf("a sync answer of %d members: %v", len(snap.Members), err)
		}
		members = map[peer.ID]bool{}
		for _, info := range snap.Members {
			members[info.ID] = true
		}
		return snap.Members[0].ID, members
	}
	// Clients of B get A's view, which holds A's leaf.
	for range 5 {
		if from, members := ask(); from != hubA.ID() || !members[leaf.ID()] {
			t.Fatalf("a client of a hub that does not know the network got the view of %s (A is %s), with A's leaf: %v", from, hubA.ID(), members[leaf.ID()])
		}
	}
	if b.net.sharedSync != nil {
		t.Fatal("a hub that does not know the network joined the hubs' sync queue")
	}

	// Once B knows the network it takes its share (NATS prefers the
	// local member of a queue group).
	b.knowsNetwork.Store(true)
	if err := b.serveSync(); err != nil {
		t.Fatal(err)
	}
	if err := pB.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if from, _ := ask(); from == pB.ID() {
			return
		}
	}
	t.Fatal("a hub that knows the network answered none of 20 sync requests of its own client")
}

// A hub answers a sync request that names its own digest in a few bytes
// (the asker's view is its own), and one that names another digest, or
// none, with its whole view.
func TestASyncNamingTheHubsDigestIsAnsweredInAFewBytes(t *testing.T) {
	t.Parallel()
	_, hub, leaf, d := hubWithLeaf(t)
	ask := func(peers int, sum string) peer.MemberSnapshot {
		t.Helper()
		var data []byte
		if sum != "" {
			var err error
			if data, err = peer.Encode(peer.MemberSyncAsk{Peers: peers, Sum: sum}); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		snap, err := d.sync(ctx, peer.MemberSyncSubject, data)
		if err != nil {
			t.Fatal(err)
		}
		return snap
	}
	// The hub's view holds the leaf once it heard its join: until then
	// their digests differ.
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, sum := d.ownDigest()
		snap := ask(n, sum)
		if snap.Same {
			if len(snap.Members) != 0 {
				t.Fatalf("an answer that says the view is the same holds %d members", len(snap.Members))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a sync naming the leaf's digest (%d peers, %s) still gets the whole view (%d members) after 10 s", n, sum, len(snap.Members))
		}
		time.Sleep(50 * time.Millisecond)
	}
	n, _ := d.ownDigest()
	for _, snap := range []peer.MemberSnapshot{ask(n, "0"), ask(0, "")} {
		ids := map[peer.ID]bool{}
		for _, info := range snap.Members {
			ids[info.ID] = true
		}
		if snap.Same || !ids[hub.ID()] || !ids[leaf.ID()] {
			t.Fatalf("a sync naming another digest, or none, got same %v and %d members (hub %v, leaf %v); want the whole view", snap.Same, len(snap.Members), ids[hub.ID()], ids[leaf.ID()])
		}
	}
}

// A hub answers a sync request that lists the hashes of the asker's view
// with the difference: its members the list lacks, and the hashes listed
// that are none of its members'. The asker keeps the members of the
// other hashes.
func TestASyncListingTheAskersViewIsAnsweredWithTheDifference(t *testing.T) {
	t.Parallel()
	_, hub, _, d := hubWithLeaf(t)
	hubHash := ""
	deadline := time.Now().Add(10 * time.Second)
	for hubHash == "" {
		if info, ok := d.view.get(hub.ID()); ok {
			hubHash = strconv.FormatUint(memberHash(info), 16)
		} else if time.Now().After(deadline) {
			t.Fatal("the leaf's view lacks its hub after 10 s")
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	// The leaf's view as the hub's would be, but for the hub, which it
	// lacks, and a member the hub does not know.
	const stranger = "123abc"
	ask := d.view.syncAsk(d.digestSelf())
	if !slices.Contains(ask.Have, hubHash) {
		t.Fatalf("the hashes of the leaf's view %v lack its hub's %s", ask.Have, hubHash)
	}
	ask.Have = append(slices.DeleteFunc(ask.Have, func(h string) bool { return h == hubHash }), stranger)
	ask.Sum = "0" // what it sums is not the hub's view
	data, err := peer.Encode(ask)
	if err != nil {
		t.Fatal(err)
	}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		snap, err := d.sync(ctx, peer.MemberSyncSubject, data)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if !snap.Delta {
			t.Fatalf("a sync listing the asker's hashes got the whole view (%d members, same %v), want the difference", len(snap.Members), snap.Same)
		}
		if len(snap.Members) == 2 && time.Now().Before(deadline) {
			continue // the hub has yet to hear the leaf's join
		}
		if len(snap.Members) != 1 || snap.Members[0].ID != hub.ID() || !slices.Equal(snap.Drop, []string{stranger}) {
			var ids []peer.ID
			for _, info := range snap.Members {
				ids = append(ids, info.ID)
			}
			t.Fatalf("the difference holds members %v and drops %v; want the hub %s, and %s dropped", ids, snap.Drop, hub.ID(), stranger)
		}
		break
	}

	members, self := d.kept([]string{hubHash})
	if _, ok := members[hub.ID()]; ok || !self {
		t.Fatalf("a difference that drops the hub's hash kept the hub (%v) or lost the leaf itself (kept: %v)", ok, self)
	}
	selfHash := strconv.FormatUint(memberHash(d.digestSelf()), 16)
	members, self = d.kept([]string{selfHash})
	if _, ok := members[hub.ID()]; !ok || self {
		t.Fatalf("a difference that drops the leaf's own hash lost the hub (kept: %v) or kept the leaf (%v)", ok, self)
	}
}
