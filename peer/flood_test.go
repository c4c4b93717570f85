package peer_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/testnet"
	"github.com/appnet-go/appnet/peer"
	"github.com/nats-io/nats.go"
)

// TestABurstOfLargeRequestsDoesNotDeafenThePeer sends 600 fire-and-forget
// requests of 1 MB from one raw client, then calls: the peer must answer
// within seconds, whatever NATS did to its own connection in between.
func TestABurstOfLargeRequestsDoesNotDeafenThePeer(t *testing.T) {
	host, port := testnet.Host(t), testnet.Ports(t)
	p := startPeer(t, host, port)
	flood, err := nats.Connect(p.Server().ClientURL())
	must(t, err)
	defer flood.Close()
	payload := make([]byte, 1000*1000-200) // under the 1 MB maximum, with headers
	payload[0], payload[len(payload)-1] = '"', '"'
	for i := range payload[1 : len(payload)-1] {
		payload[i+1] = 'x'
	}
	msg := &nats.Msg{Subject: peer.CallSubject(p.ID(), peer.ConnPassThrough), Reply: "flood.reply", Data: payload}
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; i < 600 && time.Now().Before(deadline); i++ {
		if err := flood.PublishMsg(msg); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	_ = flood.FlushTimeout(10 * time.Second)

	caller, err := nats.Connect(p.Server().ClientURL())
	must(t, err)
	defer caller.Close()
	c := peer.NewCaller(caller, peer.NewRegistry(), 5*time.Second)
	// The peer may be busy with the burst for a while; then it must answer.
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
