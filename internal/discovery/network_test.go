package discovery_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/appnet-go/appnet/bus"
	"github.com/appnet-go/appnet/internal/discovery"
	"github.com/appnet-go/appnet/internal/lower"
	"github.com/appnet-go/appnet/internal/peer"
	"github.com/appnet-go/appnet/internal/testnet"
)

// TestNetworkOfLoopbackHosts runs ten peers on five "hosts" of a loopback
// /27 (Linux routes all of 127.0.0.0/8 to loopback), with a silent listener
// inside the scanned range, and checks the scan, the mesh, a leave and a
// return.
func TestNetworkOfLoopbackHosts(t *testing.T) {
	t.Parallel()
	cidr, hosts := testnet.Subnet(t, 5)
	testnet.MustLoopback(t, cidr)
	port := testnet.Ports(t)
	silent, err := net.Listen("tcp", net.JoinHostPort(hosts[4], strconv.Itoa(port+5)))
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()

	start := func(host string) *bus.Peer {
		cfg := peer.DefaultLocalConfig()
		cfg.Host, cfg.PortStart, cfg.Scan, cfg.Registry = host, port, cidr, peer.NewRegistry()
		cfg.ScanTimeout = 200 * time.Millisecond
		p, err := bus.Start(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	var ps []*bus.Peer
	for i := range 10 {
		ps = append(ps, start(hosts[i%5]))
	}
	ctx := context.Background()
	t0 := time.Now()
	found, err := ps[0].Peers(ctx, bus.Refresh())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("full scan of %s × 6 ports: %s", cidr, time.Since(t0))
	if len(found.Peers) != 9 {
		t.Fatalf("found %d peers, want 9: %v", len(found.Peers), found.IDs())
	}
	// Every peer can call every other: one cluster, completed by gossip.
	for _, from := range ps {
		for _, to := range ps {
			if from != to {
				callOK(t, from, to.ID())
			}
		}
	}
	t1 := time.Now()
	if again, err := ps[0].Peers(ctx, bus.Refresh()); err != nil || len(again.Peers) != 9 {
		t.Fatalf("refresh: %d peers, %v", len(again.Peers), err)
	}
	t.Logf("refresh once meshed: %s", time.Since(t1))

	// A peer leaves: gone after a refresh. It comes back: found again.
	gone := ps[9]
	goneCfg := gone.Config()
	gone.Close()
	waitFor(t, func() bool {
		f, err := ps[0].Peers(ctx, bus.Refresh())
		_, still := f.Peers[gone.ID()]
		return err == nil && !still && len(f.Peers) == 8
	})
	back, err := bus.Start(ctx, goneCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	if back.ID() != gone.ID() {
		t.Fatalf("restarted as %s, want %s", back.ID(), gone.ID())
	}
	waitFor(t, func() bool {
		f, err := ps[0].Peers(ctx, bus.Refresh())
		_, there := f.Peers[back.ID()]
		return err == nil && there
	})
	callOK(t, ps[0], back.ID())
}

// callOK waits until from reaches to through the cluster (its own server
// and the routes), not only over a direct connection.
func callOK(t *testing.T, from *bus.Peer, to peer.ID) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := from.Conn().Request(peer.CallSubject(to, peer.ConnInfo), nil, time.Second)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s cannot call %s: %v", from.ID(), to, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A peer restarted on its port keeps its ID but gets a new cluster port:
// the route to the old one must go, or the server redials it forever.
func TestRestartedPeerLeavesNoStaleRoute(t *testing.T) {
	t.Parallel()
	host, port := testnet.Host(t), testnet.Ports(t)
	cfg := peer.DefaultLocalConfig()
	cfg.Host, cfg.PortStart, cfg.Registry, cfg.ScanInterval = host, port, peer.NewRegistry(), 0
	b, err := bus.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, err := bus.Start(context.Background(), cfg, peer.WithHub(true)) // a hub: it routes to b
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	old := b.Info().Cluster
	if got := lower.Peer(a).Server().Routes(); len(got) != 1 || got[0] != old {
		t.Fatalf("a's routes = %v, want [%s]", got, old)
	}
	b.Close()
	b2, err := bus.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	if b2.ID() != b.ID() || b2.Info().Cluster == old {
		t.Fatalf("restart: ID %s cluster %s", b2.ID(), b2.Info().Cluster)
	}
	if _, err := a.Peers(context.Background(), bus.OnHost(), bus.Refresh()); err != nil {
		t.Fatal(err)
	}
	// a's topology loop drops the route at its next look at the view.
	deadline := time.Now().Add(10 * time.Second)
	for slices.Contains(lower.Peer(a).Server().Routes(), old) {
		if time.Now().After(deadline) {
			t.Fatalf("stale route to %s kept: %v", old, lower.Peer(a).Server().Routes())
		}
		time.Sleep(10 * time.Millisecond)
	}
	callOK(t, a, b2.ID())
}

// The cached answer notices a peer that joined since.
func TestCacheSeesNewRoutes(t *testing.T) {
	t.Parallel()
	host, port := testnet.Host(t), testnet.Ports(t)
	cfg := peer.DefaultLocalConfig()
	cfg.Host, cfg.PortStart, cfg.Registry, cfg.ScanInterval = host, port, peer.NewRegistry(), 0
	a, err := bus.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := bus.Start(context.Background(), cfg) // routes to a
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	waitFor(t, func() bool {
		found, err := a.Peers(context.Background(), bus.OnHost())
		return err == nil && len(found.Peers) == 1
	})
}

// A peer that finds no peer but a listener that accepts and never greets
// (a server too busy to, in a mass start) scans again, three times,
// before it starts a network of its own.
func TestAStarterRescansBusyListenersBeforeItStartsANetwork(t *testing.T) {
	t.Parallel()
	host, port := testnet.Host(t), testnet.Ports(t)
	testnet.MustLoopback(t, host)
	silent, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			accepted <- c // held open, never greeted
		}
	}()
	cfg := peer.DefaultLocalConfig()
	cfg.Host, cfg.PortStart, cfg.Registry = host, port, peer.NewRegistry()
	cfg.ScanTimeout, cfg.ScanInterval = 50*time.Millisecond, 0 // no rescans once it runs
	p, err := bus.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if role := p.Info().Role; role != peer.RoleHub {
		t.Fatalf("the lone peer is a %s, want the hub of its own network", role)
	}
	waitFor(t, func() bool { return len(accepted) >= 4 })
	if n := len(accepted); n != 4 {
		t.Fatalf("the busy listener was probed %d times, want 4 (a scan and three more)", n)
	}
	for range len(accepted) {
		(<-accepted).Close()
	}
}

// Starters that each take themselves for the network's second hub ask its
// first, which lets one of them be a hub and refuses the others until that
// one joins.
func TestTheFirstHubLetsOneStarterBeTheSecond(t *testing.T) {
	t.Parallel()
	cfg := localConfig(t)
	cfg.ScanTimeout = 200 * time.Millisecond
	ctx := context.Background()
	first, err := bus.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if role := first.Info().Role; role != peer.RoleHub {
		t.Fatalf("the first peer is a %s, want a hub", role)
	}
	hubs := []peer.HubAddr{{ID: first.ID()}}

	// Starters not yet joined: their servers are up, unattached.
	var starters []*peer.Peer
	for range 3 {
		p, err := peer.Start(ctx, cfg, peer.AsLeaf())
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		starters = append(starters, p)
	}
	granted := make(chan *peer.Peer, len(starters))
	for _, p := range starters {
		go func() {
			if discovery.ClaimHub(ctx, p, hubs) {
				granted <- p
			} else {
				granted <- nil
			}
		}()
	}
	var yes []*peer.Peer
	for range starters {
		if p := <-granted; p != nil {
			yes = append(yes, p)
		}
	}
	if len(yes) != 1 {
		t.Fatalf("%d of %d claims granted, want 1", len(yes), len(starters))
	}
	if discovery.ClaimHub(ctx, starters[0], hubs) {
		t.Fatal("a claim right after a granted one was granted too")
	}

	// The peer it said yes to joins (here as a leaf, and so the network
	// still has one hub): the next claim needs no 5 s wait.
	announceJoin(t, first, yes[0].Info())
	if !discovery.ClaimHub(ctx, starters[0], hubs) {
		t.Fatal("a claim after the granted peer joined as a leaf was refused")
	}
}

// A starter at a lower address than a hub it found still joins that hub's
// network, whether the scan's greeting said it was a hub (a hub too busy
// to answer the scan's question is the network: the lowest address
// decides only among starters) or not (the scan saw it before it
// restarted as the first hub: the lowest starter asks again before it
// starts a network).
func TestAStarterBelowAHubFindsIt(t *testing.T) {
	t.Parallel()
	for _, greeted := range []bool{true, false} {
		t.Run(fmt.Sprintf("greeted as hub %v", greeted), func(t *testing.T) {
			t.Parallel()
			cfg := localConfig(t)
			ctx := context.Background()
			starter, err := peer.Start(ctx, cfg, peer.AsLeaf()) // the lowest port
			if err != nil {
				t.Fatal(err)
			}
			defer starter.Close()
			hub := startHub(t, cfg)
			if hub.Info().Port <= starter.Server().Port() {
				t.Fatalf("the hub is on port %d, the starter on %d: want the starter lower", hub.Info().Port, starter.Server().Port())
			}
			seen := []discovery.Hit{{Host: hub.Info().Host, Port: hub.Info().Port, ID: hub.ID(), Hub: greeted}}
			hubs := discovery.AwaitFirst(ctx, starter, seen)
			if !slices.ContainsFunc(hubs, func(h peer.HubAddr) bool { return h.ID == hub.ID() }) {
				t.Fatalf("the starter found %v, want the hub, %s", hubs, hub.ID())
			}
		})
	}
}

// The lowest starter asks the others again for askAgainFor at most, a part
// of the others' bootWait, however long a silent listener would keep each
// question waiting.
func TestTheLowestStarterAsksBriefly(t *testing.T) {
	t.Parallel()
	cfg := localConfig(t)
	cfg.ScanTimeout = time.Second // a question may wait 4 s
	ctx := context.Background()
	starter, err := peer.Start(ctx, cfg, peer.AsLeaf())
	if err != nil {
		t.Fatal(err)
	}
	defer starter.Close()
	// A silent listener above the starter, on the first free port of the
	// test's range after it.
	port := starter.Server().Port() + 1
	for ; listenSilent(t, net.JoinHostPort(cfg.Host, strconv.Itoa(port))) != nil; port++ {
		if port > starter.Server().Port()+10 {
			t.Fatalf("no free port after the starter's %d for a silent listener", starter.Server().Port())
		}
	}
	start := time.Now()
	hubs := discovery.AwaitFirst(ctx, starter, []discovery.Hit{{Host: cfg.Host, Port: port, ID: "silent"}})
	if took := time.Since(start); len(hubs) > 0 || took > 1500*time.Millisecond {
		t.Fatalf("the lowest starter asked for %s and found %v, want none within 1.5 s", took, hubs)
	}
}

// A starter that waited in vain for the lowest starter it found (one that
// never starts the network) scans again before it starts a network of its
// own, and joins the network that started meanwhile.
func TestAStarterThatWaitedInVainScansAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg, starter := belowAStarterThatWaits(t)
	done := findNetwork(ctx, starter)
	// The network starts while the starter waits for the lowest (its scan
	// of one host takes milliseconds; should it take longer, it finds the
	// hub at once, which passes too).
	time.Sleep(500 * time.Millisecond)
	joinsHub(t, done, startHub(t, cfg), 15*time.Second)
}

