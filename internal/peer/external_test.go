package peer_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/peer"
	"github.com/appnet-go/appnet/internal/testnet"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Peers that are clients of a NATS deployment (NET_NATS_URL) run no
// server: each holds a port of its range for its ID, and the deployment
// carries their calls, here across two routed servers.
func TestClientsOfADeploymentCallEachOther(t *testing.T) {
	t.Parallel()
	host, port := testnet.Host(t), testnet.Ports(t)
	urls := testnet.Deployment(t, host, 2)
	start := func(url string) *peer.Peer {
		t.Helper()
		p, err := peer.Start(context.Background(), peer.DefaultLocalConfig(), peer.WithHost(host), peer.WithPorts(port, 5), peer.WithNATS(url))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	a, b := start(urls[0]), start(testnet.URLs(urls[1], urls[0]))

	for _, p := range []*peer.Peer{a, b} {
		if p.Server() != nil || p.Info().Cluster != "" || len(p.Info().Routes) != 0 {
			t.Errorf("%s runs a server or has routes: %+v", p.ID(), p.Info())
		}
	}
	if a.Info().Port != port || b.Info().Port != port+1 {
		t.Errorf("ports %d and %d, want the first two of the range %d", a.Info().Port, b.Info().Port, port)
	}

	// The deployment's servers learn each other's subscriptions through
	// their route within milliseconds: the first call may find nobody yet.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []byte
	var err error
	for {
		out, err = a.Call(ctx, b.ID(), peer.ConnPassThrough, []byte(`{"x":[1,"two"]}`))
		if !errors.Is(err, peer.ErrUnreachable) || ctx.Err() != nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err != nil || string(out) != `{"x":[1,"two"]}` {
		t.Fatalf("a -> b pass_through: %s, %v", out, err)
	}
	out, err = b.Call(ctx, a.ID(), peer.ConnInfo, nil)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := peer.Decode[peer.Info](out); err != nil || info.ID != a.ID() {
		t.Fatalf("b -> a info: %s, %v", out, err)
	}

	// The held port serves nothing: a connection is closed at once.
	held := net.JoinHostPort(host, strconv.Itoa(port))
	c, err := net.DialTimeout("tcp", held, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("reading from the held port: %d bytes, %v; want EOF at once", n, err)
	}
	c.Close()

	// Closing releases the port.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", held)
	if err != nil {
		t.Fatalf("the port is still held after Close: %v", err)
	}
	l.Close()
}

// A deployment that cannot be reached is a clear error at start, and bad
// deployment settings are configuration errors naming the variable.
func TestDeploymentErrors(t *testing.T) {
	t.Parallel()
	host, port := testnet.Host(t), testnet.Ports(t)
	gone := net.JoinHostPort(host, strconv.Itoa(port+5)) // nothing listens there
	_, err := peer.Start(context.Background(), peer.DefaultLocalConfig(), peer.WithHost(host), peer.WithPorts(port, 1),
		peer.WithNATS("nats://"+gone))
	if err == nil || !strings.Contains(err.Error(), "connecting to the NATS deployment at nats://"+gone) {
		t.Errorf("unreachable deployment: %v", err)
	}
	// The port it held is free again.
	l, lerr := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if lerr != nil {
		t.Errorf("a failed start kept its port: %v", lerr)
	} else {
		l.Close()
	}

	// An ID that something on the deployment already answers to (another
	// machine with the same NET_HOST) is refused, naming NET_HOST.
	urls := testnet.Deployment(t, host, 1)
	twin, err := nats.Connect(urls[0])
	if err != nil {
		t.Fatal(err)
	}
	defer twin.Close()
	id := peer.NewID(host, port, "None")
	if _, err := twin.Subscribe(peer.CallSubject(id, peer.ConnInfo), func(m *nats.Msg) { _ = m.Respond([]byte("{}")) }); err != nil {
		t.Fatal(err)
	}
	must(t, twin.Flush())
	_, err = peer.Start(context.Background(), peer.DefaultLocalConfig(), peer.WithHost(host), peer.WithPorts(port, 0), peer.WithNATS(urls[0]))
	if !errors.Is(err, peer.ErrConfig) || !strings.Contains(err.Error(), "already served") || !strings.Contains(err.Error(), "NET_HOST") {
		t.Errorf("a twin ID: %v; want ErrConfig saying it is already served, naming NET_HOST", err)
	}

	for _, tc := range []struct {
		opts []peer.Option
		want string
	}{
		{[]peer.Option{peer.WithNATS("http://" + gone)}, "NET_NATS_URL"},
		{[]peer.Option{peer.WithNATS("nats://")}, "NET_NATS_URL"},
		{[]peer.Option{peer.WithNATS(" , ")}, "no URL"},
		{[]peer.Option{func(c *peer.Config) { c.NATSCreds = "/x.creds" }}, "NET_NATS_CREDS"},
	} {
		_, err := peer.Start(context.Background(), peer.DefaultLocalConfig(), append([]peer.Option{peer.WithHost(host), peer.WithPorts(port, 1)}, tc.opts...)...)
		if !errors.Is(err, peer.ErrConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v, want ErrConfig naming %s", err, tc.want)
		}
	}
}

// A client of a deployment rides out a restart of the deployment's
// server: nats.go reconnects and restores the subscriptions, and calls
// work again without the peer being restarted.
func TestAClientOfADeploymentSurvivesItsRestart(t *testing.T) {
	t.Parallel()
	host, port := testnet.Host(t), testnet.Ports(t)
	testnet.MustLoopback(t, host)
	serve := func(p int) *server.Server {
		t.Helper()
		s, err := server.NewServer(&server.Options{Host: host, Port: p, NoLog: true, NoSigs: true})
		if err != nil {
			t.Fatal(err)
		}
		s.Start()
		if !s.ReadyForConnections(5 * time.Second) {
			t.Fatalf("server on %s:%d not ready", host, p)
		}
		return s
	}
	s := serve(port + 5)
	url := s.ClientURL()
	start := func() *peer.Peer {
		p, err := peer.Start(context.Background(), peer.DefaultLocalConfig(), peer.WithHost(host), peer.WithPorts(port, 4), peer.WithNATS(url))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	a, b := start(), start()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := a.Call(ctx, b.ID(), peer.ConnPassThrough, []byte(`1`)); err != nil {
		t.Fatal(err)
	}

	s.Shutdown()
	s.WaitForShutdown()
	s = serve(port + 5)
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })

	for {
		c, cancelCall := context.WithTimeout(ctx, time.Second)
		out, err := a.Call(c, b.ID(), peer.ConnPassThrough, []byte(`2`))
		cancelCall()
		if err == nil && string(out) == "2" {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no call went through within 30 s of the server's restart: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
