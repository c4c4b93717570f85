package peer_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/peer"
	"github.com/appnet-go/appnet/internal/testnet"
)

func TestAttachedPeerHoldsNoPortAndTakesNoGroupWork(t *testing.T) {
	t.Parallel()
	host, port := testnet.Host(t), testnet.Ports(t)
	server := startPeer(t, host, port, peer.WithPorts(port, 0)) // a range of one port
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cfg := peer.DefaultLocalConfig()
	cfg.Host, cfg.PortStart, cfg.PortRange = host, port, 0
	client, err := peer.Attach(ctx, cfg, net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err) // the range's only port is taken: a started peer would fail
	}
	defer client.Close()
	addr, err := client.ID().Decode()
	if err != nil || addr.Host != host || addr.Port == port || client.Server() != nil {
		t.Fatalf("attached ID %s (%v, %v): want %s with the connection's own port", client.ID(), addr, err, host)
	}
	out, err := client.Call(ctx, server.ID(), "echo", []byte(`"hi"`))
	if err != nil || string(out) != `"hi!"` {
		t.Fatalf("call from the attached peer = %s, %v", out, err)
	}
	if _, err := client.Call(ctx, server.ID(), "nope", nil); !errors.Is(err, peer.ErrInvalidConnection) {
		t.Fatalf("unknown connection from the attached peer: %v", err)
	}
	// The server's side reaches the attached peer on its ID...
	if _, err := server.Call(ctx, client.ID(), peer.ConnInfo, nil); err != nil {
		t.Fatalf("call to the attached peer: %v", err)
	}
	// ...but the attached peer is nobody's group member: every group call
	// lands on the real peer.
	for range 20 {
		if _, from, err := client.CallGroup(ctx, "None", "echo", []byte(`"x"`)); err != nil || from != server.ID() {
			t.Fatalf("group call answered by %s, %v; want %s", from, err, server.ID())
		}
	}
	if got := server.RoutedPeers(ctx); len(got) != 0 {
		t.Errorf("the server sees %d routed peers, want none", len(got))
	}
}

func TestAttachToNothingIsUnreachable(t *testing.T) {
	t.Parallel()
	host, port := testnet.Host(t), testnet.Ports(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cfg := peer.DefaultLocalConfig()
	cfg.Host = host
	_, err := peer.Attach(ctx, cfg, net.JoinHostPort(host, strconv.Itoa(port)))
	if !errors.Is(err, peer.ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
}