// A starter whose scans find two hubs that greet and never say who the
// network's hubs are (hubs too busy to answer, here listeners that only
// greet as hubs) does not start a network of its own after one wait of
// hubWait: it scans again and joins the hub that answers meanwhile.
func TestAStarterKeepsLookingWhileBusyHubsAreSilent(t *testing.T) {
	t.Parallel()
	cfg := localConfig(t)
	cfg.ScanTimeout = 100 * time.Millisecond
	ctx := context.Background()
	firstAsked := greetAsHubOnly(t, cfg)
	greetAsHubOnly(t, cfg)
	starter, err := peer.Start(ctx, cfg, peer.AsLeaf())
	if err != nil {
		t.Fatal(err)
	}
	defer starter.Close()
	done := findNetwork(ctx, starter)
	// The hub that answers comes once the starter has waited for the
	// silent one longer than one hubWait (4 s), when it gave up before.
	var since time.Time
	select {
	case since = <-firstAsked:
	case f := <-done:
		t.Fatalf("the starter found hubs %v (error %v), hub %v, before it asked the silent hub", f.hubs, f.err, f.hub)
	case <-time.After(10 * time.Second):
		t.Fatal("the starter did not find the silent hub within 10 s")
	}
	select {
	case f := <-done:
		t.Fatalf("%s after it first asked the silent hub, the starter gave up looking: hubs %v, to be a hub %v (error %v)",
			time.Since(since).Round(time.Millisecond), f.hubs, f.hub, f.err)
	case <-time.After(time.Until(since.Add(5 * time.Second))):
	}
	joinsHub(t, done, startHub(t, cfg), 20*time.Second)
}

