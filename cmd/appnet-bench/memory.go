package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/appnet-go/appnet/internal/peer"
)

// The memory scenario: the RSS of one idle peer, and of 30 idle peers
// (5 hosts × 6 ports) in one cluster and in 5 clusters of 6.

// memoryResults holds the samples of the memory scenario.
type memoryResults struct {
	idleRSS    []int64    // one idle peer, alone
	mem30      []memory30 // 30 idle peers in one cluster
	mem30Split []memory30 // 30 idle peers in 5 clusters of 6
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
func runMemory(ctx context.Context, exe string, o options, x *memoryResults) error {
	alone, _, err := startPeer(ctx, exe, peerSpec{host: o.subnetHost(memoryBlock, memoryHosts+1), port: o.port, portRange: peerPortRange})
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
	ids, err := start30(ctx, exe, o, hosts, oneCluster, &cs)
	if err != nil {
		return memory30{}, err
	}
	for _, c := range cs {
		if _, err := waitMeshed(ctx, c, -1); err != nil {
			return memory30{}, err
		}
	}
	m, err := sumRSS(ctx, cs)
	if err != nil {
		return memory30{}, err
	}
	// Route counts: ask each host's first peer about its own cluster.
	m.fewestRoutes, m.routes = len(cs), 0
	for _, g := range memoryClusters(len(hosts), oneCluster) {
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

// start30 starts memoryPeers peer children on each of hosts, into cs, each
// watching for the peers of its cluster, and returns their IDs.
func start30(ctx context.Context, exe string, o options, hosts []string, oneCluster bool, cs *children) ([]peer.ID, error) {
	scan := strings.Join(hosts, ",")
	n := len(hosts) * memoryPeers
	var ids []peer.ID
	for _, h := range hosts {
		for range memoryPeers {
			spec := peerSpec{host: h, port: o.port, portRange: peerPortRange,
				args: []string{"-mesh", strconv.Itoa(memoryPeers), "-poll", "100ms"}}
			if oneCluster {
				spec.env = []string{"NET_SCAN=" + scan}
				spec.args = []string{"-mesh", strconv.Itoa(n), "-mesh-hosts", scan, "-poll", "100ms"}
			}
			c, r, err := startPeer(ctx, exe, spec)
			if err != nil {
				return nil, err
			}
			cs.add(c)
			ids = append(ids, r.id)
		}
	}
	return ids, nil
}

// sumRSS waits until every child's RSS settles and returns their sum and
// the largest.
func sumRSS(ctx context.Context, cs children) (memory30, error) {
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
	return m, nil
}

// memoryClusters returns the indexes of the peers of each cluster: all
// of them, or each host's.
func memoryClusters(hosts int, oneCluster bool) [][]int {
	n := hosts * memoryPeers
	if oneCluster {
		all := make([]int, n)
		for i := range all {
			all[i] = i
		}
		return [][]int{all}
	}
	var groups [][]int
	for h := range hosts {
		var g []int
		for j := range memoryPeers {
			g = append(g, h*memoryPeers+j)
		}
		groups = append(groups, g)
	}
	return groups
}

// memoryRows adds the memory scenario's rows to the discovery table.
func memoryRows(t targetTable, x *memoryResults) {
	t.row(fmt.Sprintf("memory: RSS of one idle peer, MB (Python %.1f)", pythonIdleRSS), bytesToMB(x.idleRSS), "%.1f",
		fmt.Sprintf("<= %.0f", targetRSS), func(v float64) bool { return v <= targetRSS })
	n := memoryHosts * memoryPeers
	for _, v := range []struct {
		what string
		ms   []memory30
	}{
		{"one cluster (NET_SCAN names the 5 hosts)", x.mem30},
		{fmt.Sprintf("%d clusters of %d (no NET_SCAN)", memoryHosts, memoryPeers), x.mem30Split},
	} {
		total, per, largest, routes, fewest := make([]float64, len(v.ms)), make([]float64, len(v.ms)), make([]float64, len(v.ms)), []float64{}, make([]float64, len(v.ms))
		for i, m := range v.ms {
			total[i] = float64(m.total) / mb
			per[i] = float64(m.total) / mb / float64(n)
			largest[i] = float64(m.largest) / mb
			fewest[i] = float64(m.fewestRoutes)
			if m.routes >= 0 {
				routes = append(routes, float64(m.routes))
			}
		}
		t.row(fmt.Sprintf("memory: RSS of %d idle peers (%d hosts x %d ports), %s, MB in all", n, memoryHosts, memoryPeers, v.what), total, "%.0f", "", nil)
		t.row("  the same, MB per peer (mean)", per, "%.1f", "", nil)
		t.row("  the same, the largest peer, MB", largest, "%.1f", "", nil)
		t.row("  route TCP connections among them (/proc)", routes, "%.0f", "", nil)
		t.row("  fewest routes of a peer (info.Routes)", fewest, "%.0f", "", nil)
	}
}
