package peer

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/embedded"
	"github.com/appnet-go/appnet/internal/testnet"
)

// Targets whose dial failed long ago do not use up the maxDirect places:
// a new target still gets a direct connection dialled.
func TestDirectForgetsDeadTargetsAtItsBound(t *testing.T) {
	host, port := testnet.Host(t), testnet.Ports(t)
	testnet.MustLoopback(t, host)
	d := newDirect(nil, slog.New(slog.DiscardHandler))
	defer d.close()
	expired := time.Now().Add(-time.Second)
	for i := range maxDirect {
		d.conns[fmt.Sprintf("dead-%d:1", i)] = &directConn{retryAt: expired}
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port)) // nothing listens: the dial fails at once
	if e := d.conn(addr); e != nil {
		t.Fatalf("a connection before any dial: %v", e.nc)
	}
	d.mu.RLock()
	_, dialled := d.conns[addr]
	n := len(d.conns)
	d.mu.RUnlock()
	if !dialled || n != 1 {
		t.Errorf("after a new target at the bound: dialled %t, %d targets kept; want true, 1", dialled, n)
	}
}

// A direct connection no call used for its idle time is closed, and one
// with a call in flight is not, however long the call takes.
func TestDirectClosesIdleConnections(t *testing.T) {
	host, port := testnet.Host(t), testnet.Ports(t)
	testnet.MustLoopback(t, host)
	var addrs []string
	for i := range 2 {
		srv, err := embedded.Start(context.Background(), embedded.Config{Host: host, PortStart: port + i, Hub: true})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		addrs = append(addrs, net.JoinHostPort(host, strconv.Itoa(srv.Port())))
	}
	d := newDirect(nil, slog.New(slog.DiscardHandler))
	d.idle = 150 * time.Millisecond
	defer d.close()
	var conns []*directConn
	for _, addr := range addrs {
		deadline := time.Now().Add(5 * time.Second)
		e := d.conn(addr)
		for ; e == nil; e = d.conn(addr) {
			if time.Now().After(deadline) {
				t.Fatalf("no direct connection to %s within 5s", addr)
			}
			time.Sleep(5 * time.Millisecond)
		}
		conns = append(conns, e)
	}
	conns[0].release() // idle from now; conns[1] stays in a call
	deadline := time.Now().Add(5 * time.Second)
	for !conns[0].nc.IsClosed() {
		if time.Now().After(deadline) {
			t.Fatal("an idle direct connection still open after 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(2 * d.idle)
	if conns[1].nc.IsClosed() {
		t.Fatal("a direct connection was closed during a call")
	}
	d.mu.RLock()
	_, kept := d.conns[addrs[0]]
	d.mu.RUnlock()
	if kept {
		t.Error("the closed connection is still listed")
	}
	conns[1].release()
}
