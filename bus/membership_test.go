package bus_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/appnet-go/appnet/bus"
	"github.com/appnet-go/appnet/internal/lower"
	"github.com/appnet-go/appnet/internal/peer"
	"github.com/nats-io/nats.go"
)

// slowStarted hears of every call of test.slow once it runs.
var slowStarted = make(chan struct{}, 64)

// slow sleeps for the duration it is given, or until its context ends.
var _ = bus.Connect("test.slow", func(ctx context.Context, d string) (string, error) {
	wait, err := time.ParseDuration(d)
	if err != nil {
		return "", err
	}
	select {
	case slowStarted <- struct{}{}:
	default:
	}
	select {
	case <-time.After(wait):
	case <-ctx.Done():
	}
	return d, nil
})

// next returns the next change of a watch, failing after a deadline.
func next(t *testing.T, ch <-chan bus.Change) bus.Change {
	t.Helper()
	select {
	case c, ok := <-ch:
		if !ok {
			t.Fatal("the watch ended")
		}
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no change within 5s")
	}
	return bus.Change{}
}

func TestWatchSeesJoinUpdateAndLeave(t *testing.T) {
	t.Parallel()
	ps := startPeers(t, 1)
	a := ps[0]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changes, err := a.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c := next(t, changes); c.Kind != bus.Resync || len(c.Peers.Peers) != 0 {
		t.Fatalf("first change = %v with %d peers, want an empty resync", c.Kind, len(c.Peers.Peers))
	}
	more := startMore(t, a, 2)
	b, c := more[0], more[1]
	seen := map[bus.ID]bool{}
	for range 2 {
		ch := next(t, changes)
		if ch.Kind != bus.Joined || ch.Info.ID != ch.ID {
			t.Fatalf("change = %+v, want a join", ch)
		}
		seen[ch.ID] = true
	}
	if !seen[b.ID()] || !seen[c.ID()] {
		t.Fatalf("joins of %v, want b and c", seen)
	}
	if err := b.SetValue("role", "render"); err != nil {
		t.Fatal(err)
	}
	if ch := next(t, changes); ch.Kind != bus.Updated || ch.ID != b.ID() || ch.Info.Values["role"] != "render" {
		t.Fatalf("change = %v %s %v, want b's update", ch.Kind, ch.ID, ch.Info.Values)
	}
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	got, err := a.Wait(wctx, bus.Value("role", "render"))
	wcancel()
	if err != nil || got.ID != b.ID() {
		t.Fatalf("Wait(role=render) = %s, %v; want b", got.ID, err)
	}
	start := time.Now()
	c.Close()
	if ch := next(t, changes); ch.Kind != bus.Left || ch.ID != c.ID() {
		t.Fatalf("change = %v %s, want c left", ch.Kind, ch.ID)
	}
	t.Logf("a graceful leave reached the watcher in %s", time.Since(start))
	found, _ := a.Peers(ctx)
	if _, ok := found.Peers[c.ID()]; ok || len(found.Peers) != 1 {
		t.Errorf("Peers after c left: %v", found.IDs())
	}
}