// One hub that greets and does not answer is not waited for so long: in
// a start without hubs by configuration, it is the first hub, which every
// starter asks. After one wait of hubWait, a starter that found no other
// starts a network of its own, as before.
func TestAStarterPassesOverOneSilentHub(t *testing.T) {
	t.Parallel()
	cfg := localConfig(t)
	cfg.ScanTimeout = 100 * time.Millisecond
	greetAsHubOnly(t, cfg)
	starter, err := peer.Start(context.Background(), cfg, peer.AsLeaf())
	if err != nil {
		t.Fatal(err)
	}
	defer starter.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	hubs, hub, err := discovery.FindNetwork(ctx, starter)
	if took := time.Since(start); err != nil || !hub || len(hubs) > 0 || took > 10*time.Second {
		t.Fatalf("after %s the starter found hubs %v (error %v) and is to be a hub: %v; want a network of its own within 10 s",
			took.Round(time.Millisecond), hubs, err, hub)
	}
}

// found is what FindNetwork returned.
type found struct {
	hubs []peer.HubAddr
	hub  bool
	err  error
}

// findNetwork runs FindNetwork for starter in the background.
func findNetwork(ctx context.Context, starter *peer.Peer) <-chan found {
	done := make(chan found, 1)
	go func() {
		hubs, hub, err := discovery.FindNetwork(ctx, starter)
		done <- found{hubs, hub, err}
	}()
	return done
}

