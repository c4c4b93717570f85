package discovery

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/appnet-go/appnet/internal/peer"
)

// A leaf passes its hub one subscription for the membership changes, not
// one per change subject, none for the hubs' sync requests, and one of
// its own, net.peer.<ID>.>, that takes its calls and the replies to its
// requests alike (no reply inbox): a hub passes each of its leaves'
// subscriptions on to the other hubs, weighs each against all of its own
// leaves, and passes each subscription no other peer shares to every
// leaf, so each one a peer holds costs the whole network at every
// attachment.
func TestALeafPassesItsHubFewSubscriptions(t *testing.T) {
	t.Parallel()
	_, hub, leaf, _ := hubWithLeaf(t)
	// A request and a gather of the leaf's own: nats.go would subscribe
	// its reply inbox at the first request, and the gatherer its own at
	// the first gather.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := leaf.Caller.Request(ctx, peer.CallSubject(hub.ID(), peer.ConnNull), nil); err != nil {
		t.Fatalf("the leaf's request to its hub: %v", err)
	}
	answers := 0
	if err := leaf.Caller.Gather(ctx, &nats.Msg{Subject: peer.DiscoverSubject}, func(*nats.Msg) bool { answers++; return answers < 2 }); err != nil {
		t.Fatalf("the leaf's gather: %d answers, %v; want 2 (the hub and itself)", answers, err)
	}
	own := peer.OwnPrefix(leaf.ID()) + ">"
	var subs []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		lz, err := hub.Server().NATS().Leafz(&natsserver.LeafzOptions{Subscriptions: true})
		if err != nil {
			t.Fatal(err)
		}
		subs = nil
		for _, l := range lz.Leafs {
			if l.Name == string(leaf.ID()) {
				subs = l.Subs
			}
		}
		if slices.Contains(subs, own) {
			break // the leaf's subscriptions have reached the hub
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s the hub holds no %s from its leaf; it holds %v", own, subs)
		}
	}
	var member, mine []string
	for _, s := range subs {
		switch {
		case strings.HasPrefix(s, peer.SubjectRoot+".member.") || strings.HasPrefix(s, peer.MemberSyncSubject):
			member = append(member, s)
		case strings.Contains(s, string(leaf.ID())) || strings.HasPrefix(s, "_INBOX."):
			mine = append(mine, s)
		}
	}
	if want := []string{peer.MemberChanges}; !slices.Equal(member, want) {
		t.Errorf("the leaf's membership subscriptions at its hub are %v, want %v", member, want)
	}
	if want := []string{own}; !slices.Equal(mine, want) {
		t.Errorf("the leaf's own subscriptions at its hub are %v, want %v (its calls and its replies)", mine, want)
	}
}
