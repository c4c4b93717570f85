package discovery

import (
	"context"
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/peer"
	"github.com/appnet-go/appnet/internal/testnet"
)

// joined starts a peer on host and port range start, a hub when hubs is
// empty, else a leaf of them, and joins it: stopped when the test ends.
func joined(t *testing.T, host string, start int, hubs ...peer.HubAddr) (*peer.Peer, *Discoverer) {
	t.Helper()
	cfg := peer.DefaultLocalConfig()
	cfg.Host, cfg.PortStart, cfg.Registry = host, start, peer.NewRegistry()
	var opts []peer.Option
	if len(hubs) == 0 {
		cfg.Hub = true
	} else {
		opts = append(opts, peer.AsLeaf())
	}
	p, err := peer.Start(context.Background(), cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	d := New(p)
	if err := d.Join(context.Background(), hubs); err != nil {
		p.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Leave(); p.Close() })
	return p, d
}

// hubWithLeaf starts a hub on a loopback host of the test's own, and a
// leaf attached to it.
func hubWithLeaf(t *testing.T) (host string, hub, leaf *peer.Peer, leafD *Discoverer) {
	t.Helper()
	host = testnet.Host(t)
	testnet.MustLoopback(t, host)
	hub, _ = joined(t, host, testnet.Ports(t))
	leaf, leafD = joined(t, host, testnet.Ports(t), hub.HubAddr())
	attachedTo(t, leafD, hub.ID(), 10*time.Second)
	return host, hub, leaf, leafD
}

// infoOf asks p's own server for p's info, as a peer that knows p would
// have it.
func infoOf(t *testing.T, p *peer.Peer) peer.Info {
	t.Helper()
	info, err := FetchInfo(context.Background(), Hit{Host: p.Config().Host, Port: p.Server().Port(), ID: p.ID()}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// attachedTo waits until d's server is attached to hub, for at most
// limit.
func attachedTo(t *testing.T, d *Discoverer, hub peer.ID, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		at, conn := d.p.Server().Attachment()
		if at == string(hub) && conn != 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s the leaf is attached to %q, want hub %s; its view holds %d peers, hubs %v", limit, at, hub, len(d.view.snapshot()), d.view.hubs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A detached leaf whose view holds no hub, only a peer that has since
// become a leaf of another network (its network merged, its hubs became
// leaves), asks that peer, then the hub it names, and attaches there.
func TestALeafWhoseHubsMovedOnFindsThem(t *testing.T) {
	t.Parallel()
	_, hub, moved, _ := hubWithLeaf(t)

	lost := unjoinedLeaf(t)
	if err := lost.Join(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lost.Leave)
	// A leaf, naming the hub. The lost leaf is alone on a host of its
	// own: its scan (step 3) finds nothing there.
	lost.view.join(infoOf(t, moved))
	attachedTo(t, lost, hub.ID(), lostAfter+10*time.Second)
}

// A detached leaf whose view holds only peers that are gone scans its
// host for the network, as a starting peer does, and attaches to the hub
// it finds.
func TestALeafWhoseViewIsGoneScansForTheNetwork(t *testing.T) {
	t.Parallel()
	host := testnet.Host(t)
	testnet.MustLoopback(t, host)
	start := testnet.Ports(t)
	hub, _ := joined(t, host, start)

	gone, _ := joined(t, host, testnet.Ports(t), hub.HubAddr())
	info := infoOf(t, gone)
	gone.Close()

	cfg := peer.DefaultLocalConfig()
	cfg.Host, cfg.PortStart, cfg.Registry, cfg.ScanInterval = host, start, peer.NewRegistry(), time.Hour
	p, err := peer.Start(context.Background(), cfg, peer.AsLeaf())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	lost := New(p)
	if err := lost.Join(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lost.Leave)
	lost.view.join(info)
	attachedTo(t, lost, hub.ID(), lostAfter+10*time.Second)
}

// A detached leaf whose hub still listens on its leaf port takes it for
// busy, not lost, and leaves the redialling to its server; once the hub
// is gone, it looks for the network.
func TestAHubThatListensIsNotLost(t *testing.T) {
	t.Parallel()
	_, hub, _, leaf := hubWithLeaf(t)
	if !leaf.hubListens(context.Background()) {
		t.Fatal("the hub listens on its leaf port, and the leaf took it for lost")
	}
	hub.Close()
	deadline := time.Now().Add(5 * time.Second)
	for leaf.hubListens(context.Background()) {
		if time.Now().After(deadline) {
			t.Fatal("the hub closed, and the leaf still took it for listening after 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
