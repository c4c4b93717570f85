package discovery

import (
	"slices"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/appnet-go/appnet/internal/peer"
)

// A leaf passes its hub one subscription for the membership changes, not
// one per change subject, and none for the hubs' sync requests: a hub
// passes each of its leaves' subscriptions on to the other hubs and
// weighs it against all of its own leaves, so each one a peer holds costs
// the whole network at every attachment.
func TestALeafPassesItsHubOneMembershipSubscription(t *testing.T) {
	t.Parallel()
	_, hub, leaf, _ := hubWithLeaf(t)
	calls := peer.CallSubject(leaf.ID(), "") + ">"
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
		if slices.Contains(subs, calls) {
			break // the leaf's subscriptions have reached the hub
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s the hub holds no %s from its leaf; it holds %v", calls, subs)
		}
	}
	var member []string
	for _, s := range subs {
		if strings.HasPrefix(s, peer.SubjectRoot+".member.") || strings.HasPrefix(s, peer.MemberSyncSubject) {
			member = append(member, s)
		}
	}
	if want := []string{peer.MemberChanges}; !slices.Equal(member, want) {
		t.Errorf("the leaf's membership subscriptions at its hub are %v, want %v", member, want)
	}
}
