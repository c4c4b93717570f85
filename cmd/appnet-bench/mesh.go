package main

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/appnet-go/appnet/bus"
	"github.com/appnet-go/appnet/internal/discovery"
	"github.com/appnet-go/appnet/internal/peer"
)

// meshSample is one mesh formation.
type meshSample struct {
	formed     time.Duration   // from the common start until the last peer reached every other through the cluster
	ready      time.Duration   // from the common start until the last bus.New returned
	newDur     []time.Duration // per peer: bus.New's own time
	meshedAt   []time.Duration // per peer: from the common start until it reached every other
	routeNames []int           // per peer: info.Routes, the servers its server has routes to
	tcp        int             // route TCP connections among the peers, in all (-1: unknown)
	tcpPerPeer []int           // per peer: its route TCP connections
}

const (
	meshPeers  = 10
	meshRange  = 10                      // NET_PORT_RANGE: 11 ports for 10 peers
	meshMargin = 1500 * time.Millisecond // from the first fork to the common start
)

// runMesh starts meshPeers peer processes that all call bus.New at the
// same instant (each sleeps until then) on one host and one port range,
// and measures until each reaches every other through its own server.
func runMesh(ctx context.Context, exe string, o options, x *extraResults) error {
	var cs children
	defer cs.stopAll()
	host := o.subnetHost(meshBlock, 1)
	var env []string
	if o.meshInterval > 0 {
		env = append(env, "NET_SCAN_INTERVAL="+o.meshInterval.String())
	}
	env = peerEnv(host, o.port, meshRange, env...)
	at := time.Now().Add(meshMargin)
	for range meshPeers {
		c, err := launchChild(exe, env, "-role", rolePeer, "-at", strconv.FormatInt(at.UnixNano(), 10),
			"-mesh", strconv.Itoa(meshPeers), "-poll", "10ms")
		if err != nil {
			return err
		}
		cs.add(c)
	}
	var s meshSample
	var ids []peer.ID
	for _, c := range cs {
		if err := c.waitReady(ctx, 15*time.Second); err != nil {
			return err
		}
		r, err := parsePeerReady(c)
		if err != nil {
			return err
		}
		if r.called.Before(at) {
			return fmt.Errorf("pid %d called bus.New %s before the common start", c.pid(), at.Sub(r.called))
		}
		if late := r.main.Sub(at); late > 0 {
			return fmt.Errorf("pid %d started %s after the common start: raise meshMargin", c.pid(), late)
		}
		s.ready = max(s.ready, r.returned.Sub(at))
		s.newDur = append(s.newDur, r.returned.Sub(r.called))
		ids = append(ids, r.id)
	}
	for _, c := range cs {
		word, f, err := c.waitWord(ctx, meshLimit+5*time.Second, "meshed", "meshfail")
		if err != nil {
			return err
		}
		if word == "meshfail" {
			return fmt.Errorf("pid %d: only %v of the %d other peers answered within %s", c.pid(), f[1:], meshPeers-1, meshLimit)
		}
		ts, err := unixNanos(f[0])
		if err != nil {
			return err
		}
		s.formed = max(s.formed, ts[0].Sub(at))
		s.meshedAt = append(s.meshedAt, ts[0].Sub(at))
	}
	// Let the route pools finish connecting, then count.
	time.Sleep(300 * time.Millisecond)
	if err := countRoutes(ctx, cs, ids, &s.routeNames, &s.tcp, &s.tcpPerPeer); err != nil {
		return err
	}
	x.mesh = append(x.mesh, s)
	return nil
}

// countRoutes asks every peer for its info (through the first peer's
// server) and counts the route TCP connections of the children's
// processes: names gets each info.Routes' length, tcp the connections in
// all (-1 if /proc could not tell), perPeer each process's.
func countRoutes(ctx context.Context, cs children, ids []peer.ID, names *[]int, tcp *int, perPeer *[]int) error {
	nc, err := dialPeer(ids[0])
	if err != nil {
		return err
	}
	defer nc.Close()
	cluster := map[string]bool{}
	for _, id := range ids {
		info, err := peerInfo(ctx, nc, id)
		if err != nil {
			return err
		}
		*names = append(*names, len(info.Routes))
		addr, err := clusterAddr(info.Cluster)
		if err != nil {
			return err
		}
		cluster[addr] = true
	}
	pids := make([]int, len(cs))
	for i, c := range cs {
		pids[i] = c.pid()
	}
	per, err := routeConns(pids, cluster)
	*tcp = -1
	if err == nil {
		*perPeer = per
		total := 0
		for _, n := range per {
			total += n
		}
		*tcp = total / 2 // both ends are ours
	}
	return nil
}

// joinsPerRep is how many times a new peer joins in one repetition.
const joinsPerRep = 5

