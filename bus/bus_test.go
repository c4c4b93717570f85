package bus_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/appnet-go/appnet/bus"
	"github.com/appnet-go/appnet/internal/testnet"
)

type greeting struct {
	Name  string  `json:"name"`
	Times int     `json:"times"`
	Score float64 `json:"score"`
}

var (
	greet = bus.Connect("test.greet", func(_ context.Context, g greeting) (map[string]any, error) {
		return map[string]any{"hello": g.Name, "times": g.Times, "score": g.Score, "tags": []string{"a"}, "none": nil}, nil
	})
	untagged = bus.Connect("", namedHandler)
	literal  = bus.Connect("", func(context.Context, int) (int, error) { return 0, nil })
	maybe    = bus.Connect("test.maybe", func(_ context.Context, n int) (int, error) {
		if n < 0 {
			return 0, bus.Raise("NEGATIVE")
		}
		return n, nil
	})
)

func namedHandler(_ context.Context, s string) (string, error) { return "named " + s, nil }

func init() {
	if err := bus.Flag("NEGATIVE", func(_ context.Context, r bus.FlagRequest) (any, error) {
		return -1, nil
	}); err != nil {
		panic(err)
	}
}

// startPeers starts n peers on one fresh loopback host, each joining the
// network of the ones before it.
func startPeers(t *testing.T, n int, opts ...bus.Option) []*bus.Peer {
	t.Helper()
	host, port := testnet.Host(t), testnet.Ports(t)
	testnet.MustLoopback(t, host)
	return startOn(t, host, port, n, opts...)
}

// startMore starts n more peers on the host and port range of p.
func startMore(t *testing.T, p *bus.Peer, n int, opts ...bus.Option) []*bus.Peer {
	t.Helper()
	return startOn(t, p.Config().Host, p.Config().PortStart, n, opts...)
}

func startOn(t *testing.T, host string, port, n int, opts ...bus.Option) []*bus.Peer {
	t.Helper()
	var peers []*bus.Peer
	for range n {
		cfg := bus.DefaultLocalConfig()
		cfg.Host, cfg.PortStart = host, port
		bus.WithRegistry(bus.DefaultRegistry())(&cfg)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		p, err := bus.Start(ctx, cfg, opts...)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		peers = append(peers, p)
	}
	return peers
}

func TestDiscoverAndCallAcrossPeers(t *testing.T) {
	t.Parallel()
	ps := startPeers(t, 3)
	ctx := context.Background()
	found, err := ps[2].Peers(ctx, bus.OnHost())
	if err != nil {
		t.Fatal(err)
	}
	want := []bus.ID{ps[0].ID(), ps[1].ID()}
	if got := found.Group("None"); !slices.Equal(got, want) {
		t.Fatalf("Group(None) = %v, want %v", got, want)
	}
	// The first peer never scanned after the others came: it learnt of them
	// through their routes, and can call them.
	arg := greeting{Name: "Ada", Times: 3, Score: 1.5}
	local, err := greet.Call(ctx, arg)
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []bus.ID{ps[1].ID(), ps[2].ID()} {
		remote, err := greet.On(target).Via(ps[0]).Call(ctx, arg)
		if err != nil {
			t.Fatal(err)
		}
		if !equalJSON(t, local, remote) {
			t.Errorf("remote %v != local %v", remote, local)
		}
	}
	out, err := untagged.On(ps[0].ID()).Via(ps[1]).Call(ctx, "x")
	if err != nil || out != "named x" || untagged.Name() != "bus_test.namedHandler" {
		t.Errorf("untagged %q: %q, %v", untagged.Name(), out, err)
	}
	n, err := maybe.On(ps[0].ID()).Via(ps[1]).Call(ctx, -5)
	if err != nil || n != -1 {
		t.Errorf("flagged call = %d, %v; want the NEGATIVE handler's -1", n, err)
	}
	if n, err := maybe.Call(ctx, -5); err != nil || n != -1 {
		t.Errorf("local flagged call = %d, %v; want -1", n, err)
	}
}

func TestFiltersAndCache(t *testing.T) {
	t.Parallel()
	host, port := testnet.Host(t), testnet.Ports(t)
	start := func(group string, hub bool) *bus.Peer {
		cfg := bus.DefaultLocalConfig()
		cfg.Host, cfg.PortStart, cfg.Group, cfg.Hub = host, port, group, hub
		bus.WithRegistry(bus.DefaultRegistry())(&cfg)
		p, err := bus.Start(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	me := start("app", false)
	hub := start("app", true)
	other := start("other", false)
	ctx := context.Background()
	mine, err := me.Peers(ctx, bus.OnHost(), bus.Refresh())
	if err != nil {
		t.Fatal(err)
	}
	if len(mine.Peers) != 1 || len(mine.Group("app")) != 1 {
		t.Errorf("default filter should keep my group only: %+v", mine.Groups)
	}
	all, _ := me.Peers(ctx, bus.OnHost(), bus.AllGroups())
	if len(all.Peers) != 2 || all.Group("other")[0] != other.ID() {
		t.Errorf("AllGroups: %+v", all.Groups)
	}
	hubs, _ := me.Peers(ctx, bus.OnHost(), bus.AllGroups(), bus.HubsOnly())
	if len(hubs.Peers) != 1 || hubs.Group("app")[0] != hub.ID() {
		t.Errorf("HubsOnly: %+v", hubs.Groups)
	}
	// A peer that leaves is gone after a refresh (or sooner: the cache is
	// refilled once its route goes).
	other.Close()
	refreshed, _ := me.Peers(ctx, bus.OnHost(), bus.AllGroups(), bus.Refresh())
	if _, still := refreshed.Peers[other.ID()]; still || len(refreshed.Peers) != 1 {
		t.Errorf("after a refresh: %v; want the hub only", refreshed.IDs())
	}
}

func TestUnknownConnectionNamesPeerAndConnections(t *testing.T) {
	t.Parallel()
	ps := startPeers(t, 2)
	ghost := bus.Connect("test.ghost", func(context.Context, int) (int, error) { return 0, nil })
	cfg := bus.DefaultLocalConfig()
	cfg.Host, cfg.PortStart = ps[0].Config().Host, ps[0].Config().PortStart
	bare, err := bus.Start(context.Background(), cfg, bus.WithRegistry(bus.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	_, err = ghost.On(bare.ID()).Via(ps[0]).Call(context.Background(), 1)
	if !errors.Is(err, bus.ErrInvalidConnection) {
		t.Fatalf("err = %v, want ErrInvalidConnection", err)
	}
	for _, s := range []string{string(bare.ID()), `"test.ghost"`, "info, null, pass_through"} {
		if !contains(err.Error(), s) {
			t.Errorf("error %q does not mention %s", err, s)
		}
	}
}

func TestBadRegistrationsFailClearly(t *testing.T) {
	t.Parallel()
	if !errors.Is(literal.Err(), bus.ErrInvalidName) {
		t.Errorf("untagged literal: %v, want ErrInvalidName", literal.Err())
	}
	if _, err := literal.Call(context.Background(), 1); !errors.Is(err, bus.ErrInvalidName) {
		t.Errorf("calling it: %v", err)
	}
	bad := bus.Connect("has space", func(context.Context, int) (int, error) { return 0, nil })
	if !errors.Is(bad.Err(), bus.ErrInvalidName) {
		t.Errorf("bad tag: %v", bad.Err())
	}
}
