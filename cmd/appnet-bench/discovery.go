package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/appnet-go/appnet/bus"
	"github.com/appnet-go/appnet/internal/discovery"
	"github.com/appnet-go/appnet/internal/peer"
)

// The discovery scenarios: discovery-host, the on-host refresh and cached
// answer with 5 peers; discovery-net, the first scan of a /27 with 10
// peers on 5 hosts and a silent listener, and a refresh once meshed. And
// the report's section of every discovery scenario (mesh, join, memory
// too).

// discoveryResults holds the samples of the two discovery scenarios.
type discoveryResults struct {
	hostRefresh, hostCached []latencies
	netFirst                []time.Duration
	netRefresh              []latencies
	netFound                []int
}

// runDiscoveryHost starts 4 peer processes on one host (no background
// rescans), then a peer in this process on the same host and port range
// (5 peers on 6 ports, as the Python anchor), and times its on-host
// refresh and its cached answer.
func runDiscoveryHost(ctx context.Context, exe string, o options, x *discoveryResults) error {
	var cs children
	defer cs.stopAll()
	host := o.subnetHost(discoveryHostBlock, 1)
	for range 4 {
		c, _, err := startPeer(ctx, exe, peerSpec{host: host, port: o.port, portRange: peerPortRange, env: []string{"NET_SCAN_INTERVAL=0"}})
		if err != nil {
			return err
		}
		cs.add(c)
	}
	p, err := startLocal(ctx, localConfig(host, o.port, peerPortRange))
	if err != nil {
		return err
	}
	defer p.Close()
	check := func(opts ...bus.PeersOption) func() error {
		return func() error {
			found, err := p.Peers(ctx, opts...)
			if err == nil && len(found.Peers) != 4 {
				err = fmt.Errorf("found %d peers, want 4", len(found.Peers))
			}
			return err
		}
	}
	refresh, err := timeLoop(ctx, 20, 1000, 10*time.Second, check(bus.OnHost(), bus.Refresh()))
	if err != nil {
		return fmt.Errorf("refresh: %w", err)
	}
	cached, err := timeLoop(ctx, 100, 20000, 5*time.Second, check(bus.OnHost()))
	if err != nil {
		return fmt.Errorf("cached: %w", err)
	}
	x.hostRefresh = append(x.hostRefresh, refresh)
	x.hostCached = append(x.hostCached, cached)
	return nil
}

// netPeers is how many peer processes discovery-net starts.
const netPeers = 10

// runDiscoveryNet starts 10 peer processes over 5 hosts of a /27, each
// scanning the /27 (NET_SCAN) once at start, with a TCP listener that
// accepts and never speaks on a port of the range; once they form one
// cluster, a peer in this process (without the on-host mesh of bus.Start)
// makes its first scan of the /27, then refreshes.
func runDiscoveryNet(ctx context.Context, exe string, o options, x *discoveryResults) error {
	var cs children
	defer cs.stopAll()
	cidr := o.subnetBlock(discoveryNetBlock)
	var hosts []string
	for i := range 5 {
		hosts = append(hosts, o.subnetHost(discoveryNetBlock, i+1))
	}
	silent, err := net.Listen("tcp", net.JoinHostPort(hosts[4], strconv.Itoa(o.port+peerPortRange)))
	if err != nil {
		return err
	}
	defer silent.Close() // never accepted: connections wait in the backlog, silent
	for i := range netPeers {
		c, _, err := startPeer(ctx, exe, peerSpec{host: hosts[i%len(hosts)], port: o.port, portRange: peerPortRange,
			env:  []string{"NET_SCAN=" + cidr, "NET_SCAN_INTERVAL=0"},
			args: []string{"-mesh", strconv.Itoa(netPeers), "-mesh-hosts", strings.Join(hosts, ","), "-poll", "20ms"}})
		if err != nil {
			return err
		}
		cs.add(c)
	}
	for _, c := range cs {
		if _, err := waitMeshed(ctx, c, netPeers-1); err != nil {
			return err
		}
	}
	cfg := localConfig(hosts[0], o.port, peerPortRange)
	cfg.Scan = cidr
	start, cancel := context.WithTimeout(ctx, 10*time.Second)
	p, err := peer.Start(start, cfg)
	cancel()
	if err != nil {
		return err
	}
	defer p.Close()
	return scanNet(ctx, discovery.New(p), x)
}

