package bus_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appnet-go/appnet/bus"
	"github.com/appnet-go/appnet/internal/embedded"
	"github.com/appnet-go/appnet/internal/lower"
	"github.com/appnet-go/appnet/internal/peer"
	"github.com/appnet-go/appnet/internal/testnet"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// recorder is a rogue server's authenticator: it lets everyone in and
// keeps every credential presented to it.
type recorder struct {
	mu   sync.Mutex
	seen []string
}

const rogueSelf = "rogue-self" // the rogue's own in-process client

func (r *recorder) Check(c server.ClientAuthentication) bool {
	o := c.GetOpts()
	if o.Username == rogueSelf {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, "token="+o.Token+" user="+o.Username+" pass="+o.Password)
	return true
}

func (r *recorder) captured() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.seen...)
}

// startRogue runs a plain nats-server that knows no secret on host:port,
// posing as an appnet peer: it greets as one (server name a peer ID,
// cluster appnet), lets any client and route in, and answers info with
// its cluster URL, as a peer does, so that discovery would route to it.
func startRogue(t *testing.T, host string, port int) (*server.Server, *recorder) {
	t.Helper()
	rec := &recorder{}
	id := peer.NewID(host, port, "None")
	ns, err := server.NewServer(&server.Options{
		ServerName: string(id), Host: host, Port: port, NoLog: true, NoSigs: true, NoSystemAccount: true,
		CustomClientAuthentication: rec, CustomRouterAuthentication: rec,
		Cluster: server.ClusterOpts{Name: "appnet", Host: host, Port: server.RANDOM_PORT, PoolSize: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(5 * time.Second) {
		t.Fatal("the rogue server did not start")
	}
	nc, err := nats.Connect(ns.ClientURL(), nats.InProcessServer(ns), nats.UserInfo(rogueSelf, ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	info, _ := json.Marshal(bus.Info{ID: id, FriendlyID: peer.FriendlyID{Host: host, Port: port, Group: "None"}, Cluster: "nats://" + ns.ClusterAddr().String()})
	if _, err := nc.Subscribe(peer.CallSubject(id, peer.ConnInfo), func(m *nats.Msg) { _ = m.Respond(info) }); err != nil {
		t.Fatal(err)
	}
	return ns, rec
}

// A server that does not know the secret, on a port of the scanned range,
// is probed by discovery and even given as a route by hand: it must
// receive neither the secret (as a client's token or a route's password)
// nor a route.
func TestRogueServerCapturesNothing(t *testing.T) {
	t.Parallel()
	const secret = "rogue-test-s3cret"
	host, port := testnet.Host(t), testnet.Ports(t)
	rogue, rec := startRogue(t, host, port) // the range's first port
	logs := &testnet.LogBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: embedded.LevelServer})) // route attempts are server lines
	var ps []*bus.Peer
	for range 2 {
		cfg := bus.DefaultLocalConfig()
		cfg.Host, cfg.PortStart, cfg.Logger, cfg.Secret = host, port, log, secret
		bus.WithRegistry(bus.DefaultRegistry())(&cfg)
		p, err := bus.Start(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		ps = append(ps, p)
	}
	a, b := ps[0], ps[1]
	ctx := context.Background()
	found, err := a.Peers(ctx, bus.OnHost(), bus.AllGroups(), bus.Refresh())
	if err != nil {
		t.Fatal(err)
	}
	rogueID := bus.ID(rogue.Name())
	if _, ok := found.Peers[rogueID]; ok {
		t.Error("the rogue server is listed as a peer")
	}
	if _, ok := found.Peers[b.ID()]; !ok {
		t.Errorf("b is not listed: %v", found.IDs())
	}
	// A route to the rogue given by hand: a's server dials it, and must
	// give up before it sends its password.
	rogueCluster := rogue.ClusterAddr().String()
	if err := lower.Peer(a).Server().AddRoutes("nats://" + rogueCluster); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), rogueCluster) { // a's server logs each failed attempt
		if time.Now().After(deadline) {
			t.Fatalf("a's server never tried the route to the rogue at %s", rogueCluster)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := lower.Peer(a).Call(ctx, b.ID(), "info", nil); err != nil {
		t.Errorf("a cannot call b: %v", err)
	}
	if got := rec.captured(); len(got) > 0 {
		t.Errorf("the rogue server was presented credentials %d times; first: %q (secret inside: %v)", len(got), got[0], strings.Contains(got[0], secret))
	}
	if n := rogue.NumRoutes(); n != 0 {
		t.Errorf("the rogue server has %d routes", n)
	}
	if strings.Contains(logs.String(), secret) {
		t.Error("the secret is in the peers' log")
	}
}

// wiretap relays TCP connections from a listener on host to target and
// keeps every byte that crosses it, both ways.
type wiretap struct {
	mu  sync.Mutex
	buf []byte
}

func (w *wiretap) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	return len(p), nil
}

func (w *wiretap) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.buf)
}

func startWiretap(t *testing.T, host, target string) (string, *wiretap) {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	w := &wiretap{}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	t.Cleanup(func() {
		l.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, s)
			mu.Unlock()
			go func() { _, _ = io.Copy(io.MultiWriter(s, w), c); s.Close() }()
			go func() { _, _ = io.Copy(io.MultiWriter(c, w), s); c.Close() }()
		}
	}()
	return l.Addr().String(), w
}

// An eavesdropper between a client and a peer of a secret mesh sees the
// greeting and nothing else readable: not the token, not a subject, not a
// payload.
func TestEavesdropperSeesNoSecret(t *testing.T) {
	t.Parallel()
	const secret = "eavesdrop-s3cret"
	host, port := testnet.Host(t), testnet.Ports(t)
	logs := &testnet.LogBuffer{}
	a := startLogged(t, 1, host, port, logs, bus.WithSecret(secret))[0]
	addr, tap := startWiretap(t, host, net.JoinHostPort(host, strconv.Itoa(lower.Peer(a).Server().Port())))
	opts, err := a.Config().ClientOptions()
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect("nats://"+addr, append(opts, nats.Timeout(2*time.Second))...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	const payload = `"a payload only the peers may read"`
	m, err := nc.Request(peer.CallSubject(a.ID(), peer.ConnPassThrough), []byte(payload), 2*time.Second)
	if err != nil {
		t.Fatalf("a call through the tap: %v", err)
	}
	if string(m.Data) != payload {
		t.Fatalf("a call through the tap answered %q, want %q", m.Data, payload)
	}
	seen := tap.String()
	if !strings.Contains(seen, `"server_name":"`+string(a.ID())+`"`) {
		t.Fatalf("the tap did not see the greeting: %q", seen)
	}
	for _, s := range []string{secret, "a payload only", peer.ConnPassThrough, "CONNECT"} {
		if strings.Contains(seen, s) {
			t.Errorf("an eavesdropper reads %q", s)
		}
	}
}
