package bus_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/appnet-go/appnet/bus"
	"github.com/appnet-go/appnet/internal/testnet"
)

// The same code runs against a NATS deployment: peers that are its
// clients (NET_NATS_URL), connected to different servers of it, find each
// other, call each other, call a group and hear each other's events.
func TestTheSameCodeRunsOnADeployment(t *testing.T) {
	t.Parallel()
	host, port := testnet.Host(t), testnet.Ports(t)
	urls := testnet.Deployment(t, host, 2)
	start := func(group, url string) *bus.Peer {
		t.Helper()
		cfg := bus.DefaultLocalConfig()
		cfg.Host, cfg.PortStart, cfg.Group, cfg.NATSURL = host, port, group, url
		bus.WithRegistry(bus.DefaultRegistry())(&cfg)
		p, err := bus.Start(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	a, b, c := start("workers", urls[0]), start("workers", urls[1]), start("clients", urls[0])
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// Discovery asks the deployment. Its servers learn each other's
	// subscriptions within milliseconds: ask until both workers answer.
	var found bus.Network
	for {
		var err error
		if found, err = c.Peers(ctx, bus.Groups("workers"), bus.Refresh()); err != nil {
			t.Fatal(err)
		}
		if len(found.Group("workers")) == 2 || ctx.Err() != nil {
			break
		}
	}
	if want := []bus.ID{a.ID(), b.ID()}; !slices.Equal(found.Group("workers"), want) {
		t.Fatalf("workers found: %v, want %v", found.Group("workers"), want)
	}
	// (Without Refresh, a's answer could be the one it cached at its start,
	// before b and c; it asks again every NET_SCAN_INTERVAL.)
	if all, err := a.Peers(ctx, bus.AllGroups(), bus.Refresh()); err != nil || len(all.Peers) != 2 || all.Peers[c.ID()].Group != "clients" {
		t.Errorf("a found %+v, %v; want b and c", all, err)
	}

	// A typed call, a group call and a scatter-gather.
	out, err := greet.On(b.ID()).Via(c).Call(ctx, greeting{Name: "Ada", Times: 2})
	if err != nil || out["hello"] != "Ada" {
		t.Fatalf("greet on b: %v, %v", out, err)
	}
	who, from, err := whoAmI.OnGroup("workers").Via(c).Call(ctx, struct{}{})
	if err != nil || who != string(from) || (from != a.ID() && from != b.ID()) {
		t.Fatalf("group call: %q from %q, %v", who, from, err)
	}
	answers, err := whoAmI.OnGroup("workers").Via(c).All(ctx, struct{}{})
	if err != nil || len(answers) != 2 {
		t.Fatalf("scatter-gather: %+v, %v", answers, err)
	}

	// Events from b (on the other server) reach a subscriber on a, in order.
	got := make(chan int, 200)
	sub, err := bus.NewEvent[int]("test.deployment", nil).Via(a).Subscribe(func(_ context.Context, d bus.Delivery[int]) {
		if d.From == b.ID() {
			got <- d.Value
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	tick := bus.NewEvent[int]("test.deployment", nil)
	for first := false; !first; {
		if err := tick.Via(b).Emit(-1); err != nil {
			t.Fatal(err)
		}
		select {
		case <-got:
			first = true
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("no event from b reached a within 20 s")
		}
	}
	for i := range 100 {
		if err := tick.Via(b).Emit(i); err != nil {
			t.Fatal(err)
		}
	}
	for want := 0; want < 100; {
		select {
		case v := <-got:
			if v == -1 {
				continue // a late probe
			}
			if v != want {
				t.Fatalf("event %d arrived where %d was due", v, want)
			}
			want++
		case <-ctx.Done():
			t.Fatalf("%d of 100 events arrived within 20 s", want)
		}
	}
}
