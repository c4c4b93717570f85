package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/appnet-go/appnet/bus"
	"github.com/appnet-go/appnet/internal/loopback"
	"github.com/appnet-go/appnet/internal/peer"
	"github.com/nats-io/nats.go"
)

// Every peer the bench measures is a peer child: a child process in the
// peer role (childPeer), configured by its NET_* environment, which
// peerSpec builds and launchPeer starts. The bench process runs a peer of
// its own only as the caller, emitter or scanner of a scenario, from
// localConfig.

// peerSpec is a peer child: the NET_* variables of a peer on host with
// ports port..port+portRange, scanning host, inside 127.0.0.0/8.
type peerSpec struct {
	host      string
	port      int
	portRange int
	env       []string // more NET_* variables; a later one wins (NET_SCAN, ...)
	args      []string // flags of the peer role: -mesh, -count, -at, -cpuprofile...
}

// environ returns the spec's NET_* variables.
func (s peerSpec) environ() []string {
	return append([]string{
		"NET_HOST=" + s.host,
		"NET_PORT_START=" + strconv.Itoa(s.port),
		"NET_PORT_RANGE=" + strconv.Itoa(s.portRange),
		"NET_SCAN=" + s.host, // a later NET_SCAN in env wins
		"NET_SCAN_ALLOW=" + loopback.Allow,
		"NET_NATS_URL=", // a later one in env wins
		"NET_NATS_CREDS=",
	}, s.env...)
}

// launchPeer starts a peer child and returns at once: c.waitReady and
// parsePeerReady tell when it serves.
func launchPeer(exe string, s peerSpec) (*child, error) {
	if err := loopback.Check(s.host); err != nil {
		return nil, err
	}
	return launchChild(exe, s.environ(), append([]string{"-role", rolePeer}, s.args...)...)
}

// startPeer starts a peer child and waits (up to 10 s) until it serves.
func startPeer(ctx context.Context, exe string, s peerSpec) (*child, peerReady, error) {
	c, err := launchPeer(exe, s)
	if err != nil {
		return nil, peerReady{}, err
	}
	if err := c.waitReady(ctx, 10*time.Second); err != nil {
		c.stop()
		return nil, peerReady{}, err
	}
	r, err := parsePeerReady(c)
	if err != nil {
		c.stop()
		return nil, peerReady{}, err
	}
	return c, r, nil
}

// peerReady is what a peer child's ready line says.
type peerReady struct {
	id                     peer.ID
	main, called, returned time.Time
	server                 string // the client URL of its standalone server (-standalone), or ""
}

func parsePeerReady(c *child) (peerReady, error) {
	f := c.ready
	if len(f) != 4 && len(f) != 5 {
		return peerReady{}, fmt.Errorf("peer child said %q", f)
	}
	id, err := peer.ParseID(f[0])
	if err != nil {
		return peerReady{}, err
	}
	ts, err := unixNanos(f[1:4]...)
	if err != nil {
		return peerReady{}, err
	}
	r := peerReady{id: id, main: ts[0], called: ts[1], returned: ts[2]}
	if len(f) == 5 {
		r.server = f[4]
	}
	return r, nil
}

// localConfig is the configuration of a peer of the bench process on
// host with ports port..port+portRange: the local defaults (scans inside
// 127.0.0.0/8) without background rescans, a registry of its own,
// warnings on stderr.
func localConfig(host string, port, portRange int) peer.Config {
	cfg := peer.DefaultLocalConfig()
	cfg.Host, cfg.PortStart, cfg.PortRange = host, port, portRange
	cfg.ScanInterval = 0
	cfg.Registry = peer.NewRegistry()
	cfg.Logger = warnLogger()
	return cfg
}

// startLocal starts a peer of the bench process with bus.Start, within 10 s.
func startLocal(ctx context.Context, cfg peer.Config) (*bus.Peer, error) {
	start, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return bus.Start(start, cfg)
}

// warnLogger logs warnings and errors on stderr.
func warnLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// dialPeer connects a plain NATS client to the server of peer id.
func dialPeer(id peer.ID) (*nats.Conn, error) {
	a, err := id.Decode()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort(a.Host, strconv.Itoa(a.Port))
	if err := loopback.Check(addr); err != nil {
		return nil, err
	}
	return nats.Connect("nats://"+addr, nats.NoReconnect(), nats.Name("appnet-bench"))
}

// peerInfo calls info on peer id through nc's server, retrying for up to
// 5 s: a route can go and come back after the peers said they were
// meshed (each retried call is counted in infoRetries, the longest wait
// kept in infoRetryWait).
func peerInfo(ctx context.Context, nc *nats.Conn, id peer.ID) (peer.Info, error) {
	start := time.Now()
	for retried := false; ; retried = true {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		m, err := nc.RequestWithContext(c, peer.CallSubject(id, peer.ConnInfo), nil)
		cancel()
		if err == nil {
			if retried {
				infoRetries.Add(1)
				infoRetryWait.Store(max(infoRetryWait.Load(), int64(time.Since(start))))
			}
			return peer.Decode[peer.Info](m.Data)
		}
		if ctx.Err() != nil || time.Since(start) > 5*time.Second {
			return peer.Info{}, fmt.Errorf("info of %s: %w", id, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// infoRetries counts the info calls of peerInfo that did not find the
// peer at first; infoRetryWait is the longest such a call waited (ns).
var infoRetries, infoRetryWait atomic.Int64
