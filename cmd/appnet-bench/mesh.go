package main

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/appnet-go/appnet/bus"
	"github.com/appnet-go/appnet/internal/lower"
	"github.com/appnet-go/appnet/internal/peer"
)

// The mesh scenario: 10 peer processes on one host and an 11-port range
// call bus.New at the same instant; the time until each reaches every
// other through its own server, and the routes.

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
	meshLimit  = 60 * time.Second        // how long a child checks for the mesh
)

// runMesh starts meshPeers peer processes that all call bus.New at the
// same instant (each sleeps until then) on one host and one port range,
// and measures until each reaches every other through its own server.
func runMesh(ctx context.Context, exe string, o options, out *[]meshSample) error {
	var cs children
	defer cs.stopAll()
	spec := peerSpec{host: o.subnetHost(meshBlock, 1), port: o.port, portRange: meshRange}
	if o.meshInterval > 0 {
		spec.env = append(spec.env, "NET_SCAN_INTERVAL="+o.meshInterval.String())
	}
	at := time.Now().Add(meshMargin)
	spec.args = []string{"-at", strconv.FormatInt(at.UnixNano(), 10), "-mesh", strconv.Itoa(meshPeers), "-poll", "10ms"}
	for range meshPeers {
		c, err := launchPeer(exe, spec)
		if err != nil {
			return err
		}
		cs.add(c)
	}
	var s meshSample
	ids, err := waitMeshReady(ctx, cs, at, &s)
	if err != nil {
		return err
	}
	for _, c := range cs {
		f, err := waitMeshed(ctx, c, meshPeers-1)
		if err != nil {
			return err
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
	*out = append(*out, s)
	return nil
}

// waitMeshReady waits until every peer of cs is ready, checks that each
// called bus.New at the common start at, and notes when each was ready
// into s. It returns their IDs.
func waitMeshReady(ctx context.Context, cs children, at time.Time, s *meshSample) ([]peer.ID, error) {
	var ids []peer.ID
	for _, c := range cs {
		if err := c.waitReady(ctx, 15*time.Second); err != nil {
			return nil, err
		}
		r, err := parsePeerReady(c)
		if err != nil {
			return nil, err
		}
		if r.called.Before(at) {
			return nil, fmt.Errorf("pid %d called bus.New %s before the common start", c.pid(), at.Sub(r.called))
		}
		if late := r.main.Sub(at); late > 0 {
			return nil, fmt.Errorf("pid %d started %s after the common start: raise meshMargin", c.pid(), late)
		}
		s.ready = max(s.ready, r.returned.Sub(at))
		s.newDur = append(s.newDur, r.returned.Sub(r.called))
		ids = append(ids, r.id)
	}
	return ids, nil
}

// waitMeshed waits until peer child c says it reached every other (of
// others, for the error) and returns the fields of its "meshed" line.
func waitMeshed(ctx context.Context, c *child, others int) ([]string, error) {
	word, f, err := c.waitWord(ctx, meshLimit+5*time.Second, "meshed", "meshfail")
	if err != nil {
		return nil, err
	}
	if word == "meshfail" {
		if others < 0 {
			return nil, fmt.Errorf("pid %d: only %v of the other peers answered within %s", c.pid(), f[1:], meshLimit)
		}
		return nil, fmt.Errorf("pid %d: only %v of the %d other peers answered within %s", c.pid(), f[1:], others, meshLimit)
	}
	return f, nil
}

// countRoutes asks every peer for its info (through the first peer's
// server) and counts the route TCP connections of the children's
// processes (the hubs' cluster ports; leaves have none): names gets each
// info.Routes' length, tcp the connections in all (-1 if /proc could not
// tell), perPeer each process's.
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
		if info.Cluster == "" {
			continue // a leaf: it routes to no one
		}
		addr, err := clusterAddr(info.Cluster)
		if err != nil {
			return err
		}
		cluster[addr] = true
	}
	per, err := routeConns(cs.pids(), cluster)
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

// clusterAddr returns host:port of a cluster URL.
func clusterAddr(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("cluster URL %q", raw)
	}
	return u.Host, nil
}

