package discovery_test

import (
	"context"
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/discovery"
	"github.com/appnet-go/appnet/internal/peer"
	"github.com/appnet-go/appnet/internal/testnet"
)

// FetchInfos answers in the order of its hits, one worker or many, and
// gives the error of a hit where nobody answers at its index.
func TestFetchInfosKeepsTheOrderOfItsHits(t *testing.T) {
	t.Parallel()
	host, port := testnet.Host(t), testnet.Ports(t)
	testnet.MustLoopback(t, host)
	var hits []discovery.Hit
	for range 3 {
		cfg := peer.DefaultLocalConfig()
		cfg.Host, cfg.PortStart = host, port
		p, err := peer.Start(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		hits = append(hits, discovery.Hit{Host: host, Port: p.Info().Port, ID: p.ID()})
	}
	gone := peer.NewID(host, port+5, "None") // in the range, never started
	hits = append(hits[:1], append([]discovery.Hit{{Host: host, Port: port + 5, ID: gone}}, hits[1:]...)...)
	for _, workers := range []int{0, 1, 8} {
		infos, errs := discovery.FetchInfos(context.Background(), hits, workers, time.Second)
		for i, h := range hits {
			if h.ID == gone {
				if errs[i] == nil {
					t.Errorf("workers %d: hit %d (nobody there): no error", workers, i)
				}
				continue
			}
			if errs[i] != nil || infos[i].ID != h.ID {
				t.Errorf("workers %d: hit %d: info of %s, %v; want %s's", workers, i, infos[i].ID, errs[i], h.ID)
			}
		}
	}
}