// runJoin starts a peer, then, joinsPerRep times, a second peer process on
// the same host and port range, and measures from the fork until its
// bus.New returned (it scanned the host, routed to the first and waited
// until the first answers through the cluster), and until a call from a
// client of the first peer's server reaches it. Then: a peer alone on a
// host (fork to bus.New returned), and peer.Start alone in this process.
func runJoin(ctx context.Context, exe string, o options, x *extraResults) error {
	var cs children
	defer cs.stopAll()
	env := peerEnv(o.subnetHost(joinBlock, 1), o.port, peerPortRange)
	first, err := startChild(ctx, exe, env, "-role", rolePeer)
	if err != nil {
		return err
	}
	cs.add(first)
	r, err := parsePeerReady(first)
	if err != nil {
		return err
	}
	nc, err := dialPeer(r.id)
	if err != nil {
		return err
	}
	defer nc.Close()
	for range joinsPerRep {
		c, err := launchChild(exe, env, "-role", rolePeer)
		if err != nil {
			return err
		}
		err = func() error {
			defer c.stop()
			if err := c.waitReady(ctx, 10*time.Second); err != nil {
				return err
			}
			j, err := parsePeerReady(c)
			if err != nil {
				return err
			}
			call := func(ctx context.Context) error {
				m, err := nc.RequestWithContext(ctx, peer.CallSubject(j.id, peer.ConnPassThrough), payload)
				if err != nil {
					return err
				}
				return checkEcho(m.Data)
			}
			if err := waitReady(ctx, call); err != nil {
				return fmt.Errorf("calling the joined peer through the first one's server: %w", err)
			}
			x.joinCall = append(x.joinCall, time.Since(c.started))
			x.join = append(x.join, j.returned.Sub(c.started))
			x.joinExec = append(x.joinExec, j.main.Sub(c.started))
			x.joinNew = append(x.joinNew, j.returned.Sub(j.called))
			return nil
		}()
		if err != nil {
			return err
		}
	}
	for range 3 {
		c, err := startChild(ctx, exe, peerEnv(o.subnetHost(joinBlock, 2), o.port, peerPortRange), "-role", rolePeer)
		if err != nil {
			return err
		}
		j, err := parsePeerReady(c)
		c.stop()
		if err != nil {
			return err
		}
		x.lone = append(x.lone, j.returned.Sub(c.started))
	}
	for range 5 {
		cfg := benchPeerConfig(o.subnetHost(joinBlock, 3), o.port, peerPortRange)
		t := time.Now()
		p, err := peer.Start(ctx, cfg)
		d := time.Since(t)
		if err != nil {
			return err
		}
		p.Close()
		x.peerStart = append(x.peerStart, d)
	}
	return nil
}

// memoryPeers is the peers per host, and memoryHosts the hosts, of the
// 30-peer memory measurement.
const (
	memoryHosts = 5
	memoryPeers = peerPortRange + 1
)

// runMemory measures the settled RSS of one idle peer alone, then of 30
// idle peers (5 hosts × 6 ports): with NET_SCAN naming the 5 hosts, so
// that they form one cluster, and without, 5 clusters of 6.
func runMemory(ctx context.Context, exe string, o options, x *extraResults) error {
	var cs children
	defer cs.stopAll()
	alone, err := startChild(ctx, exe, peerEnv(o.subnetHost(memoryBlock, memoryHosts+1), o.port, peerPortRange), "-role", rolePeer)
	if err != nil {
		return err
	}
	rss, err := settledRSS(ctx, alone.pid())
	alone.stop()
	if err != nil {
		return err
	}
	x.idleRSS = append(x.idleRSS, rss)

	var hosts []string
	for i := range memoryHosts {
		hosts = append(hosts, o.subnetHost(memoryBlock, i+1))
	}
	for _, oneCluster := range []bool{true, false} {
		m, err := memoryOf30(ctx, exe, o, hosts, oneCluster)
		if err != nil {
			return err
		}
		if oneCluster {
			x.mem30 = append(x.mem30, m)
		} else {
			x.mem30Split = append(x.mem30Split, m)
		}
	}
	return nil
}

// memory30 is what one measurement of 30 idle peers found.
type memory30 struct {
	total, largest int64 // RSS
	routes         int   // route TCP connections among them (-1: unknown)
	fewestRoutes   int   // the fewest info.Routes of a peer
}