// watchMesh, in a peer child, asks every other peer address of the mesh
// (each port of the range on each mesh host) for its info through this
// peer's own server, every x.poll, until x.mesh-1 of them answer, and
// prints "meshed <ns> <answering> <route names> <route connections>", or
// "meshfail <ns> <answering>" after meshLimit. An answer proves the route
// and the subscription interest behind it: the call crossed the cluster.
func watchMesh(ctx context.Context, p *bus.Peer, x childFlags, out *lineWriter) {
	pending := meshAddresses(p, x.meshHosts)
	answered, deadline := 0, time.Now().Add(meshLimit)
	for {
		var still []peer.ID
		for _, id := range pending {
			c, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			_, err := lower.Peer(p).Caller.Request(c, peer.CallSubject(id, peer.ConnInfo), nil)
			cancel()
			if err == nil {
				answered++
			} else {
				still = append(still, id)
			}
		}
		pending = still
		if answered >= x.mesh-1 {
			out.printf("meshed %d %d %d %d", time.Now().UnixNano(), answered,
				len(lower.Peer(p).Server().RemoteNames()), lower.Peer(p).Server().NATS().NumRoutes())
			return
		}
		if time.Now().After(deadline) {
			out.printf("meshfail %d %d", time.Now().UnixNano(), answered)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(x.poll):
		}
	}
}

// meshAddresses returns the ID of every other peer address of the mesh:
// each port of p's range on each of hosts (comma-separated; p's host if
// empty).
func meshAddresses(p *bus.Peer, hosts string) []peer.ID {
	cfg := p.Config()
	list := []string{cfg.Host}
	if hosts != "" {
		list = strings.Split(hosts, ",")
	}
	var out []peer.ID
	for _, h := range list {
		for _, port := range cfg.Ports() {
			if id := peer.NewID(h, port, cfg.Group); id != p.ID() {
				out = append(out, id)
			}
		}
	}
	return out
}

// meshRows adds the mesh scenario's rows to the discovery table.
func meshRows(t targetTable, o options, samples []meshSample) {
	interval := "the library default"
	if o.meshInterval > 0 {
		interval = o.meshInterval.String()
	}
	var formed, ready, tcp, newDur []float64
	var names, perPeer []int
	for _, s := range samples {
		formed = append(formed, ms(s.formed))
		ready = append(ready, ms(s.ready))
		if s.tcp >= 0 {
			tcp = append(tcp, float64(s.tcp))
		}
		names = append(names, s.routeNames...)
		newDur = append(newDur, durs(s.newDur, ms)...)
		perPeer = append(perPeer, s.tcpPerPeer...)
	}
	t.row(fmt.Sprintf("mesh: %d peers at one instant (one host, 11 ports, NET_SCAN_INTERVAL %s): every peer reaches every other, ms", meshPeers, interval),
		formed, "%.0f", fmt.Sprintf("<= %.0f", ms(targetMesh)), func(v float64) bool { return v <= ms(targetMesh) })
	t.row("(context) mesh: the last bus.New returned, ms", ready, "%.0f", "", nil)
	t.row("(context) mesh: bus.New of each peer, ms", newDur, "%.0f", "", nil)
	slow := 0
	for _, v := range newDur {
		if v >= 1000 {
			slow++
		}
	}
	fmt.Fprintf(t.tw, "(context) mesh: bus.New calls of 1 s or more (a route pair closed as duplicates, redialled after 1 s)\t%d of %d\t\t\t\n", slow, len(newDur))
	// Hubs route to each other and leaves to no one: the full mesh of
	// every peer, and its target of meshPeers-1 routes each, is gone.
	t.row("(context) mesh: routes per peer (info.Routes: the hubs' to each other; a leaf has none)", intsF(names), "%.0f", "", nil)
	t.row("mesh: route TCP connections in all (/proc)", tcp, "%.0f", "", nil)
	t.row("mesh: route TCP connections per peer process (/proc)", intsF(perPeer), "%.0f", "", nil)
}
