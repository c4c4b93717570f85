package discovery

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/appnet-go/appnet/internal/peer"
	"github.com/appnet-go/appnet/internal/testnet"
)

// unjoinedLeaf is the Discoverer of a leaf whose server runs, on a
// loopback host and port range of the test's own, and that has joined no
// network: its view is what the test puts in it.
func unjoinedLeaf(t *testing.T) *Discoverer {
	t.Helper()
	host, port := testnet.Host(t), testnet.Ports(t)
	testnet.MustLoopback(t, host)
	cfg := peer.DefaultLocalConfig()
	cfg.Host, cfg.PortStart, cfg.Registry = host, port, peer.NewRegistry()
	p, err := peer.Start(context.Background(), cfg, peer.AsLeaf())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return New(p)
}

// attachedLeaf starts a hub on a loopback host of the test's own and an
// unjoined leaf (unjoinedLeaf) attached to it, and returns both and the
// host.
func attachedLeaf(t *testing.T) (*peer.Peer, *Discoverer, string) {
	t.Helper()
	host := testnet.Host(t)
	testnet.MustLoopback(t, host)
	hub, _ := joined(t, host, testnet.Ports(t))
	d := unjoinedLeaf(t)
	if err := d.p.Server().SetHubs([]string{hub.HubAddr().Leaf}); err != nil {
		t.Fatal(err)
	}
	attachedTo(t, d, hub.ID(), 10*time.Second)
	return hub, d, host
}

// changedAgo makes d's view look last changed ago.
func changedAgo(d *Discoverer, ago time.Duration) {
	d.view.mu.Lock()
	d.view.changedAt = time.Now().Add(-ago)
	d.view.mu.Unlock()
}

// A leaf attached to a hub keeps its connection when its view loses that
// hub and names another: a hub that died or stopped being one drops the
// connection, so a report that it failed was wrong.
func TestALeafKeepsAHubItsViewLost(t *testing.T) {
	t.Parallel()
	hubA, d, host := attachedLeaf(t)
	hubB, _ := joined(t, host, testnet.Ports(t)) // a hub the view will name instead
	_, conn := d.p.Server().Attachment()

	d.view.join(infoOf(t, hubB))
	d.connect()
	// An absence has no readiness signal: the connection is watched for
	// a second (the code before moved it at once).
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if hub, now := d.p.Server().Attachment(); hub != string(hubA.ID()) || now != conn {
			t.Fatalf("a leaf attached to hub A (connection %d) whose view names only hub B is attached to %q (connection %d)", conn, hub, now)
		}
	}
}

// A leaf whose hub does not answer for the view still says it is here,
// once per connection, and waits longer for the view at its next try.
func TestALeafAnnouncesItselfThoughTheViewDoesNotCome(t *testing.T) {
	t.Parallel()
	host := testnet.Host(t)
	testnet.MustLoopback(t, host)
	cfg := peer.DefaultLocalConfig()
	cfg.Host, cfg.PortStart, cfg.Registry, cfg.Hub = host, testnet.Ports(t), peer.NewRegistry(), true
	hub, err := peer.Start(context.Background(), cfg) // no discovery: nothing answers for the view
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Close() })
	joins := make(chan peer.ID, 8)
	if _, err := hub.Conn().Subscribe(peer.MemberJoinSubject, func(m *nats.Msg) {
		if info, err := peer.Decode[peer.Info](m.Data); err == nil {
			joins <- info.ID
		}
	}); err != nil {
		t.Fatal(err)
	}
	d := unjoinedLeaf(t)
	if err := d.p.Server().SetHubs([]string{hub.Server().LeafURL()}); err != nil {
		t.Fatal(err)
	}
	attachedTo(t, d, hub.ID(), 10*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for !d.p.Server().Interest(peer.MemberJoinSubject) {
		if time.Now().After(deadline) {
			t.Fatal("the leaf's server does not pass joins on to its hub after 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}

	d.watchLeafConnection(context.Background())
	select {
	case id := <-joins:
		if id != d.p.ID() {
			t.Fatalf("the hub heard %s join, want the leaf %s", id, d.p.ID())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a leaf that could not load the view did not say it is here")
	}
	if d.net.syncWait != 2*attachSync {
		t.Fatalf("after a wait in vain for the view, the next wait is %s, want %s", d.net.syncWait, 2*attachSync)
	}
	d.watchLeafConnection(context.Background()) // the same connection, the view still not coming
	select {
	case id := <-joins:
		t.Fatalf("the leaf said again that it is here (%s) over the same connection", id)
	case <-time.After(100 * time.Millisecond):
	}
}

// A newcomer tells the network once that it joined, though the view it
// loads lacks it: every member decodes every join.
func TestANewcomerAnnouncesItselfOnce(t *testing.T) {
	t.Parallel()
	host := testnet.Host(t)
	testnet.MustLoopback(t, host)
	hub, _ := joined(t, host, testnet.Ports(t))
	d := unjoinedLeaf(t)
	// The leaf's own connection hears what it publishes, in order: the
	// marker comes back after every join published before it.
	const marker = "test.marker"
	heard := make(chan *nats.Msg, 16)
	for _, subject := range []string{peer.MemberJoinSubject, marker} {
		if _, err := d.p.Conn().ChanSubscribe(subject, heard); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Join(context.Background(), []peer.HubAddr{hub.HubAddr()}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Leave)
	if !d.knowsNetwork.Load() {
		t.Fatal("the leaf joined without loading the hub's view")
	}
	if err := d.p.Conn().Publish(marker, nil); err != nil {
		t.Fatal(err)
	}
	joins := 0
	for {
		select {
		case m := <-heard:
			if m.Subject == marker {
				if joins != 1 {
					t.Fatalf("a newcomer announced itself %d times, want once", joins)
				}
				return
			}
			if info, err := peer.Decode[peer.Info](m.Data); err == nil && info.ID == d.p.ID() {
				joins++
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the leaf's own message did not come back within 5 s")
		}
	}
}
