package peer

import (
	"log/slog"
	"sync"
	"time"

	"github.com/appnet-go/appnet/internal/embedded"

	"github.com/nats-io/nats.go"
)

// direct keeps one client connection to each target's own server, so that
// a call takes one TCP hop, straight to the server the target runs in,
// instead of going through this peer's server and a route (the ID names
// that server's address). It is the fast path: the first call to a target
// goes through the cluster while the connection is dialled in the
// background, and any call whose connection is lost falls back to the
// cluster, which is always right.
type direct struct {
	opts []nats.Option // the client's credentials
	log  *slog.Logger

	mu     sync.RWMutex
	conns  map[string]*directConn // host:port -> connection; entries are replaced, never changed
	closed bool
	dials  sync.WaitGroup
}

type directConn struct {
	nc      *nats.Conn // nil while dialling, or after a failure
	retryAt time.Time  // no new dial before then
}

// directRetry is how long a failed dial keeps a target on the cluster path.
const directRetry = 5 * time.Second

// maxDirect bounds the servers a caller keeps a direct connection to.
const maxDirect = 256

func newDirect(opts []nats.Option, log *slog.Logger) *direct {
	return &direct{opts: opts, log: log, conns: map[string]*directConn{}}
}

// conn returns a live connection to the server at addr, or nil (the
// caller then uses the cluster) while one is being dialled or after a
// recent failure.
func (d *direct) conn(addr string) *nats.Conn {
	d.mu.RLock() // every call comes here: the common cases take no write lock
	e, closed := d.conns[addr], d.closed
	d.mu.RUnlock()
	switch {
	case e != nil && e.nc != nil && !e.nc.IsClosed():
		return e.nc
	case closed, e != nil && e.nc == nil && time.Now().Before(e.retryAt):
		return nil // closed, dialling, or failed recently
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	e = d.conns[addr]
	if e != nil && e.nc != nil && !e.nc.IsClosed() {
		return e.nc // dialled meanwhile
	}
	now := time.Now()
	if d.closed || (e != nil && e.nc == nil && now.Before(e.retryAt)) {
		return nil
	}
	if e == nil && len(d.conns) >= maxDirect {
		d.prune(now)
		if len(d.conns) >= maxDirect {
			return nil // enough servers held open; the rest go through the cluster
		}
	}
	// Dial in the background; mark it so only one dial runs per target.
	d.conns[addr] = &directConn{retryAt: now.Add(directRetry)}
	d.dials.Add(1)
	go d.dial(addr)
	return nil
}

func (d *direct) dial(addr string) {
	defer d.dials.Done()
	nc, err := nats.Connect("nats://"+addr, append(d.opts,
		nats.Name("appnet direct"), nats.Timeout(time.Second), nats.NoReconnect(),
		// The target answers on this very server: its replies need no
		// interest anywhere else in the network.
		nats.CustomInboxPrefix(embedded.LocalInbox),
		// As for routes: a frozen or cut-off server is let go within
		// seconds, and calls go back to the cluster.
		nats.PingInterval(2*time.Second), nats.MaxPingsOutstanding(3))...)
	if err != nil {
		d.log.Debug("appnet: direct connection failed; calls go through the cluster", "addr", addr, "err", err)
		return // the entry keeps retryAt
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		nc.Close()
		return
	}
	d.conns[addr] = &directConn{nc: nc}
}

// prune forgets the targets whose connection closed and those whose
// failed dial may be retried, so that they do not count against
// maxDirect. d.mu is held.
func (d *direct) prune(now time.Time) {
	for addr, e := range d.conns {
		if (e.nc != nil && e.nc.IsClosed()) || (e.nc == nil && !now.Before(e.retryAt)) {
			delete(d.conns, addr)
		}
	}
}

// close closes every connection and waits for dials in flight.
func (d *direct) close() {
	d.mu.Lock()
	d.closed = true
	for _, e := range d.conns {
		if e.nc != nil {
			e.nc.Close()
		}
	}
	d.mu.Unlock()
	d.dials.Wait()
}