// joinsHub fails the test unless the FindNetwork that done waits for
// returns, within limit, hubs that name hub, and does not make the
// starter a hub.
func joinsHub(t *testing.T, done <-chan found, hub *bus.Peer, limit time.Duration) {
	t.Helper()
	select {
	case f := <-done:
		if f.err != nil || f.hub || !slices.ContainsFunc(f.hubs, func(h peer.HubAddr) bool { return h.ID == hub.ID() }) {
			t.Fatalf("the starter found hubs %v (error %v) and is to be a hub: %v; want it to join the hub that came, %s", f.hubs, f.err, f.hub, hub.ID())
		}
	case <-time.After(limit):
		t.Fatalf("the starter still looks for the network %s after a hub came", limit)
	}
}

// greetAsHubOnly listens on the first free port of cfg's range, greets
// every connection as a hub's server does, and never answers: a hub too
// busy to. It returns when the first connection came.
func greetAsHubOnly(t *testing.T, cfg peer.Config) <-chan time.Time {
	t.Helper()
	var l net.Listener
	for _, port := range cfg.Ports() {
		var err error
		if l, err = net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(port))); err == nil {
			break
		}
	}
	if l == nil {
		t.Fatalf("no free port in %v for a silent hub", cfg.Ports())
	}
	port := l.Addr().(*net.TCPAddr).Port
	greeting := fmt.Sprintf("INFO {\"server_name\":%q,\"cluster\":\"appnet\"}\r\n", peer.NewID(cfg.Host, port, cfg.Group))
	first := make(chan time.Time, 1)
	testnet.Accept(t, l, func(c net.Conn, keep func(net.Conn)) {
		select {
		case first <- time.Now():
		default:
		}
		keep(c) // held open, never answered
		_, _ = c.Write([]byte(greeting))
	})
	return first
}

// A starter whose deadline leaves no time to scan again after it waited
// in vain for the lowest starter starts a network of its own, as before,
// rather than fail.
func TestAStarterShortOfTimeStartsANetwork(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, starter := belowAStarterThatWaits(t)
	short, cancel := context.WithTimeout(ctx, 4*time.Second) // one wait of 2 s, and not a second
	defer cancel()
	hubs, hub, err := discovery.FindNetwork(short, starter)
	if err != nil || !hub || len(hubs) > 0 {
		t.Fatalf("the starter found hubs %v and is to be a hub: %v (error %v); want it to start a network of its own", hubs, hub, err)
	}
}

