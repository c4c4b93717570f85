package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/appnet-go/appnet/internal/loopback"
	"github.com/appnet-go/appnet/internal/peer"
	"github.com/nats-io/nats.go"
)

// The scenarios beyond the call benchmarks. Each runs on hosts of its
// own /27 of -subnet, on ports from -port.
var (
	meshScenario   = scenario{"mesh", "mesh formation: 10 peer processes started at one instant"}
	joinScenario   = scenario{"join", "join: a peer process started next to a running one"}
	memoryScenario = scenario{"memory", "memory: one idle peer, 30 idle peers on 5 hosts"}
	discoveryHost  = scenario{"discovery-host", "on-host discovery with 5 peer processes"}
	discoveryNet   = scenario{"discovery-net", "network discovery of a /27: 10 peer processes on 5 hosts, a silent listener"}
	eventsScenario = scenario{"events", "events: one emitter to 1 and to 4 subscriber processes"}
	groupScenario  = scenario{"group", "group calls: 3 responder processes, scatter-gather over 5"}

	extraScenarios = []scenario{meshScenario, joinScenario, memoryScenario, discoveryHost, discoveryNet, eventsScenario, groupScenario}
)

// The /27 block of -subnet each scenario uses.
const (
	meshBlock = iota
	joinBlock
	memoryBlock
	discoveryHostBlock
	discoveryNetBlock
	eventsBlock
	groupBlock
)

// extraPortSpan is how far above -port the scenarios beyond the call
// benchmarks bind (the mesh's range of 11 ports, raw servers at
// port+20..port+25).
const extraPortSpan = 25

// parseSubnet checks a /24 (or larger block) of 127.0.0.0/8 and returns
// the first three bytes of its first /24.
func parseSubnet(s string) ([3]byte, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() || p.Bits() > 24 || loopback.Check(s) != nil {
		return [3]byte{}, fmt.Errorf("-subnet %q: want a /24 (or larger) block inside 127.0.0.0/8", s)
	}
	a := p.Masked().Addr().As4()
	return [3]byte{a[0], a[1], a[2]}, nil
}

// subnetHost returns host i (1..30) of /27 block b of -subnet.
func (o options) subnetHost(b, i int) string {
	return fmt.Sprintf("%d.%d.%d.%d", o.subnet[0], o.subnet[1], o.subnet[2], 32*b+i)
}

// subnetBlock returns /27 block b of -subnet in CIDR notation.
func (o options) subnetBlock(b int) string {
	return fmt.Sprintf("%d.%d.%d.%d/27", o.subnet[0], o.subnet[1], o.subnet[2], 32*b)
}

// extraResults holds the samples of the scenarios beyond the calls.
type extraResults struct {
	mesh []meshSample

	join      []time.Duration // fork to bus.New returned, of a peer joining a running one
	joinExec  []time.Duration // fork to the child's main package initialised
	joinNew   []time.Duration // bus.New alone
	joinCall  []time.Duration // fork to a call through the running peer's server reaching the new one
	lone      []time.Duration // fork to bus.New returned, alone on its host
	peerStart []time.Duration // peer.Start alone, in the bench process

	idleRSS    []int64    // one idle peer, alone
	mem30      []memory30 // 30 idle peers in one cluster
	mem30Split []memory30 // 30 idle peers in 5 clusters of 6

	hostRefresh, hostCached []latencies
	netFirst                []time.Duration
	netRefresh              []latencies
	netFound                []int

	events map[eventsKey][]eventsSample
	group  map[string][]sample // by groupKind
}

// latencies are the percentiles of a timed loop.
type latencies struct {
	p50, p99 time.Duration
	n        int
}

