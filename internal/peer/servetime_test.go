package peer_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/peer"
	"github.com/nats-io/nats.go"
)

// TestABogusTimeoutHeaderIsABadRequest: junk, zero, negative and values a
// Duration cannot hold are 400 answers, not "no limit".
func TestABogusTimeoutHeaderIsABadRequest(t *testing.T) {
	t.Parallel()
	a, b := routed(t)
	for _, v := range []string{"soon", "0", "-5", "", "1.5", "0x10", "9300000000000", "9223372036854775807", "99999999999999999999"} {
		msg := &nats.Msg{Subject: peer.CallSubject(a.ID(), "slow"), Data: []byte(`10`), Header: nats.Header{peer.HeaderTimeout: []string{v}}}
		reply, err := b.Conn().RequestMsg(msg, 5*time.Second)
		if err != nil {
			t.Fatalf("Net-Timeout %q: %v", v, err)
		}
		if code := reply.Header.Get(peer.HeaderErrorCode); code != strconv.Itoa(peer.CodeBadRequest) {
			t.Errorf("Net-Timeout %q: code %q (%s), want 400", v, code, reply.Header.Get(peer.HeaderError))
		}
	}
	// A long but valid one is capped by the peer, not refused.
	msg := &nats.Msg{Subject: peer.CallSubject(a.ID(), "slow"), Data: []byte(`10`), Header: nats.Header{peer.HeaderTimeout: []string{"9000000000000"}}}
	reply, err := b.Conn().RequestMsg(msg, 5*time.Second)
	if err != nil || string(reply.Data) != `"done"` {
		t.Errorf("Net-Timeout of 285 years: %v %q %v", err, reply.Data, reply.Header)
	}
}

// TestThePeerCapsEveryHandlersTime: whatever the caller sends, or without
// Net-Timeout at all, a handler's context ends at the peer's ServeTimeout.
func TestThePeerCapsEveryHandlersTime(t *testing.T) {
	t.Parallel()
	a, b := routed(t, peer.WithServeTimeout(200*time.Millisecond))
	for _, header := range []nats.Header{nil, {peer.HeaderTimeout: []string{"3600000"}}} {
		start := time.Now()
		reply, err := b.Conn().RequestMsg(&nats.Msg{Subject: peer.CallSubject(a.ID(), "slow"), Data: []byte(`30000`), Header: header}, 10*time.Second)
		if err != nil {
			t.Fatalf("header %v: %v", header, err)
		}
		if code := reply.Header.Get(peer.HeaderErrorCode); code != strconv.Itoa(peer.CodeTimeout) {
			t.Errorf("header %v: code %q, want 504", header, code)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("header %v: the handler ran %s, want about 200ms", header, d)
		}
	}
	// A caller without a deadline sends no Net-Timeout: the peer's limit holds.
	_, err := b.Call(context.Background(), a.ID(), "slow", []byte(`30000`))
	var re *peer.RemoteError
	if !errors.As(err, &re) || re.Code != peer.CodeTimeout {
		t.Errorf("a call without deadline to a 30 s handler: %v, want a 504 from the peer's 200ms limit", err)
	}
}

// TestDefaultConnectionsAnswerWhileUserHandlersAreSaturated fills every
// slot with a blocked user handler: info, pass_through and the micro
// protocol still answer.
func TestDefaultConnectionsAnswerWhileUserHandlersAreSaturated(t *testing.T) {
	t.Parallel()
	const slots = 8
	a, b := routed(t, peer.WithMaxInFlight(slots))
	release := make(chan struct{})
	var started sync.WaitGroup
	started.Add(slots)
	must(t, a.Registry().Register("test.block", peer.Func(func(ctx context.Context, _ any) (any, error) {
		started.Done()
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil, nil
	})))
	defer close(release)
	for range slots {
		go func() { _, _ = b.Call(context.Background(), a.ID(), "test.block", nil) }()
	}
	started.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var re *peer.RemoteError
	if _, err := b.Call(ctx, a.ID(), "echo", []byte(`"a"`)); !errors.As(err, &re) || re.Code != peer.CodeBusy {
		t.Fatalf("a user call with every slot taken: %v, want 503", err)
	}
	for _, conn := range []string{peer.ConnInfo, peer.ConnPassThrough, peer.ConnConnections} {
		if _, err := b.Call(ctx, a.ID(), conn, []byte(`1`)); err != nil {
			t.Errorf("%s while user handlers are saturated: %v", conn, err)
		}
	}
	if _, err := b.Conn().Request("$SRV.PING."+a.Config().Group, nil, 5*time.Second); err != nil {
		t.Errorf("micro PING while user handlers are saturated: %v", err)
	}
}