// memoryOf30 starts memoryPeers peers on each of hosts, one after the
// other, scanning (NET_SCAN) the other hosts too when oneCluster, else
// each host's peers alone; waits until each reaches every peer it should
// through the cluster, and once they have settled, sums their RSS.
func memoryOf30(ctx context.Context, exe string, o options, hosts []string, oneCluster bool) (memory30, error) {
	var cs children
	defer cs.stopAll()
	scan := strings.Join(hosts, ",")
	n := len(hosts) * memoryPeers
	var ids []peer.ID
	for _, h := range hosts {
		for range memoryPeers {
			env := peerEnv(h, o.port, peerPortRange)
			args := []string{"-role", rolePeer, "-mesh", strconv.Itoa(memoryPeers), "-poll", "100ms"}
			if oneCluster {
				env = append(env, "NET_SCAN="+scan)
				args = []string{"-role", rolePeer, "-mesh", strconv.Itoa(n), "-mesh-hosts", scan, "-poll", "100ms"}
			}
			c, err := startChild(ctx, exe, env, args...)
			if err != nil {
				return memory30{}, err
			}
			cs.add(c)
			r, err := parsePeerReady(c)
			if err != nil {
				return memory30{}, err
			}
			ids = append(ids, r.id)
		}
	}
	for _, c := range cs {
		word, f, err := c.waitWord(ctx, meshLimit+5*time.Second, "meshed", "meshfail")
		if err != nil {
			return memory30{}, err
		}
		if word == "meshfail" {
			return memory30{}, fmt.Errorf("pid %d: only %v of the other peers answered within %s", c.pid(), f[1:], meshLimit)
		}
	}
	rsses := make([]int64, len(cs))
	errs := make([]error, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() { rsses[i], errs[i] = settledRSS(ctx, c.pid()) })
	}
	wg.Wait()
	var m memory30
	for i := range cs {
		if errs[i] != nil {
			return memory30{}, errs[i]
		}
		m.total += rsses[i]
		m.largest = max(m.largest, rsses[i])
	}
	// Route counts: ask each host's first peer about its own cluster.
	m.fewestRoutes, m.routes = n, 0
	groups := [][]int{}
	if oneCluster {
		all := make([]int, n)
		for i := range all {
			all[i] = i
		}
		groups = append(groups, all)
	} else {
		for h := range hosts {
			var g []int
			for j := range memoryPeers {
				g = append(g, h*memoryPeers+j)
			}
			groups = append(groups, g)
		}
	}
	for _, g := range groups {
		var sub children
		var gids []peer.ID
		for _, i := range g {
			sub = append(sub, cs[i])
			gids = append(gids, ids[i])
		}
		var names, per []int
		tcp := -1
		if err := countRoutes(ctx, sub, gids, &names, &tcp, &per); err != nil {
			return memory30{}, err
		}
		if tcp < 0 || m.routes < 0 {
			m.routes = -1
		} else {
			m.routes += tcp
		}
		for _, v := range names {
			m.fewestRoutes = min(m.fewestRoutes, v)
		}
	}
	return m, nil
}

// runDiscoveryHost starts 4 peer processes on one host (no background
// rescans), then a peer in this process on the same host and port range
// (5 peers on 6 ports, as the Python anchor), and times its on-host
// refresh and its cached answer.
func runDiscoveryHost(ctx context.Context, exe string, o options, x *extraResults) error {
	var cs children
	defer cs.stopAll()
	host := o.subnetHost(discoveryHostBlock, 1)
	for range 4 {
		c, err := startChild(ctx, exe, peerEnv(host, o.port, peerPortRange, "NET_SCAN_INTERVAL=0"), "-role", rolePeer)
		if err != nil {
			return err
		}
		cs.add(c)
	}
	start, cancel := context.WithTimeout(ctx, 10*time.Second)
	p, err := bus.Start(start, benchPeerConfig(host, o.port, peerPortRange))
	cancel()
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

// runDiscoveryNet starts 10 peer processes over 5 hosts of a /27, each
// scanning the /27 (NET_SCAN) once at start, with a TCP listener that
// accepts and never speaks on a port of the range; once they form one
// cluster, a peer in this process (without the on-host mesh of bus.Start)
// makes its first scan of the /27, then refreshes.
func runDiscoveryNet(ctx context.Context, exe string, o options, x *extraResults) error {
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
	const peers = 10
	for i := range peers {
		c, err := startChild(ctx, exe, peerEnv(hosts[i%len(hosts)], o.port, peerPortRange, "NET_SCAN="+cidr, "NET_SCAN_INTERVAL=0"),
			"-role", rolePeer, "-mesh", strconv.Itoa(peers), "-mesh-hosts", strings.Join(hosts, ","), "-poll", "20ms")
		if err != nil {
			return err
		}
		cs.add(c)
	}
	for _, c := range cs {
		word, f, err := c.waitWord(ctx, meshLimit+5*time.Second, "meshed", "meshfail")
		if err != nil {
			return err
		}
		if word == "meshfail" {
			return fmt.Errorf("pid %d: only %v of the %d other peers answered within %s", c.pid(), f[1:], peers-1, meshLimit)
		}
	}
	cfg := benchPeerConfig(hosts[0], o.port, peerPortRange)
	cfg.Scan = cidr
	start, cancel := context.WithTimeout(ctx, 10*time.Second)
	p, err := peer.Start(start, cfg)
	cancel()
	if err != nil {
		return err
	}
	defer p.Close()
	d := discovery.New(p)
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
		if err == nil && len(found.Peers) != peers {
			err = fmt.Errorf("found %d peers, want %d", len(found.Peers), peers)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("refresh: %w", err)
	}
	x.netRefresh = append(x.netRefresh, refresh)
	return nil
}
