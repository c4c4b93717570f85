package discovery

import (
	"context"
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/peer"
	"github.com/appnet-go/appnet/internal/testnet"
)

// unjoinedLeaf is the Discoverer of a leaf whose server runs, on a
// loopback host and port range of the test's own, and that has joined no
// network: its view is what the test puts in it.
func unjoinedLeaf(t *testing.T) *Discoverer {
	t.Helper()
	host, port := testnet.Host(t), testnet.Ports(t)
	testnet.MustLoopback(t, host)
	cfg := peer.DefaultLocalConfig()
	cfg.Host, cfg.PortStart, cfg.Registry = host, port, peer.NewRegistry()
	p, err := peer.Start(context.Background(), cfg, peer.AsLeaf())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return New(p)
}

// changedAgo makes d's view look last changed ago.
func changedAgo(d *Discoverer, ago time.Duration) {
	d.view.mu.Lock()
	d.view.changedAt = time.Now().Add(-ago)
	d.view.mu.Unlock()
}

// A leaf attached to a hub keeps its connection when its view loses that
// hub and names another: a hub that died or stopped being one drops the
// connection, so a report that it failed was wrong.
func TestALeafKeepsAHubItsViewLost(t *testing.T) {
	t.Parallel()
	host := testnet.Host(t)
	testnet.MustLoopback(t, host)
	hubA, _ := joined(t, host, testnet.Ports(t))
	hubB, _ := joined(t, host, testnet.Ports(t)) // a hub the view will name instead
	d := unjoinedLeaf(t)
	if err := d.p.Server().SetHubs([]string{hubA.HubAddr().Leaf}); err != nil {
		t.Fatal(err)
	}
	attachedTo(t, d, hubA.ID(), 10*time.Second)
	_, conn := d.p.Server().Attachment()

	d.view.join(infoOf(t, hubB))
	d.connect()
	// An absence has no readiness signal: the connection is watched for
	// a second (the code before moved it at once).
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if hub, now := d.p.Server().Attachment(); hub != string(hubA.ID()) || now != conn {
			t.Fatalf("a leaf attached to hub A (connection %d) whose view names only hub B is attached to %q (connection %d)", conn, hub, now)
		}
	}
}
