package peer_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/peer"
	"github.com/appnet-go/appnet/internal/testnet"
)

// TestDevLogShowsCallsNotServerInternals checks that a debug log (what
// NET_DEV turns on) holds the peers' calls and none of nats-server's
// connection and route chatter.
func TestDevLogShowsCallsNotServerInternals(t *testing.T) {
	t.Parallel()
	host, port := testnet.Host(t), testnet.Ports(t)
	var sink testnet.LogBuffer
	log := slog.New(slog.NewTextHandler(&sink, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a := startPeer(t, host, port, peer.WithDev(true), peer.WithLogger(log))
	b := startPeer(t, host, port, peer.WithDev(true), peer.WithLogger(log))
	must(t, b.Server().AddRoutes(a.Info().Cluster))
	waitCallable(t, b, a.ID())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for range 5 {
		if _, err := b.Call(ctx, a.ID(), "echo", []byte(`"x"`)); err != nil {
			t.Fatal(err)
		}
	}
	out := sink.String()
	calls := 0
	for line := range strings.Lines(out) {
		if strings.Contains(line, "component=nats-server") {
			t.Errorf("nats-server internals in the debug log: %s", line)
		}
		if strings.Contains(line, "remote call") {
			calls++
		}
	}
	if calls < 5 {
		t.Errorf("the debug log has %d remote call lines, want at least 5:\n%s", calls, out)
	}
}
