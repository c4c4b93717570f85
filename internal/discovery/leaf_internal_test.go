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
