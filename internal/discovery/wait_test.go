package discovery_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/appnet-go/appnet/bus"
	"github.com/appnet-go/appnet/internal/peer"
)

// Wait returns a peer of the view only once it answers through the
// network: a hub hears of a member from another hub before its own route
// to that member's server carries the member's interest, and an event
// emitted then misses the member (the simple_subscription example's hub
// emitted to a listener whose route was still coming up).
func TestWaitReturnsOnlyPeersThatAnswer(t *testing.T) {
	t.Parallel()
	cfg := localConfig(t)
	ctx := context.Background()
	first, err := bus.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()

	// A peer whose server is up but not part of the network, told to
	// first's view as if another hub had passed its join on.
	stranger, err := peer.Start(ctx, cfg, peer.AsLeaf())
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	announceJoin(t, first, stranger.Info())
	wctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	got, err := first.Wait(wctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "0 answered") {
		t.Fatalf("Wait with only an unreachable peer in the view = %s, %v; want the deadline, saying none answered", got.ID, err)
	}

	second, err := bus.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	wctx, cancel = context.WithTimeout(ctx, 10*time.Second)
	found, err := first.WaitN(wctx, 1)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	if _, in := found.Peers[second.ID()]; !in || len(found.Peers) != 1 {
		t.Fatalf("WaitN(1) = %v, want the second peer only (not the unreachable %s)", found.IDs(), stranger.ID())
	}
}
