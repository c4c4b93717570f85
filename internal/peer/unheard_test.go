package peer_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/appnet-go/appnet/internal/peer"
)

// A call to info that says its caller does not hear the peer reaches the
// peer's OnUnheard function, and is answered as any call to info; no
// other call does.
func TestACallToInfoCanSayItsCallerDoesNotHear(t *testing.T) {
	t.Parallel()
	a, b := routed(t)
	told := make(chan string, 4)
	a.OnUnheard(func(from string) { told <- from })

	plain := &nats.Msg{Subject: peer.CallSubject(a.ID(), peer.ConnInfo)}
	other := &nats.Msg{Subject: peer.CallSubject(a.ID(), "echo"), Data: []byte(`"x"`),
		Header: nats.Header{peer.HeaderUnheard: []string{string(b.ID())}}}
	unheard := &nats.Msg{Subject: peer.CallSubject(a.ID(), peer.ConnInfo),
		Header: nats.Header{peer.HeaderUnheard: []string{string(b.ID())}}}
	for _, m := range []*nats.Msg{plain, other, unheard} {
		reply, err := b.Conn().RequestMsg(m, 5*time.Second)
		if err != nil || reply.Header.Get(peer.HeaderErrorCode) != "" {
			t.Fatalf("call to %s: %v, %v", m.Subject, err, reply.Header)
		}
	}
	select {
	case from := <-told:
		if from != string(b.ID()) {
			t.Fatalf("OnUnheard got %q, want the caller %s", from, b.ID())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a call to info with Net-Unheard did not reach OnUnheard")
	}
	if len(told) != 0 {
		t.Fatalf("%d more calls reached OnUnheard, want only the one to info with Net-Unheard", len(told))
	}
}
