package discovery_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/appnet-go/appnet/bus"
	"github.com/appnet-go/appnet/internal/embedded"
	"github.com/appnet-go/appnet/internal/lower"
	"github.com/appnet-go/appnet/internal/peer"
)

// A leaf told that a member's server does not hear it attaches to its hub
// again, which sends its interest anew (nats-server can lose it, see
// interest.go), and does so at most once in a while however often it is
// told.
func TestAnUnheardLeafAttachesAgainOnce(t *testing.T) {
	t.Parallel()
	cfg := localConfig(t)
	ctx := context.Background()
	hub := startHub(t, cfg)
	leaf, err := bus.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer leaf.Close()
	srv := lower.Peer(leaf).Server()
	var first uint64
	waitFor(t, func() bool { _, first = srv.Attachment(); return first != 0 })

	tell := func() {
		t.Helper()
		m := nats.NewMsg(peer.CallSubject(leaf.ID(), peer.ConnInfo))
		m.Header.Set(peer.HeaderUnheard, "a-member")
		// A leaf that has just attached again is heard a moment later,
		// when the hub has its subscriptions: "no responders" until then.
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, err := hub.Conn().RequestMsg(m, 5*time.Second)
			if err == nil {
				return
			}
			if !errors.Is(err, nats.ErrNoResponders) || time.Now().After(deadline) {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	told := time.Now()
	tell()
	var second uint64
	waitFor(t, func() bool { _, second = srv.Attachment(); return second != 0 && second != first })
	if took := time.Since(told); took < embedded.ReattachPause {
		t.Errorf("attached again %s after it was told, want a pause of %s first", took, embedded.ReattachPause)
	}
	// Told again at once: nothing changes for a while.
	tell()
	time.Sleep(embedded.ReattachPause + 500*time.Millisecond)
	if _, now := srv.Attachment(); now != second {
		t.Fatalf("attached again (connection %d, then %d) when told a second time at once", second, now)
	}
}
