package discovery

import (
	"context"
	"errors"
	"net"
	"strconv"
	"syscall"
	"time"

	"github.com/appnet-go/appnet/internal/peer"
)

// A peer's own port tells what probes through the network cannot: a port
// that refuses connections is a process that is gone, one that accepts is
// a process alive, however long the network takes to hear it again, and
// its server answering for it (servesItself) is a process that works. A
// hub dials it for a hub whose leaves came to it (refugees.go) and for a
// leaf whose hub went (moverAlive).

// portState is what dialling a peer's own port found.
type portState int

const (
	portUnknown portState = iota // a dial timed out (a busy or a dead host), or was not allowed
	portRefused                  // every dial was refused: the process is gone
	portAccepts                  // a dial connected: the process listens
)

// dialPort dials addr up to tries times, apart apart, until one connects
// or fails otherwise than refused.
func dialPort(ctx context.Context, addr string, tries int, apart time.Duration) portState {
	for try := range tries {
		if try > 0 {
			select {
			case <-ctx.Done():
				return portUnknown
			case <-time.After(apart):
			}
		}
		var dialer net.Dialer
		dctx, cancel := context.WithTimeout(ctx, probeTimeout)
		conn, err := dialer.DialContext(dctx, "tcp", addr)
		cancel()
		if err == nil {
			conn.Close()
			return portAccepts
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return portUnknown
		}
	}
	return portRefused
}

// dialOwnPort dials info's own port as dialPort does; portUnknown when
// NET_SCAN_ALLOW does not admit it.
func (d *Discoverer) dialOwnPort(ctx context.Context, info peer.Info, tries int, apart time.Duration) portState {
	addr := net.JoinHostPort(info.Host, strconv.Itoa(info.Port))
	if !dialable(d.p.Config(), "nats://"+addr) {
		return portUnknown
	}
	return dialPort(ctx, addr, tries, apart)
}

// ownAnswer bounds each question of servesItself: a leaf's process is
// asked, not the network, but on a host running 200 peers on two cores it
// may take a second to be scheduled.
const ownAnswer = 1500 * time.Millisecond

// servesItself reports whether info's own server answers for it with its
// info, over its own port, asked twice, each time within ownAnswer: a host
// busy enough to time out a dial is busy enough to miss one question.
// False when NET_SCAN_ALLOW does not admit the port. A port that refuses
// answers false at once: a crash is not held up.
func (d *Discoverer) servesItself(ctx context.Context, info peer.Info) bool {
	cfg := d.p.Config()
	if !dialable(cfg, "nats://"+net.JoinHostPort(info.Host, strconv.Itoa(info.Port))) {
		return false
	}
	hit := Hit{Host: info.Host, Port: info.Port, ID: info.ID}
	for range 2 {
		if _, err := FetchInfo(ctx, hit, ownAnswer, d.p.ClientOptions()...); err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
	}
	return false
}
