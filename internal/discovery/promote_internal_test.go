package discovery

import (
	"context"
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/peer"
	"github.com/appnet-go/appnet/internal/testnet"
)

// A leaf its view elects to make up the hub count waits while the view,
// which knows a hub and has never held AutoHubs, changes, for
// promoteDefer at most; with no hub in the view, or after one of AutoHubs
// hubs went, it does not wait.
func TestAPromotionWaitsForAStillView(t *testing.T) {
	t.Parallel()
	host, port := testnet.Host(t), testnet.Ports(t)
	testnet.MustLoopback(t, host)
	cfg := peer.DefaultLocalConfig()
	cfg.Host, cfg.PortStart, cfg.Registry = host, port, peer.NewRegistry()
	p, err := peer.Start(context.Background(), cfg, peer.AsLeaf())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	d := New(p)
	changedAgo := func(ago time.Duration) {
		d.view.mu.Lock()
		d.view.changedAt = time.Now().Add(-ago)
		d.view.mu.Unlock()
	}

	d.view.join(peer.Info{ID: "a", Role: peer.RoleLeaf})
	d.net.wantSince = time.Now()
	if d.promotionWaits(true) {
		t.Fatal("a leaf whose view knows no hub waited to be one")
	}
	d.view.join(peer.Info{ID: "h", Role: peer.RoleHub})
	if !d.promotionWaits(true) {
		t.Fatal("a leaf whose view knows a hub and changes now did not wait")
	}
	if d.promotionWaits(false) {
		t.Fatal("a leaf not elected waited")
	}
	changedAgo(promoteQuiet + 100*time.Millisecond)
	if d.promotionWaits(true) {
		t.Fatalf("a leaf whose view has been still for %s waited", promoteQuiet)
	}
	changedAgo(0)
	d.net.wantSince = time.Now().Add(-promoteDefer)
	if d.promotionWaits(true) {
		t.Fatalf("a leaf elected for %s waited", promoteDefer)
	}
	d.net.wantSince = time.Now()
	d.net.hubsSeen = AutoHubs // the view held them all once: one failed
	if d.promotionWaits(true) {
		t.Fatal("a leaf whose view lost one of its hubs waited")
	}
}
