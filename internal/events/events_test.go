package events_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/appnet-go/appnet/bus"
	"github.com/appnet-go/appnet/internal/events"
	"github.com/appnet-go/appnet/internal/lower"
	"github.com/appnet-go/appnet/internal/peer"
	"github.com/appnet-go/appnet/internal/testnet"
)

// start starts a peer on host in the range from port, meshed with the
// peers already on host.
func start(t *testing.T, host string, port int, opts ...peer.Option) *bus.Peer {
	t.Helper()
	testnet.MustLoopback(t, host)
	cfg := peer.DefaultLocalConfig()
	cfg.Host, cfg.PortStart, cfg.Registry = host, port, peer.NewRegistry()
	p, err := bus.Start(context.Background(), cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// collector gathers deliveries and errors.
type collector[T any] struct {
	mu   sync.Mutex
	got  []events.Delivery[T]
	errs []error
	more chan struct{}
}

func newCollector[T any]() *collector[T] { return &collector[T]{more: make(chan struct{}, 1<<16)} }

func (c *collector[T]) handle(_ context.Context, d events.Delivery[T]) {
	c.mu.Lock()
	c.got = append(c.got, d)
	c.mu.Unlock()
	c.more <- struct{}{}
}

func (c *collector[T]) onError(err error) {
	c.mu.Lock()
	c.errs = append(c.errs, err)
	c.mu.Unlock()
	c.more <- struct{}{}
}

// waitN waits until n deliveries and errors in all have come.
func (c *collector[T]) waitN(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		have := len(c.got) + len(c.errs)
		c.mu.Unlock()
		if have >= n {
			return
		}
		select {
		case <-c.more:
		case <-deadline:
			t.Fatalf("got %d deliveries and errors, want %d", have, n)
		}
	}
}

func TestEmitReachesSubscribersInOrder(t *testing.T) {
	t.Parallel()
	host, port := testnet.Host(t), testnet.Ports(t)
	emitter := start(t, host, port)
	a := start(t, host, port)
	b := start(t, host, port)
	cs := []*collector[int]{newCollector[int](), newCollector[int](), newCollector[int]()}
	for i, p := range []*bus.Peer{a, b, emitter} {
		if _, err := events.Subscribe(lower.Peer(p), "count.up", cs[i].handle, events.OnError(cs[i].onError)); err != nil {
			t.Fatal(err)
		}
	}
	waitInterest(t, emitter, "count.up", 3)
	const n = 2000
	for i := range n {
		if err := events.Emit(lower.Peer(emitter), "count.up", i); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range cs {
		c.waitN(t, n)
		for i, d := range c.got {
			if d.Value != i || d.From != emitter.ID() || d.Event != "count.up" {
				t.Fatalf("delivery %d = %+v, want value %d from %s", i, d, i, emitter.ID())
			}
		}
		if len(c.errs) > 0 {
			t.Errorf("errors: %v", c.errs)
		}
	}
}

func TestFiltersMapToSubjects(t *testing.T) {
	t.Parallel()
	_, hosts := testnet.Subnet(t, 2)
	port := testnet.Ports(t)
	app := start(t, hosts[0], port, peer.WithGroup("app"))
	hub := start(t, hosts[0], port, peer.WithGroup("app"), peer.WithHub(true))
	other := start(t, hosts[0], port, peer.WithGroup("other"))
	far := start(t, hosts[1], port, peer.WithGroup("app"))
	if err := lower.Peer(far).Server().AddRoutes(app.Info().Cluster); err != nil {
		t.Fatal(err)
	}
	listener := start(t, hosts[0], port, peer.WithGroup("app"))

	cases := map[string][]events.Option{
		"default":  nil,
		"groups":   {events.Groups("other")},
		"hubs":     {events.HubsOnly()},
		"peers":    {events.Peers(other.ID(), far.ID())},
		"on-host":  {events.OnHost()},
		"all-both": {events.Groups("app", "other")},
	}
	want := map[string][]peer.ID{
		"default":  {app.ID(), hub.ID(), far.ID()},
		"groups":   {other.ID()},
		"hubs":     {hub.ID()},
		"peers":    {other.ID(), far.ID()},
		"on-host":  {app.ID(), hub.ID()},
		"all-both": {app.ID(), hub.ID(), other.ID(), far.ID()},
	}
	cs := map[string]*collector[string]{}
	for name, opts := range cases {
		cs[name] = newCollector[string]()
		if _, err := events.Subscribe(lower.Peer(listener), "ping", cs[name].handle, opts...); err != nil {
			t.Fatal(err)
		}
	}
	emitters := []*bus.Peer{app, hub, other, far}
	waitMeshed(t, far, listener)
	for _, e := range emitters {
		waitInterest(t, e, "ping", 1)
	}
	for _, e := range emitters {
		if err := events.Emit(lower.Peer(e), "ping", string(e.ID())); err != nil {
			t.Fatal(err)
		}
	}
	// A marker from every emitter to every subscription would be needed to
	// know that nothing more comes; instead wait for the expected count,
	// then flush one more round trip and check nothing extra arrived.
	for name, c := range cs {
		c.waitN(t, len(want[name]))
	}
	if err := listener.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // only to catch extras; correctness does not depend on it
	for name, c := range cs {
		c.mu.Lock()
		got := map[peer.ID]bool{}
		for _, d := range c.got {
			got[d.From] = true
		}
		c.mu.Unlock()
		if len(got) != len(want[name]) || len(c.got) != len(want[name]) {
			t.Errorf("%s: heard %v, want %v", name, got, want[name])
			continue
		}
		for _, id := range want[name] {
			if !got[id] {
				t.Errorf("%s: did not hear %s", name, id)
			}
		}
	}
}

func TestBadValuesAndPanicsAreReportedAndDeliveryGoesOn(t *testing.T) {
	t.Parallel()
	host, port := testnet.Host(t), testnet.Ports(t)
	p := start(t, host, port)
	c := newCollector[int]()
	handler := func(ctx context.Context, d events.Delivery[int]) {
		if d.Value == 13 {
			panic("unlucky")
		}
		c.handle(ctx, d)
	}
	sub, err := events.Subscribe(lower.Peer(p), "n", handler, events.OnError(c.onError))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []any{1, "not a number", 13, 2} {
		if err := events.Emit(lower.Peer(p), "n", v); err != nil {
			t.Fatal(err)
		}
	}
	c.waitN(t, 4)
	if len(c.got) != 2 || c.got[0].Value != 1 || c.got[1].Value != 2 || len(c.errs) != 2 {
		t.Fatalf("got %+v, errors %v", c.got, c.errs)
	}
	if info := p.Info(); len(info.Subscriptions) != 1 || info.Subscriptions[0] != "n" {
		t.Errorf("info subscriptions = %v", info.Subscriptions)
	}
	sub.Close()
	if info := p.Info(); len(info.Subscriptions) != 0 {
		t.Errorf("after Close, info subscriptions = %v", info.Subscriptions)
	}
}

func TestSlowSubscriberDropsAreReported(t *testing.T) {
	t.Parallel()
	host, port := testnet.Host(t), testnet.Ports(t)
	p := start(t, host, port)
	release := make(chan struct{})
	var errs []error
	var mu sync.Mutex
	sub, err := events.Subscribe(lower.Peer(p), "flood", func(context.Context, events.Delivery[int]) { <-release },
		events.Buffer(10), events.OnError(func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if err := events.Emit(lower.Peer(p), "flood", i); err != nil {
			t.Fatal(err) // the emitter never fails because of a subscriber
		}
	}
	if err := p.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for sub.Dropped() == 0 || p.Info().EventsDropped == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no drop counted: %d", sub.Dropped())
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	deadline = time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(errs)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the drop was not reported through OnError")
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if !errors.Is(errs[0], events.ErrDropped) {
		t.Errorf("reported %v, want ErrDropped", errs[0])
	}
}

func TestNamesAndNoSubscribers(t *testing.T) {
	t.Parallel()
	p := start(t, testnet.Host(t), testnet.Ports(t))
	for _, bad := range []string{"", "a b", "a.*", ">", "a..b", "x.>"} {
		if err := events.Emit(lower.Peer(p), bad, 1); !errors.Is(err, events.ErrInvalidEvent) {
			t.Errorf("Emit(%q) = %v, want ErrInvalidEvent", bad, err)
		}
		if _, err := events.Subscribe(lower.Peer(p), bad, func(context.Context, events.Delivery[int]) {}); !errors.Is(err, events.ErrInvalidEvent) {
			t.Errorf("Subscribe(%q) = %v, want ErrInvalidEvent", bad, err)
		}
	}
	if err := events.Emit(lower.Peer(p), "nobody.listens", map[string]int{"x": 1}); err != nil {
		t.Errorf("emit without subscribers: %v", err)
	}
	if err := events.Emit(lower.Peer(p), "bad.value", func() {}); err == nil {
		t.Error("a value that does not encode was accepted")
	}
	if got := events.Subject("g", true, "ID", "a.b"); got != "net.event.g.hub.ID.a.b" {
		t.Errorf("Subject = %s", got)
	}
}

// waitInterest waits until n subscribers of event are visible from p:
// NATS propagates interest through routes asynchronously.
func waitInterest(t *testing.T, p *bus.Peer, event string, n int) {
	t.Helper()
	subject := events.Subject(p.Config().Group, p.Config().Hub, p.ID(), event)
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := lower.Peer(p).Server().NATS().GlobalAccount().Interest(subject)
		if r >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("interest in %s: %d, want %d", subject, r, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func waitMeshed(t *testing.T, a, b *bus.Peer) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := a.Conn().Request(peer.CallSubject(b.ID(), "info"), nil, 200*time.Millisecond)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(fmt.Errorf("%s cannot reach %s: %w", a.ID(), b.ID(), err))
		}
		time.Sleep(2 * time.Millisecond)
	}
}
