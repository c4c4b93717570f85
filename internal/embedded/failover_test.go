package embedded_test

import (
	"bufio"
	"context"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/embedded"
	"github.com/appnet-go/appnet/internal/testnet"
	"github.com/nats-io/nats.go"
)

// TestAClientGivenOneURLFailsOver: on an open network a server lists the
// cluster's other client URLs, so a plain NATS client given one server
// rides out that server's stop.
func TestAClientGivenOneURLFailsOver(t *testing.T) {
	t.Parallel()
	host, port := testnet.Host(t), testnet.Ports(t)
	a := start(t, host, port, 5)
	b := start(t, host, port, 5)
	if err := b.AddRoutes(a.ClusterURL()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(a.RemoteNames()) == 1 })

	served, err := nats.Connect(b.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer served.Close()
	if _, err := served.Subscribe("svc", func(m *nats.Msg) { _ = m.Respond([]byte("from b")) }); err != nil {
		t.Fatal(err)
	}
	must(t, served.Flush())

	reconnected := make(chan string, 1)
	nc, err := nats.Connect(a.ClientURL(), nats.ReconnectWait(10*time.Millisecond), nats.MaxReconnects(100),
		nats.ReconnectHandler(func(nc *nats.Conn) { reconnected <- nc.ConnectedUrl() }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	waitFor(t, func() bool { return slices.Contains(nc.DiscoveredServers(), b.ClientURL()) })

	a.Close()
	select {
	case url := <-reconnected:
		if url != b.ClientURL() {
			t.Fatalf("reconnected to %s, want %s", url, b.ClientURL())
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no fail-over to %s within 5s; known servers %v", b.ClientURL(), nc.Servers())
	}
	reply, err := nc.Request("svc", nil, 2*time.Second)
	if err != nil || string(reply.Data) != "from b" {
		t.Fatalf("request after fail-over: %v, %v", reply, err)
	}
}

// TestASecretHidesTheOtherServers: nats-server greets before any
// authentication, so a server that checks who connects lists no other
// server, neither in its greeting nor later.
func TestASecretHidesTheOtherServers(t *testing.T) {
	t.Parallel()
	const secret = "s3cret"
	host, port := testnet.Host(t), testnet.Ports(t)
	var servers []*embedded.Server
	for range 2 {
		s, err := embedded.Start(context.Background(), embedded.Config{Host: host, PortStart: port, PortRange: 5, Secret: secret, Hub: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		servers = append(servers, s)
	}
	a, b := servers[0], servers[1]
	if err := b.AddRoutes(a.ClusterURL()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(a.RemoteNames()) == 1 })

	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(a.ClientURL(), "nats://"), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	greeting, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(greeting, "connect_urls") || strings.Contains(greeting, b.ClientURL()[len("nats://"):]) {
		t.Errorf("the greeting, sent before authentication, lists other servers: %s", greeting)
	}

	nc, err := nats.Connect(a.ClientURL(), nats.Token(secret))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	must(t, nc.Flush()) // the server's INFO after the first PING has come
	if got := nc.DiscoveredServers(); len(got) != 0 {
		t.Errorf("an authenticated client was told of %v", got)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// A leaf that attaches again gets a new connection to its hub after a
// pause, and hears the network's interest through it as before.
func TestReattachResendsInterest(t *testing.T) {
	t.Parallel()
	hub, leaf := hubAndLeaf(t, "leaf")
	must(t, leaf.SetHubs([]string{hub.LeafURL()}))
	waitFor(t, func() bool { _, conn := leaf.Attachment(); return conn != 0 })
	_, first := leaf.Attachment()

	nc, err := nats.Connect(hub.ClientURL())
	must(t, err)
	defer nc.Close()
	_, err = nc.Subscribe("net.peer.x.call.>", func(*nats.Msg) {})
	must(t, err)
	must(t, nc.Flush())
	waitFor(t, func() bool { return leaf.Interest("net.peer.x.call.info") })
	if leaf.Interest("net.peer.y.call.info") {
		t.Fatal("interest for a subject nobody subscribed")
	}

	// The leaf stays away for the pause, even when pointed at its hubs
	// meanwhile (as discovery does on seeing it detached), and then
	// attaches to the hubs it was last given.
	began := time.Now()
	done := make(chan error, 1)
	go func() { done <- leaf.Reattach(context.Background()) }()
	waitFor(t, func() bool { _, conn := leaf.Attachment(); return conn != first })
	must(t, leaf.SetHubs([]string{hub.LeafURL()}))
	if _, conn := leaf.Attachment(); conn != 0 {
		t.Fatalf("attached again (connection %d) as soon as pointed at its hub, within the pause", conn)
	}
	must(t, <-done)
	waitFor(t, func() bool { _, conn := leaf.Attachment(); return conn != 0 && conn != first })
	if away := time.Since(began); away < embedded.ReattachPause {
		t.Fatalf("attached again after %s, want a pause of %s", away, embedded.ReattachPause)
	}
	waitFor(t, func() bool { return leaf.Interest("net.peer.x.call.info") })
}

// A leaf moved to a list of hubs attaches to the first, whichever it was
// on; no hub, or a URL that is none, is refused.
func TestMoveToPicksTheHub(t *testing.T) {
	t.Parallel()
	host, port, a, b := routedHubs(t, 5)
	leaf, err := embedded.Start(context.Background(), embedded.Config{Host: host, PortStart: port + 2, PortRange: 3,
		Name: func(p int) string { return "leaf" + strconv.Itoa(p) }})
	if err != nil {
		t.Fatal(err)
	}
	defer leaf.Close()
	must(t, leaf.SetHubs([]string{a.LeafURL(), b.LeafURL()}))
	waitFor(t, func() bool { _, conn := leaf.Attachment(); return conn != 0 })

	for i, to := range []*embedded.Server{a, b, a, b} {
		other := []*embedded.Server{b, a}[i%2]
		must(t, leaf.MoveTo(context.Background(), []string{to.LeafURL(), other.LeafURL()}))
		waitFor(t, func() bool { hub, _ := leaf.Attachment(); return hub == to.NATS().Name() })
	}
	if err := leaf.MoveTo(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "no hub") {
		t.Fatalf("moving to no hub: %v, want an error saying so", err)
	}
	if err := leaf.MoveTo(context.Background(), []string{"hub a"}); err == nil || !strings.Contains(err.Error(), `"hub a"`) {
		t.Fatalf("moving to a URL that is none: %v, want an error naming it", err)
	}
}

// A leaf hears when its connection to a hub comes and when it goes: the
// notices of nats-server that LeafNews depends on are still said.
func TestALeafHearsOfItsConnectionToAHub(t *testing.T) {
	t.Parallel()
	hub, leaf := hubAndLeaf(t, "leaf")
	heard := func(news <-chan struct{}, what string) {
		t.Helper()
		select {
		case <-news:
		case <-time.After(5 * time.Second):
			t.Fatalf("no news of the leaf's connection within 5s of %s", what)
		}
	}

	news := leaf.LeafNews()
	must(t, leaf.SetHubs([]string{hub.LeafURL()}))
	heard(news, "pointing it at its hub")
	waitFor(t, func() bool { _, conn := leaf.Attachment(); return conn != 0 })

	news = leaf.LeafNews()
	select {
	case <-news:
		t.Fatal("news while nothing happened to the leaf's connection")
	case <-time.After(50 * time.Millisecond):
	}
	hub.Close()
	heard(news, "its hub's close")
	waitFor(t, func() bool { _, conn := leaf.Attachment(); return conn == 0 })
}

// hubAndLeaf starts a hub and a leaf, not yet pointed at it, on a loopback
// host and port range of the test's own; the leaf's server is named
// prefix and its port. Both close when the test ends.
func hubAndLeaf(t *testing.T, prefix string) (hub, leaf *embedded.Server) {
	t.Helper()
	host, port := testnet.Host(t), testnet.Ports(t)
	hub = start(t, host, port, 5)
	leaf, err := embedded.Start(context.Background(), embedded.Config{Host: host, PortStart: port + 1, PortRange: 4,
		Name: func(p int) string { return prefix + strconv.Itoa(p) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(leaf.Close)
	return hub, leaf
}
