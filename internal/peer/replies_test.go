package peer_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/appnet-go/appnet/internal/peer"
	"github.com/appnet-go/appnet/internal/testnet"
)

// A peer takes the replies to its requests on its own subject, under the
// subscription that takes its calls: its requests get their answers,
// "no responders" when nobody serves the subject, and a request on its
// own subject that is neither a call nor a reply is refused at once, not
// left to time out.
func TestAPeerTakesItsRepliesOnItsOwnSubject(t *testing.T) {
	t.Parallel()
	p := startPeer(t, testnet.Host(t), testnet.Ports(t))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	m, err := p.Caller.Request(ctx, peer.CallSubject(p.ID(), "echo"), []byte(`"hi"`))
	if err != nil || string(m.Data) != `"hi!"` {
		t.Fatalf("a request to the peer's own echo: %v, %v; want \"hi!\"", m, err)
	}
	if own := peer.OwnPrefix(p.ID()); !strings.HasPrefix(m.Subject, own+"r.") {
		t.Errorf("the reply came on %s; want a subject under %sr.", m.Subject, own)
	}
	var gathered *nats.Msg
	if err := p.Caller.Gather(ctx, &nats.Msg{Subject: peer.DiscoverSubject}, func(m *nats.Msg) bool { gathered = m; return false }); err != nil {
		t.Fatalf("a gather of net.discover: %v", err)
	}
	if own := peer.OwnPrefix(p.ID()); !strings.HasPrefix(gathered.Subject, own+"r.") {
		t.Errorf("the gather's answer came on %s; want a subject under %sr.", gathered.Subject, own)
	}
	if _, err := p.Caller.Request(ctx, "nobody.serves.this", nil); !errors.Is(err, nats.ErrNoResponders) {
		t.Errorf("a request nobody serves: %v; want nats.ErrNoResponders", err)
	}
	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelShort()
	if _, err := p.Caller.Request(short, peer.CallSubject(p.ID(), "slow"), []byte("2000")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a request whose context ended before its answer: %v; want context.DeadlineExceeded", err)
	}

	nc, err := nats.Connect(p.Server().ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	subject := peer.OwnPrefix(p.ID()) + "nocall"
	start := time.Now()
	m, err = nc.Request(subject, nil, 5*time.Second)
	if err != nil {
		t.Fatalf("a request on %s: %v; want an answer", subject, err)
	}
	if code := m.Header.Get(peer.HeaderErrorCode); code != "400" || !strings.Contains(m.Header.Get(peer.HeaderError), "no such subject") {
		t.Errorf("a request on %s: error %q %q; want 400, no such subject", subject, code, m.Header.Get(peer.HeaderError))
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the answer to a request on %s took %s", subject, took)
	}

	// Through another connection, the reply still comes to the peer's
	// own subject, and that connection subscribes nothing.
	other, err := nats.Connect(p.Server().ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	m, err = p.Caller.RequestVia(ctx, other, &nats.Msg{Subject: peer.CallSubject(p.ID(), "echo"), Data: []byte(`"via"`)})
	if err != nil || string(m.Data) != `"via!"` {
		t.Fatalf("a request through another connection: %v, %v; want \"via!\"", m, err)
	}
	if own := peer.OwnPrefix(p.ID()); !strings.HasPrefix(m.Subject, own+"r.") {
		t.Errorf("the reply through another connection came on %s; want a subject under %sr.", m.Subject, own)
	}
	short, cancelShort = context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancelShort()
	if _, err := p.Caller.RequestVia(short, other, &nats.Msg{Subject: "nobody.serves.this"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a request nobody serves, through another connection: %v; want context.DeadlineExceeded", err)
	}
	if subs := other.NumSubscriptions(); subs != 0 {
		t.Errorf("the other connection holds %d subscriptions; want 0", subs)
	}
}
