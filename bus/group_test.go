package bus_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/appnet-go/appnet/bus"
	"github.com/appnet-go/appnet/internal/testnet"
)

var whoAmI = bus.Connect("test.whoami", func(ctx context.Context, _ struct{}) (string, error) {
	p, _ := bus.FromContext(ctx)
	return string(p.ID()), nil
})

func TestGroupCallsAndScatterGather(t *testing.T) {
	t.Parallel()
	host, port := testnet.Host(t), testnet.Ports(t)
	start := func(group string) *bus.Peer {
		cfg := bus.DefaultLocalConfig()
		cfg.Host, cfg.PortStart, cfg.Group = host, port, group
		bus.WithRegistry(bus.DefaultRegistry())(&cfg)
		p, err := bus.Start(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	workers := map[bus.ID]bool{}
	for range 3 {
		workers[start("workers").ID()] = true
	}
	caller := start("clients")
	ctx := context.Background()

	seen := map[bus.ID]int{}
	for range 60 {
		out, from, err := whoAmI.OnGroup("workers").Via(caller).Call(ctx, struct{}{})
		if err != nil {
			t.Fatal(err)
		}
		if out != string(from) || !workers[from] {
			t.Fatalf("answer %q from %q", out, from)
		}
		seen[from]++
	}
	if len(seen) < 2 {
		t.Errorf("queue group spread 60 calls over %d peers: %v", len(seen), seen)
	}

	start2 := time.Now()
	answers, err := whoAmI.OnGroup("workers").Via(caller).All(ctx, struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	if len(answers) != 3 {
		t.Fatalf("scatter-gather: %d answers, want 3: %+v", len(answers), answers)
	}
	for _, a := range answers {
		if a.Err != nil || a.Value != string(a.Peer) || !workers[a.Peer] {
			t.Errorf("answer %+v", a)
		}
	}
	// It knew to expect three: it did not wait for a timeout.
	if d := time.Since(start2); d > 2*time.Second {
		t.Errorf("scatter-gather took %s", d)
	}

	_, _, err = whoAmI.OnGroup("nobody").Via(caller).Call(ctx, struct{}{})
	if !errors.Is(err, bus.ErrUnreachable) {
		t.Errorf("empty group: %v, want ErrUnreachable", err)
	}
	_, err = whoAmI.OnGroup("nobody").Via(caller).All(ctx, struct{}{})
	if !errors.Is(err, bus.ErrUnreachable) {
		t.Errorf("empty group scatter-gather: %v, want ErrUnreachable", err)
	}
}
