package peer

import (
	"log/slog"
	"sync"
	"sync/atomic"
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
// cluster, which is always right. A connection no call used for
// directIdle is closed: each costs both servers a client, its pings every
// two seconds and its buffers.
type direct struct {
	opts []nats.Option // the client's credentials
	log  *slog.Logger

	mu     sync.RWMutex
	conns  map[string]*directConn // host:port -> connection; entries are replaced, never changed
	sweep  *time.Timer            // closes idle connections, while there are any
	idle   time.Duration          // directIdle
	closed bool
	dials  sync.WaitGroup
}

type directConn struct {
	nc      *nats.Conn   // nil while dialling, or after a failure
	retryAt time.Time    // no new dial before then
	used    atomic.Int64 // Unix ns of the last call's start
	calls   atomic.Int32 // calls in flight on it
}

// release ends a call on e.
func (e *directConn) release() { e.calls.Add(-1) }

// directRetry is how long a failed dial keeps a target on the cluster path.
const directRetry = 5 * time.Second

// directIdle is how long a direct connection may go unused before it is
// closed; the next call to its target goes through the cluster while it
// is dialled again.
const directIdle = 15 * time.Second

// maxDirect bounds the servers a caller keeps a direct connection to.
const maxDirect = 256

func newDirect(opts []nats.Option, log *slog.Logger) *direct {
	return &direct{opts: opts, log: log, conns: map[string]*directConn{}, idle: directIdle}
}

// conn returns a live connection to the server at addr, for one call
// that then calls its release, or nil (the caller then uses the cluster)
// while one is being dialled or after a recent failure.
func (d *direct) conn(addr string) *directConn {
	d.mu.RLock() // every call comes here: the common cases take no write lock
	e, closed := d.conns[addr], d.closed
	live := e != nil && e.nc != nil && !e.nc.IsClosed()
	if live {
		e.use() // under the read lock: the sweep, which holds the write lock, sees it
	}
	d.mu.RUnlock()
	switch {
	case live:
		return e
	case closed, e != nil && e.nc == nil && time.Now().Before(e.retryAt):
		return nil // closed, dialling, or failed recently
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	e = d.conns[addr]
	if e != nil && e.nc != nil && !e.nc.IsClosed() {
		e.use()
		return e // dialled meanwhile
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
	e := &directConn{nc: nc}
	e.used.Store(time.Now().UnixNano())
	d.conns[addr] = e
	if d.sweep == nil {
		d.sweep = time.AfterFunc(d.idle/3, d.closeIdle)
	}
}

// use starts a call on e.
func (e *directConn) use() {
	e.calls.Add(1)
	e.used.Store(time.Now().UnixNano())
}

// closeIdle closes the connections no call used for directIdle, and
// looks again later while any is left.
func (d *direct) closeIdle() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	idleSince := time.Now().Add(-d.idle).UnixNano()
	live := 0
	for addr, e := range d.conns {
		switch {
		case e.nc == nil:
		case e.calls.Load() == 0 && e.used.Load() < idleSince:
			delete(d.conns, addr)
			go e.nc.Close() // closing flushes: not under the lock
		default:
			live++
		}
	}
	if live == 0 {
		d.sweep = nil
		return
	}
	d.sweep.Reset(d.idle / 3)
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
	if d.sweep != nil {
		d.sweep.Stop()
	}
	for _, e := range d.conns {
		if e.nc != nil {
			e.nc.Close()
		}
	}
	d.mu.Unlock()
	d.dials.Wait()
}
