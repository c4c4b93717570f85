package discovery

import (
	"context"
	"sync"
	"time"

	"github.com/appnet-go/appnet/internal/peer"
	"github.com/nats-io/nats.go"
)

// FetchInfos asks the peer of each hit for its info ([FetchInfo]), at most
// workers at once (at least one), as a scan probes: a scan of a large
// block can find thousands of peers, and one connection each at once would
// exhaust file descriptors. It returns, in the order of hits, each info
// and each error (nil when that peer answered).
func FetchInfos(ctx context.Context, hits []Hit, workers int, timeout time.Duration, opts ...nats.Option) ([]peer.Info, []error) {
	infos := make([]peer.Info, len(hits))
	errs := make([]error, len(hits))
	limit := make(chan struct{}, max(workers, 1))
	var wg sync.WaitGroup
	for i, h := range hits {
		wg.Go(func() {
			limit <- struct{}{}
			defer func() { <-limit }()
			infos[i], errs[i] = FetchInfo(ctx, h, timeout, opts...)
		})
	}
	wg.Wait()
	return infos, errs
}
