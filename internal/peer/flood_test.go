package peer_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/peer"
	"github.com/appnet-go/appnet/internal/testnet"
	"github.com/nats-io/nats.go"
)

// TestABurstOfLargeRequestsDoesNotDeafenThePeer sends 600 fire-and-forget
// requests of 1 MB from one raw client, to the peer's own server, through
// another peer's server, and with a secret; then calls: the peer must
// answer within seconds, whatever NATS did to its own connection in
// between.
func TestABurstOfLargeRequestsDoesNotDeafenThePeer(t *testing.T) {
	for _, tc := range []struct {
		name   string
		secret string
		routed bool
	}{{"direct", "", false}, {"through a route", "", true}, {"with a secret", "hush", false}} {
		t.Run(tc.name, func(t *testing.T) {
			host, port := testnet.Host(t), testnet.Ports(t)
			var opts []peer.Option
			if tc.secret != "" {
				opts = append(opts, peer.WithSecret(tc.secret))
			}
			p := startPeer(t, host, port, opts...)
			clientOpts := p.ClientOptions() // the secret, and the TLS it derives
			entry := p
			if tc.routed {
				entry = startPeer(t, host, port, opts...)
				must(t, entry.Server().AddRoutes(p.Info().Cluster))
				waitCallable(t, entry, p.ID())
			}
			burst(t, entry.Server().ClientURL(), peer.CallSubject(p.ID(), peer.ConnPassThrough), clientOpts...)
			checkServes(t, entry.Server().ClientURL(), p, clientOpts...)
		})
	}
}

// burst publishes 600 requests of 1 MB to subject, with a reply subject
// nobody listens to, from a raw client of url.
func burst(t *testing.T, url, subject string, opts ...nats.Option) {
	t.Helper()
	flood, err := nats.Connect(url, opts...)
	must(t, err)
	defer flood.Close()
	msg := &nats.Msg{Subject: subject, Reply: "flood.reply", Data: []byte(`"` + strings.Repeat("x", 1000*1000-200) + `"`)}
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; i < 600 && time.Now().Before(deadline); i++ {
		if err := flood.PublishMsg(msg); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	_ = flood.FlushTimeout(10 * time.Second)
}

// checkServes calls p from a fresh client of url until it answers (for at
// most 20 s: it may be busy with a burst), then five times more.
func checkServes(t *testing.T, url string, p *peer.Peer, opts ...nats.Option) {
	t.Helper()
	caller, err := nats.Connect(url, opts...)
	must(t, err)
	defer caller.Close()
	c := peer.NewCaller(caller, peer.NewRegistry(), 5*time.Second)
	var lastErr error
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, lastErr = c.Call(ctx, p.ID(), peer.ConnInfo, nil)
		cancel()
		if lastErr == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if lastErr != nil {
		t.Fatalf("the peer is deaf after the burst: %v (its connection: %v)", lastErr, p.Conn().Status())
	}
	for i := range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := c.Call(ctx, p.ID(), "echo", []byte(`"a"`))
		cancel()
		if err != nil {
			t.Fatalf("call %d after the burst: %v", i, err)
		}
	}
}

// TestThePeerReconnectsWhenItsServerDropsItsConnection closes the peer's
// own connection from the server side, as NATS does to a slow consumer:
// within a second the peer must serve calls again, on every subscription.
func TestThePeerReconnectsWhenItsServerDropsItsConnection(t *testing.T) {
	t.Parallel()
	a, b := routed(t)
	for round := range 3 {
		cid, err := a.Conn().GetClientID()
		must(t, err)
		must(t, a.Server().NATS().DisconnectClientByID(cid))
		start := time.Now()
		var lastErr error
		for time.Since(start) < time.Second {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			_, lastErr = b.Call(ctx, a.ID(), "echo", []byte(`"a"`))
			cancel()
			if lastErr == nil {
				break
			}
		}
		if lastErr != nil {
			t.Fatalf("round %d: no call served within a second of the server dropping the peer's connection: %v", round, lastErr)
		}
		groupCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, _, err = b.CallGroup(groupCtx, a.Config().Group, "echo", []byte(`"a"`))
		cancel()
		must(t, err)
	}
	if a.Context().Err() != nil {
		t.Fatalf("the peer stopped: %v", context.Cause(a.Context()))
	}
}

// TestAPeerThatCannotReconnectStopsLoudly shuts the peer's server down
// under it: the peer must stop, with the cause, rather than stay up deaf.
func TestAPeerThatCannotReconnectStopsLoudly(t *testing.T) {
	t.Parallel()
	p := startPeer(t, testnet.Host(t), testnet.Ports(t))
	p.Server().NATS().Shutdown()
	select {
	case <-p.Context().Done():
	case <-time.After(15 * time.Second):
		t.Fatal("the peer still runs 15 s after its server went")
	}
	if err := context.Cause(p.Context()); !errors.Is(err, peer.ErrClosed) || !strings.Contains(err.Error(), "did not come back") {
		t.Errorf("cause = %v, want ErrClosed saying the connection did not come back", err)
	}
}