// runExtra runs one of the scenarios beyond the call benchmarks.
// Each measurement is bounded by o.timeout: the whole scenario, or each
// run of the events and group scenarios, which make several.
func runExtra(ctx context.Context, exe string, o options, sc scenario, res *results, progress io.Writer) error {
	x := &res.extra
	switch sc {
	case eventsScenario:
		return runEvents(ctx, exe, o, x, progress)
	case groupScenario:
		return runGroup(ctx, exe, o, x)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	switch sc {
	case meshScenario:
		return runMesh(ctx, exe, o, x)
	case joinScenario:
		return runJoin(ctx, exe, o, x)
	case memoryScenario:
		return runMemory(ctx, exe, o, x)
	case discoveryHost:
		return runDiscoveryHost(ctx, exe, o, x)
	case discoveryNet:
		return runDiscoveryNet(ctx, exe, o, x)
	}
	return fmt.Errorf("unknown scenario %q", sc.key)
}

// peerEnv returns the NET_* variables of a peer child on host with ports
// port..port+extra, plus more.
func peerEnv(host string, port, extra int, more ...string) []string {
	return append([]string{
		"NET_HOST=" + host,
		"NET_PORT_START=" + strconv.Itoa(port),
		"NET_PORT_RANGE=" + strconv.Itoa(extra),
		"NET_SCAN=" + host, // a later NET_SCAN in more wins
		"NET_SCAN_ALLOW=" + loopback.Allow,
		"NET_NATS_URL=", // a later one in more wins
		"NET_NATS_CREDS=",
	}, more...)
}

// peerReady is what a peer child's ready line says.
type peerReady struct {
	id                     peer.ID
	main, called, returned time.Time
}

func parsePeerReady(c *child) (peerReady, error) {
	f := c.ready
	if len(f) != 4 {
		return peerReady{}, fmt.Errorf("peer child said %q", f)
	}
	id, err := peer.ParseID(f[0])
	if err != nil {
		return peerReady{}, err
	}
	ts, err := unixNanos(f[1:]...)
	if err != nil {
		return peerReady{}, err
	}
	return peerReady{id: id, main: ts[0], called: ts[1], returned: ts[2]}, nil
}

// unixNanos parses Unix times in nanoseconds.
func unixNanos(fields ...string) ([]time.Time, error) {
	out := make([]time.Time, len(fields))
	for i, f := range fields {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("time %q: %v", f, err)
		}
		out[i] = time.Unix(0, n)
	}
	return out, nil
}

// ints parses integers.
func ints(fields ...string) ([]int64, error) {
	out := make([]int64, len(fields))
	for i, f := range fields {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("number %q: %v", f, err)
		}
		out[i] = n
	}
	return out, nil
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

// clusterAddr returns host:port of a cluster URL.
func clusterAddr(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("cluster URL %q", raw)
	}
	return u.Host, nil
}

// timeLoop runs fn up to n times, for at most limit (at least once),
// after warm unmeasured runs, and returns the percentiles of its time.
func timeLoop(ctx context.Context, warm, n int, limit time.Duration, fn func() error) (latencies, error) {
	for range warm {
		if err := fn(); err != nil {
			return latencies{}, err
		}
	}
	lats := make([]time.Duration, 0, n)
	end := time.Now().Add(limit)
	for len(lats) < n && (len(lats) == 0 || time.Now().Before(end)) {
		if err := ctx.Err(); err != nil {
			return latencies{}, err
		}
		t := time.Now()
		if err := fn(); err != nil {
			return latencies{}, err
		}
		lats = append(lats, time.Since(t))
	}
	slices.Sort(lats)
	return latencies{p50: percentile(lats, 0.5), p99: percentile(lats, 0.99), n: len(lats)}, nil
}

// benchPeerConfig is the configuration of a peer the bench process runs:
// no background rescans, its own registry, warnings to stderr.
func benchPeerConfig(host string, port, extra int) peer.Config {
	cfg := peer.DefaultLocalConfig()
	cfg.Host, cfg.PortStart, cfg.PortRange = host, port, extra
	cfg.ScanInterval = 0
	cfg.Registry = peer.NewRegistry()
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return cfg
}

// childProfile returns the -cpuprofile argument of a child when
// -cpuprofile is set: <dir>/<scenario>-<kind>-<n>-<i>-<pid of the bench>.pprof.
func childProfile(o options, scenario, kind string, n, i int) []string {
	if o.cpuprofile == "" {
		return nil
	}
	name := fmt.Sprintf("%s-%s-%d-%d-%d.pprof", scenario, kind, n, i, time.Now().UnixNano())
	return []string{"-cpuprofile", filepath.Join(o.cpuprofile, name)}
}
