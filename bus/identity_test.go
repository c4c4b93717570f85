package bus_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/appnet-go/appnet/bus"
	"github.com/appnet-go/appnet/internal/lower"
	"github.com/appnet-go/appnet/internal/peer"
	"github.com/appnet-go/appnet/internal/testnet"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// startLogged starts n peers on host's range from port, logging at debug
// level into logs, with opts.
func startLogged(t *testing.T, n int, host string, port int, logs *testnet.LogBuffer, opts ...bus.Option) []*bus.Peer {
	t.Helper()
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var ps []*bus.Peer
	for range n {
		cfg := bus.DefaultLocalConfig()
		cfg.Host, cfg.PortStart, cfg.Logger = host, port, log
		bus.WithRegistry(bus.DefaultRegistry())(&cfg)
		p, err := bus.Start(context.Background(), cfg, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		ps = append(ps, p)
	}
	return ps
}

// impostor runs a plain nats-server named id (a peer's ID) on host:port,
// in the appnet cluster, routed to the given cluster URLs, with a client
// that answers id's info as id, giving its own cluster URL.
func impostor(t *testing.T, id bus.ID, host string, port int, routes ...string) *server.Server {
	t.Helper()
	opts := &server.Options{
		ServerName: string(id), Host: host, Port: port, NoLog: true, NoSigs: true, NoSystemAccount: true,
		Cluster: server.ClusterOpts{Name: "appnet", Host: host, Port: server.RANDOM_PORT, PoolSize: 1},
	}
	for _, r := range routes {
		u, err := url.Parse(r)
		if err != nil {
			t.Fatal(err)
		}
		opts.Routes = append(opts.Routes, u)
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(5 * time.Second) {
		t.Fatal("the impostor did not start")
	}
	nc, err := nats.Connect(ns.ClientURL(), nats.InProcessServer(ns))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	a, _ := id.Decode()
	info, _ := json.Marshal(bus.Info{ID: id, FriendlyID: peer.FriendlyID{Host: a.Host, Port: a.Port, Group: a.Group}, Cluster: "nats://" + ns.ClusterAddr().String()})
	if _, err := nc.Subscribe(peer.CallSubject(id, ">"), func(m *nats.Msg) { _ = m.Respond(info) }); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return ns
}

// waitLog refreshes p's peers until the log has want, or fails after 10s.
func waitLog(t *testing.T, p *bus.Peer, logs *testnet.LogBuffer, want string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), want); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log:\n%s", want, logs.String())
		}
		_, _ = p.Peers(context.Background(), bus.OnHost(), bus.AllGroups(), bus.Refresh())
	}
}

// A server on another port of the range that greets with a peer's ID is
// neither listed nor routed to, and the peer whose ID it claims says so
// as an error.
func TestScanRefusesAServerClaimingAPeersID(t *testing.T) {
	t.Parallel()
	host, port := testnet.Host(t), testnet.Ports(t)
	logs := &testnet.LogBuffer{}
	ps := startLogged(t, 2, host, port, logs)
	a, b := ps[0], ps[1]
	fake := impostor(t, b.ID(), host, port+4)
	for _, p := range ps {
		found, err := p.Peers(context.Background(), bus.OnHost(), bus.AllGroups(), bus.Refresh())
		if err != nil {
			t.Fatal(err)
		}
		for id, info := range found.Peers {
			if info.Port == port+4 || (id == b.ID() && info.Cluster == "nats://"+fake.ClusterAddr().String()) {
				t.Errorf("%s lists the impostor as %s", p.ID(), id)
			}
		}
	}
	if !strings.Contains(logs.String(), "a server claims this peer's ID") {
		t.Errorf("b did not report the server claiming its ID:\n%s", logs.String())
	}
	if n := fake.NumRoutes(); n != 0 {
		t.Errorf("the impostor has %d routes", n)
	}
	if _, err := lower.Peer(a).Call(context.Background(), b.ID(), "info", nil); err != nil {
		t.Error(err)
	}
}

// A server named after a peer's ID that joins the cluster through a route
// of its own (on an open mesh, anyone can) is reported as an error.
func TestDuplicateServerNameIsReported(t *testing.T) {
	t.Parallel()
	host, port := testnet.Host(t), testnet.Ports(t)
	logs := &testnet.LogBuffer{}
	ps := startLogged(t, 2, host, port, logs)
	a, b := ps[0], ps[1]
	impostor(t, b.ID(), host, port+4, a.Info().Cluster)
	waitLog(t, a, logs, "another party claims a peer's identity")
	if !strings.Contains(logs.String(), string(b.ID())) {
		t.Errorf("the report does not name the ID claimed:\n%s", logs.String())
	}
}

// A client that subscribes to another peer's call subjects (any holder of
// the secret can) is reported by that peer as an error.
func TestClientAnsweringAnotherPeersCallsIsReported(t *testing.T) {
	t.Parallel()
	const secret = "identity-s3cret"
	host, port := testnet.Host(t), testnet.Ports(t)
	logs := &testnet.LogBuffer{}
	ps := startLogged(t, 2, host, port, logs, bus.WithSecret(secret))
	a, b := ps[0], ps[1]
	opts, err := a.Config().ClientOptions()
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(lower.Peer(a).Server().ClientURL(), append(opts, nats.Name("impostor"))...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.QueueSubscribe(peer.CallSubject(b.ID(), ">"), "q", func(m *nats.Msg) { _ = m.Respond([]byte(`"forged"`)) }); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	waitLog(t, b, logs, "subscribes to "+peer.CallSubject(b.ID(), ">"))
}
