package peer_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/peer"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// TestGroupCallsReachOnlyMembersThatServeTheConnection: in a group whose
// members run different versions of an application, a group call goes to a
// member that serves the connection, never to one that would answer 404,
// including for a connection registered after the peers started.
func TestGroupCallsReachOnlyMembersThatServeTheConnection(t *testing.T) {
	t.Parallel()
	a, b := routed(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// b, the caller, prefers its own server's members: without a
	// subscription per connection, it would answer every call with 404.
	must(t, a.Registry().Register("v2.only", peer.Func(func(context.Context, any) (string, error) { return "v2", nil })))
	a.Sync(ctx)
	waitGroupServed(t, b, "v2.only")
	for i := range 40 {
		out, from, err := b.CallGroup(ctx, "None", "v2.only", nil)
		if err != nil || string(out) != `"v2"` || from != a.ID() {
			t.Fatalf("group call %d: %s from %s, %v; want \"v2\" from %s", i, out, from, err, a.ID())
		}
	}
	// A connection nobody serves: no responders at once, not 404.
	_, _, err := b.CallGroup(ctx, "None", "nobody.serves", nil)
	if !errors.Is(err, peer.ErrUnreachable) {
		t.Errorf("group call to a connection nobody serves: %v, want ErrUnreachable", err)
	}
	// Scatter-gather still asks every member: the one without the
	// connection says so.
	results, err := b.CallAll(ctx, "None", "v2.only", nil, 2)
	if err != nil || len(results) != 2 {
		t.Fatalf("CallAll = %+v, %v; want two answers", results, err)
	}
	for _, r := range results {
		switch r.Peer {
		case a.ID():
			if r.Err != nil {
				t.Errorf("CallAll answer of %s: %v", r.Peer, r.Err)
			}
		case b.ID():
			if !errors.Is(r.Err, peer.ErrInvalidConnection) {
				t.Errorf("CallAll answer of %s: %v, want ErrInvalidConnection", r.Peer, r.Err)
			}
		}
	}
}

// waitGroupServed polls until a group call to connection from p is
// answered, or fails after 5s.
func waitGroupServed(t *testing.T, p *peer.Peer, connection string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, _, err := p.CallGroup(context.Background(), "None", connection, nil)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("group call to %s never answered: %v", connection, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// A group call to a default connection is answered by every member, the
// first answer being the call's: the members subscribe without a queue
// group, whose weight NATS would send every server at every join. A
// default connection the application replaces is served in the queue
// group again, as every connection of its own.
func TestDefaultConnectionsAnswerFromEveryMember(t *testing.T) {
	t.Parallel()
	a, b := routed(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	waitGroupServed(t, b, peer.ConnPassThrough)
	queueOf := func(p *peer.Peer, connection string) (string, bool) {
		sz, err := p.Server().NATS().Subsz(&server.SubszOptions{Subscriptions: true, Test: peer.GroupCallSubject("None", connection)})
		must(t, err)
		cid, err := p.Conn().GetClientID() // the peer's own subscription, not the other's through the route
		must(t, err)
		for _, s := range sz.Subs {
			if s.Subject == peer.GroupCallSubject("None", connection) && s.Cid == cid {
				return s.Queue, true
			}
		}
		return "", false
	}
	if q, ok := queueOf(a, peer.ConnPassThrough); !ok || q != "" {
		t.Fatalf("a's subscription to group calls of pass_through: queue %q, found %v; want none", q, ok)
	}
	reply := nats.NewInbox()
	answers, err := b.Conn().SubscribeSync(reply)
	must(t, err)
	must(t, b.Conn().PublishRequest(peer.GroupCallSubject("None", peer.ConnPassThrough), reply, []byte(`"x"`)))
	from := map[string]bool{}
	for range 2 {
		m, err := answers.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("answers to a group call of pass_through: %v from %v, want both members", err, from)
		}
		from[m.Header.Get(peer.HeaderPeer)] = true
	}
	if !from[string(a.ID())] || !from[string(b.ID())] {
		t.Errorf("answers from %v, want %s and %s", from, a.ID(), b.ID())
	}
	if out, _, err := b.CallGroup(ctx, "None", peer.ConnPassThrough, []byte(`"x"`)); err != nil || string(out) != `"x"` {
		t.Errorf("group call of pass_through: %s, %v", out, err)
	}

	must(t, a.Registry().Register(peer.ConnPassThrough, peer.Func(func(context.Context, any) (string, error) { return "mine", nil })))
	deadline := time.Now().Add(5 * time.Second)
	for q, ok := queueOf(a, peer.ConnPassThrough); !ok || q != peer.QueueGroup; q, ok = queueOf(a, peer.ConnPassThrough) {
		if time.Now().After(deadline) {
			t.Fatalf("a replaced pass_through: its group subscription's queue %q, found %v; want %q", q, ok, peer.QueueGroup)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
