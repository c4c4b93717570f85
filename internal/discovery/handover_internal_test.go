package discovery

import (
	"context"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/peer"
	"github.com/appnet-go/appnet/internal/testnet"
)

// A leaf promoted to hub waits, before it routes, until the hub it left
// answers "no responders" for it, and a margin more; it does not wait for
// a hub that is gone.
func TestAPromotedLeafWaitsUntilItsHubLetsGo(t *testing.T) {
	t.Parallel()
	hub, leaf, d := hubWithLoopless(t)
	hubAt := Hit{Host: hub.Config().Host, Port: hub.Server().Port(), ID: hub.ID()}

	type result struct {
		forgotten bool
		at        time.Time
	}
	done := make(chan result, 1)
	go func() {
		ok := d.waitForgotten(context.Background(), hubAt)
		done <- result{ok, time.Now()}
	}()
	// While the leaf is attached, its hub reaches it.
	select {
	case r := <-done:
		t.Fatalf("waitForgotten returned %v while the hub still reached the leaf", r.forgotten)
	case <-time.After(300 * time.Millisecond):
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	restarting := time.Now() // the hub cannot let go before the server goes
	if err := leaf.SetRole(ctx, true); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if !r.forgotten {
		t.Fatalf("waitForgotten gave up after %s; the hub should have let go of the leaf's closed connection", handoverWait)
	}
	if r.at.Sub(restarting) < handoverMargin {
		t.Errorf("waitForgotten returned %s after the restart began, want at least the margin of %s", r.at.Sub(restarting), handoverMargin)
	}

	hub.Close()
	start := time.Now()
	if d.waitForgotten(context.Background(), hubAt) {
		t.Error("waitForgotten said a closed hub let go")
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("waitForgotten waited %s for a closed hub", took)
	}
}

// A hub that answers slower than the poll still says it let go: the
// answer counts whenever it comes.
func TestAPromotedLeafHearsASlowHubLetGo(t *testing.T) {
	t.Parallel()
	hub, leaf, d := hubWithLoopless(t)
	host := hub.Config().Host
	hubAt := Hit{Host: host, Port: delayingProxy(t, host, net.JoinHostPort(host, strconv.Itoa(hub.Server().Port())), 3*handoverPoll), ID: hub.ID()}

	done := make(chan bool, 1)
	go func() { done <- d.waitForgotten(context.Background(), hubAt) }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := leaf.SetRole(ctx, true); err != nil {
		t.Fatal(err)
	}
	if !<-done {
		t.Fatalf("waitForgotten gave up after %s on a hub whose answers take %s", handoverWait, 3*handoverPoll)
	}
}

// hubWithLoopless starts a hub and a leaf attached to it whose discovery
// does not run: the test restarts the leaf as a hub itself, and a running
// loop would route it to the hub at once, which would reach it again.
// It returns once the hub knows the leaf's call subject.
func hubWithLoopless(t *testing.T) (hub, leaf *peer.Peer, d *Discoverer) {
	t.Helper()
	host := testnet.Host(t)
	testnet.MustLoopback(t, host)
	hub, _ = joined(t, host, testnet.Ports(t))
	d = unjoinedLeaf(t)
	if err := d.p.Server().SetHubs([]string{hub.Server().LeafURL()}); err != nil {
		t.Fatal(err)
	}
	attachedTo(t, d, hub.ID(), 10*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for !hub.Server().Interest(peer.CallSubject(d.p.ID(), peer.ConnInfo)) {
		if time.Now().After(deadline) {
			t.Fatal("the hub does not know the leaf's call subject after 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return hub, d.p, d
}

// delayingProxy listens on host and passes each connection on to target,
// holding what the client sends for delay: it returns its port.
func delayingProxy(t *testing.T, host, target string, delay time.Duration) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	testnet.Accept(t, ln, func(c net.Conn, keep func(net.Conn)) {
		s, err := net.Dial("tcp", target)
		if err != nil {
			c.Close()
			return
		}
		keep(c)
		keep(s)
		go func() { _, _ = io.Copy(c, s) }()
		go func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := c.Read(buf)
				if n > 0 {
					time.Sleep(delay)
					if _, werr := s.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
	})
	return ln.Addr().(*net.TCPAddr).Port
}
