package embedded

import (
	"testing"
	"time"
)

// A leaf node or client that falls silent is dropped within about 6s; a
// route between hubs is given far longer, since opening it again sends
// the whole network's interest again (200-peer starts on two cores
// reopened it hundreds of times at the 2s pace).
func TestRoutesOutlastASilenceThatDropsALeaf(t *testing.T) {
	s := &Server{port: 4222, cfg: Config{Host: "127.0.0.1", Hub: true}}
	opts := s.options()
	silence := func(every time.Duration, most int) time.Duration { return every * time.Duration(most) }
	if got := silence(opts.PingInterval, opts.MaxPingsOut); got > 6*time.Second {
		t.Errorf("a silent leaf or client is dropped after %s, want 6s at most", got)
	}
	if got := silence(opts.Cluster.PingInterval, opts.Cluster.MaxPingsOut); got < 20*time.Second {
		t.Errorf("a silent route is dropped after %s, want 20s at least", got)
	}
}