func TestWaitHonoursItsDeadline(t *testing.T) {
	t.Parallel()
	a := startPeers(t, 1)[0]
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := a.Wait(ctx, bus.Serving("nobody.serves.this"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v, want the deadline", err)
	}
}

func TestSlowWatcherGetsAResync(t *testing.T) {
	t.Parallel()
	ps := startPeers(t, 2)
	a, b := ps[0], ps[1]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changes, err := a.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c := next(t, changes); c.Kind != bus.Resync {
		t.Fatalf("first change = %v", c.Kind)
	}
	// Unread, the watch falls behind by more than its backlog.
	const updates = 1500
	for i := range updates {
		if err := b.SetValue("n", strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	last := strconv.Itoa(updates - 1)
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		found, _ := a.Peers(ctx)
		if found.Peers[b.ID()].Values["n"] == last {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("a's view never reached n=%s", last)
		}
	}
	// The first change queued before the watch fell behind may come
	// first; then the resync, with the view as it is now.
	for range 2 {
		c := next(t, changes)
		if c.Kind == bus.Resync {
			if got := c.Peers.Peers[b.ID()].Values["n"]; got != last {
				t.Fatalf("resync holds n=%s, want %s", got, last)
			}
			return
		}
	}
	t.Fatal("no resync after the watch fell behind")
}

// A call through another peer's server (not the direct path) to a peer
// that dies ends when the network says so, long before its deadline.
func TestCallThroughTheClusterFailsFastWhenItsPeerDies(t *testing.T) {
	t.Parallel()
	ps := startPeers(t, 3) // two hubs and a leaf
	hub, target := ps[0], ps[2]
	if target.Info().Role != "leaf" {
		t.Fatalf("the third peer is a %s, want a leaf", target.Info().Role)
	}
	// Its hub lists it: the hub sees its connection go, and reports it
	// within about 2 s. (A leaf that dies before its hub's loop has looked
	// at it is found by the slower path for newcomers: about 4.5 s.)
	deadline := time.Now().Add(5 * time.Second)
	for !slices.ContainsFunc(ps[:2], func(h *bus.Peer) bool { return slices.Contains(h.Info().Leaves, string(target.ID())) }) {
		if time.Now().After(deadline) {
			t.Fatal("no hub lists the leaf")
		}
		time.Sleep(10 * time.Millisecond)
	}
	nc, err := nats.Connect(lower.Peer(hub).Server().ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	caller := peer.NewCaller(nc, peer.NewRegistry(), 10*time.Second)
	if err := caller.WatchGone(); err != nil {
		t.Fatal(err)
	}
	if _, err := caller.Call(context.Background(), target.ID(), "test.slow", []byte(`"0s"`)); err != nil {
		t.Fatalf("a first call through the hub: %v", err)
	}
	<-slowStarted
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := caller.Call(context.Background(), target.ID(), "test.slow", []byte(`"9s"`))
		done <- err
	}()
	select {
	case <-slowStarted: // the call is in the handler
	case <-time.After(10 * time.Second):
		t.Fatal("the slow call never reached its handler")
	}
	lower.Peer(target).Server().Close() // the peer's server dies, saying nothing
	select {
	case err := <-done:
		if !errors.Is(err, bus.ErrUnreachable) {
			t.Fatalf("the call ended with %v, want ErrUnreachable", err)
		}
		t.Logf("the call ended %s after it started: %v", time.Since(start).Round(time.Millisecond), err)
		if time.Since(start) > 6*time.Second {
			t.Errorf("the call took %s to fail: want about 2 s, not its 10s deadline", time.Since(start))
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the call never ended")
	}
}

// Values and settings change on a running peer, reach watchers as
// updates, show in the micro metadata; what is the peer's ID cannot
// change, and bad values are refused.
func TestValuesAndRuntimeConfiguration(t *testing.T) {
	t.Parallel()
	ps := startPeers(t, 2)
	a, b := ps[0], ps[1]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := a.Wait(ctx); err != nil { // b is in a's view
		t.Fatal(err)
	}
	changes, err := a.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	next(t, changes) // the first resync
	if err := b.Reconfigure(bus.WithHub(true), bus.WithThreadLimit(9)); err != nil {
		t.Fatal(err)
	}
	if ch := next(t, changes); ch.Kind != bus.Updated || !ch.Info.Hub {
		t.Fatalf("change = %v hub=%v, want b's update as a hub", ch.Kind, ch.Info.Hub)
	}
	if b.Config().ThreadLimit != 9 {
		t.Errorf("thread limit %d after Reconfigure, want 9", b.Config().ThreadLimit)
	}
	for _, o := range []struct {
		opt  bus.Option
		name string
	}{{bus.WithGroup("other"), "NET_GROUP"}, {bus.WithHost("127.0.0.9"), "NET_HOST"}, {bus.WithSecret("s"), "NET_SECRET"}} {
		if err := b.Reconfigure(o.opt); !errors.Is(err, bus.ErrConfig) || !strings.Contains(err.Error(), o.name) {
			t.Errorf("Reconfigure changing %s: %v, want ErrConfig naming it", o.name, err)
		}
	}
	if err := b.SetValue("has space", "x"); !errors.Is(err, bus.ErrInvalidValue) {
		t.Errorf("SetValue with a bad key: %v, want ErrInvalidValue", err)
	}
	if err := b.SetValue("k", strings.Repeat("v", peer.MaxValueLen+1)); !errors.Is(err, bus.ErrInvalidValue) {
		t.Errorf("SetValue with a long value: %v, want ErrInvalidValue", err)
	}
	for i := range peer.MaxValues {
		if err := b.SetValue("k"+strconv.Itoa(i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.SetValue("one.too.many", "v"); !errors.Is(err, bus.ErrInvalidValue) {
		t.Errorf("value %d: %v, want ErrInvalidValue", peer.MaxValues+1, err)
	}
	b.DeleteValue("k0")
	m, err := a.Conn().Request("$SRV.INFO.None."+string(b.ID()), nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(m.Data), `"value.k1":"v"`) || strings.Contains(string(m.Data), `"value.k0"`) {
		t.Errorf("micro info metadata lacks the values: %s", m.Data)
	}
}

// A call to a peer that has just left ends at once with ErrUnreachable,
// even when the request is already on its way through a route that has not
// yet heard the peer's interest go (which drops it silently): about one
// round in seven took the call's whole 10 s deadline before.
func TestCallToAPeerThatJustLeftEndsAtOnce(t *testing.T) {
	t.Parallel()
	for round := range 5 {
		ps := startPeers(t, 3) // two hubs and a leaf
		caller, target := lower.Peer(ps[0]), ps[2]
		if _, err := caller.Call(context.Background(), target.ID(), peer.ConnInfo, nil); err != nil {
			t.Fatalf("round %d: a first call: %v", round, err)
		}
		if err := target.Close(); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err := caller.Call(context.Background(), target.ID(), peer.ConnInfo, nil)
		if !errors.Is(err, bus.ErrUnreachable) {
			t.Fatalf("round %d: the call to the peer that left: %v, want ErrUnreachable", round, err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("round %d: the call took %s to fail, want well under a second", round, took)
		}
		for _, p := range ps[:2] {
			p.Close()
		}
	}
}
