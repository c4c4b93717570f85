package peer

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

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
	if nc := d.conn(addr); nc != nil {
		t.Fatalf("a connection before any dial: %v", nc)
	}
	d.mu.RLock()
	_, dialled := d.conns[addr]
	n := len(d.conns)
	d.mu.RUnlock()
	if !dialled || n != 1 {
		t.Errorf("after a new target at the bound: dialled %t, %d targets kept; want true, 1", dialled, n)
	}
}