// belowAStarterThatWaits starts two unattached leaves in a port range of
// the test's own: the lowest, which never looks for the network, and a
// starter above it, which it returns with the range's configuration.
func belowAStarterThatWaits(t *testing.T) (peer.Config, *peer.Peer) {
	t.Helper()
	cfg := localConfig(t)
	var started []*peer.Peer
	for range 2 {
		p, err := peer.Start(context.Background(), cfg, peer.AsLeaf())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		started = append(started, p)
	}
	return cfg, started[1]
}

// A hub answers an asker's repeated sync requests (replies on one request
// mux's inbox, _INBOX.<id>.<n>) once, and requests with inboxes of their
// own each, old-style ones under _LOCAL.INBOX too.
func TestAHubAnswersEachAskerOnce(t *testing.T) {
	t.Parallel()
	hub, err := bus.Start(context.Background(), localConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	nc, err := nats.Connect("nats://" + net.JoinHostPort(hub.Info().Host, strconv.Itoa(hub.Info().Port)))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	answers := make(chan *nats.Msg, 16)
	for _, inboxes := range []string{"_INBOX.>", "_LOCAL.INBOX.>"} {
		if _, err := nc.ChanSubscribe(inboxes, answers); err != nil {
			t.Fatal(err)
		}
	}
	mux, own1, own2, local1, local2 := nats.NewInbox(), nats.NewInbox(), nats.NewInbox(), "_LOCAL."+nats.NewInbox()[1:], "_LOCAL."+nats.NewInbox()[1:]
	last := nats.NewInbox() + ".1"
	for _, reply := range []string{mux + ".1", mux + ".2", mux + ".3", own1, own2, local1, local2, last} {
		if err := nc.PublishRequest(peer.MemberSyncSubject, reply, nil); err != nil {
			t.Fatal(err)
		}
	}
	// The hub answers in order: once the last asker has its answer, every
	// request before it was answered or left.
	got := map[string]int{}
	timeout := time.After(5 * time.Second)
	for got[last] == 0 {
		select {
		case m := <-answers:
			if status := m.Header.Get("Status"); status != "" {
				t.Fatalf("answer on %s: NATS status %s (503: no responders), want the view", m.Subject, status)
			}
			if snap, err := peer.Decode[peer.MemberSnapshot](m.Data); err != nil || len(snap.Members) == 0 {
				t.Fatalf("answer on %s: %q, %v; want the view, the hub in it", m.Subject, m.Data, err)
			}
			got[m.Subject]++
		case <-timeout:
			t.Fatalf("no answer to the last request; answers: %v", got)
		}
	}
	if n := got[mux+".1"] + got[mux+".2"] + got[mux+".3"]; n != 1 {
		t.Errorf("%d answers to the mux's three requests, want 1: %v", n, got)
	}
	for _, own := range []string{own1, own2, local1, local2} {
		if got[own] != 1 {
			t.Errorf("%d answers on %s, want 1: %v", got[own], own, got)
		}
	}
}

// startHub starts a hub by configuration, closed when the test ends.
func startHub(t *testing.T, cfg peer.Config) *bus.Peer {
	t.Helper()
	cfg.Hub = true
	hub, err := bus.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Close() })
	return hub
}

// announceJoin publishes info's join through via's connection, as a hub
// passes a join on, and waits until via's view has it.
func announceJoin(t *testing.T, via *bus.Peer, info peer.Info) {
	t.Helper()
	data, err := peer.Encode(info)
	if err != nil {
		t.Fatal(err)
	}
	if err := via.Conn().Publish(peer.MemberJoinSubject, data); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		found, err := via.Peers(context.Background())
		_, in := found.Peers[info.ID]
		return err == nil && in
	})
}

// localConfig is a peer's configuration on a loopback host and port range
// of the test's own.
func localConfig(t *testing.T) peer.Config {
	t.Helper()
	host, port := testnet.Host(t), testnet.Ports(t)
	testnet.MustLoopback(t, host)
	cfg := peer.DefaultLocalConfig()
	cfg.Host, cfg.PortStart, cfg.Registry = host, port, peer.NewRegistry()
	return cfg
}