// scanNet times d's first scan of the /27, then its refreshes.
func scanNet(ctx context.Context, d *discovery.Discoverer, x *discoveryResults) error {
	t := time.Now()
	found, err := d.Peers(ctx, discovery.Refresh())
	first := time.Since(t)
	if err != nil {
		return fmt.Errorf("first scan: %w", err)
	}
	x.netFirst = append(x.netFirst, first)
	x.netFound = append(x.netFound, len(found.Peers))
	refresh, err := timeLoop(ctx, 5, 300, 10*time.Second, func() error {
		found, err := d.Peers(ctx, discovery.Refresh())
		if err == nil && len(found.Peers) != netPeers {
			err = fmt.Errorf("found %d peers, want %d", len(found.Peers), netPeers)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("refresh: %w", err)
	}
	x.netRefresh = append(x.netRefresh, refresh)
	return nil
}

// printDiscovery prints the section of the mesh, join, memory and
// discovery scenarios: one table of targets.
func printDiscovery(w io.Writer, o options, r *results) {
	fmt.Fprintf(w, "\ndiscovery, mesh and memory (median [min..max] over the reps; join: over %d joins per rep)\n", joinsPerRep)
	t := newTargetTable(w)
	if selected(o, meshScenario) {
		meshRows(t, o, r.mesh)
	}
	if selected(o, joinScenario) {
		joinRows(t, &r.join)
	}
	if selected(o, memoryScenario) {
		memoryRows(t, &r.memory)
	}
	if n := infoRetries.Load(); n > 0 {
		fmt.Fprintf(t.tw, "(context) mesh, memory: info calls through the cluster that found no responder at first, after every peer had reached every other\t%d (longest wait %.0f ms)\t\t\t\n",
			n, ms(time.Duration(infoRetryWait.Load())))
	}
	if selected(o, discoveryHost) {
		hostRows(t, &r.discovery)
	}
	if selected(o, discoveryNet) {
		netRows(t, &r.discovery)
	}
	t.flush()
}

// hostRows adds the discovery-host scenario's rows.
func hostRows(t targetTable, x *discoveryResults) {
	p50 := func(l latencies) float64 { return ms(l.p50) }
	p99 := func(l latencies) float64 { return ms(l.p99) }
	t.row(fmt.Sprintf("on-host refresh, 5 peers (6 ports): p50 ms (Python %.1f)", ms(pythonHostRefresh5)), lats(x.hostRefresh, p50), "%.3f",
		fmt.Sprintf("<= %.0f", ms(targetHostRefresh)), func(v float64) bool { return v <= ms(targetHostRefresh) })
	t.row("on-host refresh: p99 ms", lats(x.hostRefresh, p99), "%.3f", "", nil)
	t.row("on-host refresh: Python / appnet p50 (x faster)", lats(x.hostRefresh, func(l latencies) float64 { return ms(pythonHostRefresh5) / ms(l.p50) }), "%.1f", "", nil)
	t.row("on-host cached answer: p50 ms", lats(x.hostCached, p50), "%.4f",
		fmt.Sprintf("< %.1f", ms(targetCached)), func(v float64) bool { return v < ms(targetCached) })
	t.row("on-host cached answer: p99 ms", lats(x.hostCached, p99), "%.4f", "", nil)
}

// netRows adds the discovery-net scenario's rows.
func netRows(t targetTable, x *discoveryResults) {
	t.row("/27 scan, 10 peers on 5 hosts + a silent listener: first scan, ms", durs(x.netFirst, ms), "%.0f",
		fmt.Sprintf("< %.0f", ms(targetNetFirst)), func(v float64) bool { return v < ms(targetNetFirst) })
	t.row("/27: peers the first scan found", intsF(x.netFound), "%.0f", "10", func(v float64) bool { return v == 10 })
	t.row("/27: refresh once meshed, p50 ms", lats(x.netRefresh, func(l latencies) float64 { return ms(l.p50) }), "%.2f",
		fmt.Sprintf("< %.0f", ms(targetNetRefresh)), func(v float64) bool { return v < ms(targetNetRefresh) })
	t.row("/27: refresh once meshed, p99 ms", lats(x.netRefresh, func(l latencies) float64 { return ms(l.p99) }), "%.2f", "", nil)
}

func lats(ls []latencies, f func(latencies) float64) []float64 {
	out := make([]float64, len(ls))
	for i, l := range ls {
		out[i] = f(l)
	}
	return out
}
