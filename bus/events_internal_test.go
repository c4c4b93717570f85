package bus

import (
	"context"
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/peer"
	"github.com/appnet-go/appnet/internal/testnet"
)

// An event forgets the emitter it made for a peer once the peer closes,
// so a program that starts and closes peers does not accumulate them.
func TestEventForgetsClosedPeers(t *testing.T) {
	host, port := testnet.Host(t), testnet.Ports(t)
	testnet.MustLoopback(t, host)
	cfg := peer.DefaultLocalConfig()
	cfg.Host, cfg.PortStart, cfg.Registry = host, port, peer.NewRegistry()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ev := NewEvent[int]("test.forget", nil)
	if err := ev.Via(p).Emit(1); err != nil {
		t.Fatal(err)
	}
	if n := emitterCount(ev); n != 1 {
		t.Fatalf("emitters after one emit: %d, want 1", n)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for emitterCount(ev) != 0 {
		if ctx.Err() != nil {
			t.Fatalf("the closed peer's emitter is still cached after 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := ev.Via(p).Emit(2); err == nil {
		t.Fatal("emitting from a closed peer succeeded")
	}
}

func emitterCount[T any](e *Event[T]) int {
	n := 0
	e.d.emitters.Range(func(any, any) bool { n++; return true })
	return n
}
