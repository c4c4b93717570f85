package embedded_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/embedded"
	"github.com/appnet-go/appnet/internal/testnet"
)

func start(t *testing.T, host string, port, extra int) *embedded.Server {
	t.Helper()
	testnet.MustLoopback(t, host)
	s, err := embedded.Start(context.Background(), embedded.Config{Host: host, PortStart: port, PortRange: extra,
		Name: func(p int) string { return "s" + strconv.Itoa(p) }, Hub: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// routedHubs starts two hubs on a loopback host and port range of the
// test's own (extra ports above port each), routed to each other.
func routedHubs(t *testing.T, extra int) (host string, port int, a, b *embedded.Server) {
	t.Helper()
	host, port = testnet.Host(t), testnet.Ports(t)
	a = start(t, host, port, extra)
	b = start(t, host, port, extra)
	must(t, b.AddRoutes(a.ClusterURL()))
	waitFor(t, func() bool { return len(a.RemoteNames()) == 1 })
	return host, port, a, b
}

func TestRoutesFormAndGo(t *testing.T) {
	t.Parallel()
	host, port := testnet.Host(t), testnet.Ports(t)
	a := start(t, host, port, 5)
	b := start(t, host, port, 5)
	c := start(t, host, port, 5)
	if a.Port() != port || b.Port() != port+1 || c.Port() != port+2 {
		t.Fatalf("ports %d %d %d", a.Port(), b.Port(), c.Port())
	}
	// b and c route to a; gossip meshes b and c.
	for _, s := range []*embedded.Server{b, c} {
		if err := s.AddRoutes(a.ClusterURL(), s.ClusterURL()); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool {
		return len(b.RemoteNames()) == 2 && len(c.RemoteNames()) == 2 && len(a.RemoteNames()) == 2
	})
	if got := b.Routes(); len(got) != 1 || got[0] != a.ClusterURL() {
		t.Errorf("b's explicit routes = %v (its own URL must be skipped)", got)
	}
	if err := b.RemoveRoutes(a.ClusterURL()); err != nil {
		t.Fatal(err)
	}
	if len(b.Routes()) != 0 {
		t.Errorf("routes after removal: %v", b.Routes())
	}
	if err := b.AddRoutes("::not a url"); err == nil {
		t.Error("a bad route URL was accepted")
	}
}

func TestRangeFullAndPortRelease(t *testing.T) {
	t.Parallel()
	host, port := testnet.Host(t), testnet.Ports(t)
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	a := start(t, host, port, 1)
	_, err = embedded.Start(context.Background(), embedded.Config{Host: host, PortStart: port, PortRange: 1})
	if !errors.Is(err, embedded.ErrRangeFull) {
		t.Fatalf("err = %v, want ErrRangeFull", err)
	}
	a.Close()
	b := start(t, host, port, 1)
	if b.Port() != port+1 {
		t.Errorf("port %d not released by Close", port+1)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The route password is the shared secret; the server logs route URLs
// (for instance when one is removed), and none may show it.
func TestSecretNeverReachesTheLog(t *testing.T) {
	t.Parallel()
	const secret = "route-s3cret"
	host, port := testnet.Host(t), testnet.Ports(t)
	var logs strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), &slog.HandlerOptions{Level: embedded.LevelServer}))
	s, err := embedded.Start(context.Background(), embedded.Config{Host: host, PortStart: port, PortRange: 5, Secret: secret, Logger: log, Hub: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	other := start(t, host, port, 5)
	if err := s.AddRoutes(other.ClusterURL()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(s.RemoteNames()) == 1 }) // the route was dialled, with the secret
	if routes := s.Routes(); len(routes) != 1 || strings.Contains(routes[0], secret) {
		t.Errorf("Routes() = %q: want the one route, without the secret", routes)
	}
	if err := s.RemoveRoutes(other.ClusterURL()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	mu.Lock()
	defer mu.Unlock()
	if strings.Contains(logs.String(), secret) {
		t.Errorf("the secret is in the log:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "[redacted]@") {
		t.Errorf("the dialled route's URL is not in the log, redacted:\n%s", logs.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
