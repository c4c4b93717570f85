package embedded_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/embedded"
	"github.com/nats-io/nats.go"
)

// TestLocalSubjectsStayOnTheirServer: interest in a subject under
// embedded.LocalPrefix (the reply inbox of a client that talks to one
// server) taken on a leaf reaches neither its hub, nor other leaves, nor
// routed hubs; taken on a hub, it reaches only that hub's own leaves,
// which never send it a message; other subjects reach every server; a
// request answered on the same server still gets its reply.
func TestLocalSubjectsStayOnTheirServer(t *testing.T) {
	t.Parallel()
	host, port, hub1, hub2 := routedHubs(t, 9)
	leaf := func(hub *embedded.Server) *embedded.Server {
		s, err := embedded.Start(context.Background(), embedded.Config{Host: host, PortStart: port, PortRange: 9,
			Name: func(p int) string { return "leaf" + strconv.Itoa(p) }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		must(t, s.SetHubs([]string{hub.LeafURL()}))
		waitFor(t, func() bool { _, conn := s.Attachment(); return conn != 0 })
		return s
	}
	a, b, c := leaf(hub1), leaf(hub1), leaf(hub2)
	all := []*embedded.Server{hub1, hub2, a, b, c}

	var leaked atomic.Int32
	for _, on := range []*embedded.Server{a, hub1} {
		nc, err := nats.Connect(on.ClientURL(), nats.CustomInboxPrefix(embedded.LocalPrefix+"t"))
		must(t, err)
		defer nc.Close()
		control := "net.peer.p" + strconv.Itoa(on.Port()) + ".call.>"
		_, err = nc.Subscribe(control, func(m *nats.Msg) { _ = m.Respond([]byte("answer")) })
		must(t, err)
		local := embedded.LocalPrefix + "x" + strconv.Itoa(on.Port()) + ".*"
		_, err = nc.Subscribe(local, func(*nats.Msg) { leaked.Add(1) })
		must(t, err)
		must(t, nc.Flush())
		for _, s := range all {
			if s == on {
				continue
			}
			waitFor(t, func() bool { return s.Interest("net.peer.p" + strconv.Itoa(on.Port()) + ".call.info") })
			if on == hub1 && (s == a || s == b) {
				// NATS tells a hub's leaves all its interest, short of a
				// user per leaf; the leaves still send no message there.
				continue
			}
			if s.Interest(embedded.LocalPrefix + "x" + strconv.Itoa(on.Port()) + ".1") {
				t.Errorf("server %d hears %s, subscribed on server %d", s.Port(), local, on.Port())
			}
		}
		if !on.Interest(embedded.LocalPrefix + "x" + strconv.Itoa(on.Port()) + ".1") {
			t.Errorf("server %d does not hear its own client's %s", on.Port(), local)
		}
		reply, err := nc.Request("net.peer.p"+strconv.Itoa(on.Port())+".call.info", nil, 2*time.Second)
		if err != nil || string(reply.Data) != "answer" {
			t.Fatalf("a request answered on its own server: %v, %v", reply, err)
		}
	}

	// A client of another leaf publishes to both local subjects, then asks
	// each server's control subject: its question follows the same path,
	// behind the messages, which would have arrived by the answer.
	nc, err := nats.Connect(b.ClientURL())
	must(t, err)
	defer nc.Close()
	for _, to := range []*embedded.Server{a, hub1} {
		must(t, nc.Publish(embedded.LocalPrefix+"x"+strconv.Itoa(to.Port())+".1", nil))
		if _, err := nc.Request("net.peer.p"+strconv.Itoa(to.Port())+".call.info", nil, 2*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if n := leaked.Load(); n != 0 {
		t.Fatalf("%d messages to a local subject reached it from another server", n)
	}
}
