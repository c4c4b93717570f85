package discovery

import (
	"context"
	"testing"
	"time"
)

// A leaf promoted to hub waits, before it routes, until the hub it left
// answers "no responders" for it, and a margin more; it does not wait for
// a hub that is gone.
func TestAPromotedLeafWaitsUntilItsHubLetsGo(t *testing.T) {
	t.Parallel()
	_, hub, leaf, d := hubWithLeaf(t)
	hubInfo := infoOf(t, hub)

	type result struct {
		forgotten bool
		at        time.Time
	}
	done := make(chan result, 1)
	go func() {
		ok := d.waitForgotten(context.Background(), hubInfo)
		done <- result{ok, time.Now()}
	}()
	// While the leaf is attached, its hub reaches it.
	select {
	case r := <-done:
		t.Fatalf("waitForgotten returned %v while the hub still reached the leaf", r.forgotten)
	case <-time.After(300 * time.Millisecond):
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := leaf.SetRole(ctx, true); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	r := <-done
	if !r.forgotten {
		t.Fatalf("waitForgotten gave up after %s; the hub should have let go of the leaf's closed connection", handoverWait)
	}
	if r.at.Sub(restarted) < handoverMargin-50*time.Millisecond {
		t.Errorf("waitForgotten returned %s after the restart, want at least the margin of %s", r.at.Sub(restarted), handoverMargin)
	}

	hub.Close()
	start := time.Now()
	if d.waitForgotten(context.Background(), hubInfo) {
		t.Error("waitForgotten said a closed hub let go")
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("waitForgotten waited %s for a closed hub", took)
	}
}
