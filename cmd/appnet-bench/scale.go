package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/appnet-go/appnet/internal/peer"
	"github.com/nats-io/nats.go"
)

// The scale scenario: n `appnet serve`-like peer processes over n/10
// loopback hosts, with two hubs by configuration or none, measured from
// the outside (see watchScale for what each peer prints). With
// APPNET_BENCH_DEBUG=1 it also prints how each peer's view grew (and how
// long its start took), the CPU the start cost, the subjects seen at
// rest, the pairs that could not be reached and what the servers of those
// peers are attached to, and a peer's goroutines when one never gets
// ready.
type scaleOptions struct {
	sizes      []int
	topologies []bool // with hubs by configuration, or not
	idle       time.Duration
	base       [2]byte // 127.<base>.<host>.1 are the hosts
	port       int
	profile    string        // directory for the peers' CPU profiles of their first profileFor
	profileFor time.Duration // how long a peer profiles itself: the start of the network, which is what grows
	profileAt  time.Duration // when a peer starts its profile, after its own start
}

// scaleSample is what one network of one size and topology measured.
type scaleSample struct {
	peers, hosts  int
	topology      string
	whole         time.Duration // from the last fork until every peer's view was whole and its sample callable
	idleCPU       float64       // cores, all peers together
	msgsPerPeer   float64       // NATS messages received per second per peer, idle
	rssMedian     float64       // MB, peers that are not hubs
	rssHub        float64       // MB, median of the hubs
	ussMedian     float64       // MB, private memory of the peers that are not hubs
	s2sMax        int           // server-to-server connections of a non-hub peer, at most
	hubs          int
	join          []time.Duration // fork to in every view, per join
	leave, kill   time.Duration
	hubKill       time.Duration // kill -9 of a hub until every peer's sample answers again
	refresh       time.Duration // a Refresh of the whole view, at a leaf (median)
	refreshPeers  int
	rawGather     time.Duration // its floor: a raw request to every peer process, gathering as many answers (median)
	pairs, pairOK int
}

// scaleNet is the child processes of one network, with their lines.
type scaleNet struct {
	mu    sync.Mutex
	cs    children
	lines map[*child][][]string
	grew  chan struct{}
	o     scaleOptions
	hosts []string
	n     int
	hub   bool
	roles map[*child]string // from the idle stats
}

// runScale measures every size with two hubs and with none.
func runScale(ctx context.Context, exe string, o scaleOptions, log io.Writer) ([]scaleSample, error) {
	var out []scaleSample
	for _, n := range o.sizes {
		for _, hubs := range o.topologies {
			fmt.Fprintf(log, "scale: %d peers, hubs by configuration: %v\n", n, hubs)
			s, err := measureScale(ctx, exe, o, n, hubs, log)
			if err != nil {
				return out, fmt.Errorf("scale %d (hubs %v): %w", n, hubs, err)
			}
			out = append(out, s)
		}
	}
	return out, nil
}

func measureScale(ctx context.Context, exe string, o scaleOptions, n int, hubs bool, log io.Writer) (scaleSample, error) {
	nw := &scaleNet{lines: map[*child][][]string{}, grew: make(chan struct{}), o: o, n: n, hub: hubs}
	defer nw.cs.stopAll()
	for h := range max(1, n/10) {
		nw.hosts = append(nw.hosts, fmt.Sprintf("127.%d.%d.1", o.base[0], int(o.base[1])+h))
	}
	s := scaleSample{peers: n, hosts: len(nw.hosts), topology: "no hub"}
	if hubs {
		s.topology = "2 hubs"
	}
	var lastFork time.Time
	for i := range n {
		c, err := nw.launch(exe, i)
		if err != nil {
			return s, err
		}
		lastFork = c.started
		if nw.configuredHub(i) {
			// Hubs by configuration are the long-lived servers the
			// others join: up first.
			if err := c.waitReady(ctx, 30*time.Second); err != nil {
				return s, err
			}
		}
	}
	for _, c := range nw.cs {
		if c.ready != nil {
			continue // a hub, up already
		}
		if err := c.waitReady(ctx, 60*time.Second); err != nil {
			if os.Getenv("APPNET_BENCH_DEBUG") != "" {
				_ = c.cmd.Process.Signal(syscall.SIGQUIT) // its goroutines, on stderr
				time.Sleep(time.Second)
			}
			return s, err
		}
	}
	wholeAt, ok, err := nw.all(ctx, nw.cs, 90*time.Second, func(f []string) bool { return f[0] == "whole" })
	if err != nil {
		return s, err
	}
	s.whole = latest(wholeAt).Sub(lastFork)
	nw.reportStart(log, lastFork, latest(wholeAt))
	for _, f := range ok {
		k, _ := strconv.Atoi(f[2])
		s.pairOK += k
	}
	s.pairs = min(n-1, max(5, (1000+n-1)/n)) * n // each peer calls this many others
	fmt.Fprintf(log, "scale: whole %s after the last start\n", s.whole.Round(time.Millisecond))
	if err := nw.idle(ctx, &s); err != nil {
		return s, err
	}
	if err := nw.churn(ctx, exe, &s); err != nil {
		return s, err
	}
	return s, nil
}

// reportStart prints the CPU of all peers until the network was whole,
// at whole: on a machine the start saturates, time to whole follows the
// work done until then, which compares with the floor's
// (floors/leafnodes) more steadily than the time does.
func (nw *scaleNet) reportStart(log io.Writer, lastFork, whole time.Time) {
	if cpu, err := nw.cpu(); err == nil {
		fmt.Fprintf(log, "scale: CPU of all peers from the first start until whole: %s (%s)\n", cpu.Round(10*time.Millisecond), nw.cpuSplit())
	}
	if os.Getenv("APPNET_BENCH_DEBUG") != "" {
		nw.debugStart(lastFork, whole)
	}
}

// configuredHub says whether peer i is a hub by configuration: the first
// two, when the topology has hubs.
func (nw *scaleNet) configuredHub(i int) bool { return nw.hub && i < 2 }

// launch forks peer i: host i mod hosts, the first two hubs when asked.
func (nw *scaleNet) launch(exe string, i int) (*child, error) {
	spec := peerSpec{host: nw.hosts[i%len(nw.hosts)], port: nw.o.port, portRange: 14,
		env: []string{"NET_SCAN=" + strings.Join(nw.hosts, ",")}, args: []string{"-scale", strconv.Itoa(nw.n)}}
	if nw.configuredHub(i) {
		spec.env = append(spec.env, "NET_IS_HUB=true")
	}
	if nw.o.profile != "" {
		name := fmt.Sprintf("scale-%d-hubs-%v-%d.pprof", nw.n, nw.hub, i)
		spec.args = append(spec.args, "-cpuprofile", filepath.Join(nw.o.profile, name), "-cpuprofile-for", nw.o.profileFor.String(), "-cpuprofile-after", nw.o.profileAt.String())
	}
	c, err := launchPeer(exe, spec)
	if err != nil {
		return nil, err
	}
	nw.mu.Lock()
	nw.cs.add(c)
	nw.mu.Unlock()
	go nw.drain(c)
	return c, nil
}

// drain keeps every line of c.
func (nw *scaleNet) drain(c *child) {
	for {
		select {
		case f := <-c.lines:
			if len(f) == 0 {
				continue
			}
			nw.mu.Lock()
			nw.lines[c] = append(nw.lines[c], f)
			close(nw.grew)
			nw.grew = make(chan struct{})
			nw.mu.Unlock()
		case <-c.done:
			return
		}
	}
}

// all waits until every child of cs printed a line that match accepts
// (after its lines already consumed are skipped: each call looks at all
// lines) and returns the time each line carries and the lines.
func (nw *scaleNet) all(ctx context.Context, cs []*child, limit time.Duration, match func([]string) bool) ([]time.Time, [][]string, error) {
	deadline := time.After(limit)
	for {
		nw.mu.Lock()
		var at []time.Time
		var lines [][]string
		var missing []*child
		for _, c := range cs {
			i := slices.IndexFunc(nw.lines[c], match)
			if i < 0 {
				missing = append(missing, c)
				continue
			}
			f := nw.lines[c][i]
			ns, _ := strconv.ParseInt(f[len(f)-1], 10, 64)
			if f[0] == "whole" || f[0] == "stats" {
				ns, _ = strconv.ParseInt(f[1], 10, 64)
			}
			at = append(at, time.Unix(0, ns))
			lines = append(lines, f)
		}
		grew := nw.grew
		nw.mu.Unlock()
		if len(missing) == 0 {
			return at, lines, nil
		}
		select {
		case <-grew:
		case <-deadline:
			nw.dump(cs)
			nw.diagMissing(missing)
			return nil, nil, fmt.Errorf("%d of %d peers said it within %s", len(at), len(cs), limit)
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
}

// countSubjects counts the messages on every subject, as seen from the
// first peer's server, and prints the busiest when the returned function
// is called.
func (nw *scaleNet) countSubjects(time.Duration) func() {
	var mu sync.Mutex
	counts := map[string]int{}
	host := nw.hosts[0]
	nc, err := nats.Connect("nats://" + net.JoinHostPort(host, strconv.Itoa(nw.o.port)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "debug: counting subjects:", err)
		return func() {}
	}
	_, _ = nc.Subscribe(">", func(m *nats.Msg) {
		mu.Lock()
		counts[m.Subject]++
		mu.Unlock()
	})
	return func() {
		nc.Close()
		mu.Lock()
		defer mu.Unlock()
		for sub, n := range counts {
			if n > 5 {
				fmt.Fprintf(os.Stderr, "debug: %6d %s\n", n, sub)
			}
		}
	}
}

// timeline prints, for each child, when its view grew, relative to t0.
func (nw *scaleNet) timeline(t0 time.Time) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	for i, c := range nw.cs {
		var steps []string
		for _, f := range nw.lines[c] {
			if f[0] == "debug" {
				ns, _ := strconv.ParseInt(f[len(f)-1], 10, 64)
				size := f[slices.Index(f, "view")+1]
				steps = append(steps, fmt.Sprintf("%s:%s@%dms", f[1][:1], size, time.Unix(0, ns).Sub(t0).Milliseconds()))
			}
			if f[0] == "whole" {
				ns, _ := strconv.ParseInt(f[1], 10, 64)
				steps = append(steps, fmt.Sprintf("whole@%dms", time.Unix(0, ns).Sub(t0).Milliseconds()))
			}
			if f[0] == "debug-conn" && len(f) == 5 {
				ns, _ := strconv.ParseInt(f[4], 10, 64)
				steps = append(steps, fmt.Sprintf("c:%s/%s/%s@%dms", shortID(f[1]), f[2], f[3], time.Unix(0, ns).Sub(t0).Milliseconds()))
			}
			if f[0] == "debug-reach" {
				steps = append(steps, "reach:"+strings.Join(f[1:], " "))
			}
		}
		if len(c.ready) >= 4 {
			ns := func(k int) time.Time { v, _ := strconv.ParseInt(c.ready[k], 10, 64); return time.Unix(0, v) }
			steps = append([]string{fmt.Sprintf("main@%dms new:%dms", ns(1).Sub(t0).Milliseconds(), ns(3).Sub(ns(2)).Milliseconds())}, steps...)
		}
		fmt.Fprintf(os.Stderr, "timeline %d: %s\n", i, strings.Join(steps, " "))
	}
}

// dump prints the last lines of every child, when APPNET_BENCH_DEBUG is set.
func (nw *scaleNet) dump(cs []*child) {
	if os.Getenv("APPNET_BENCH_DEBUG") == "" {
		return
	}
	nw.mu.Lock()
	defer nw.mu.Unlock()
	for i, c := range cs {
		ls := nw.lines[c]
		fmt.Fprintf(os.Stderr, "child %d (%v): %d lines, last %v\n", i, c.ready, len(ls), ls[max(0, len(ls)-3):])
	}
}

func latest(ts []time.Time) time.Time {
	var m time.Time
	for _, t := range ts {
		if t.After(m) {
			m = t
		}
	}
	return m
}

// idle measures the idle network: CPU of all peers, messages, RSS and
// server-to-server connections.
func (nw *scaleNet) idle(ctx context.Context, s *scaleSample) error {
	// Role changes of peers that started together, and leaves moving to
	// spread over the hubs (which look at a view still for 6 s, with hubs
	// unchanged for 20 s, and move over 5 s), settle first.
	if err := nw.settle(ctx, 12*time.Second, 3*time.Minute); err != nil {
		return err
	}
	before, err := nw.stats(ctx)
	if err != nil {
		return err
	}
	nw.printAccepted(before)
	cpu0, err := nw.cpu()
	if err != nil {
		return err
	}
	if os.Getenv("APPNET_BENCH_DEBUG") != "" {
		defer nw.countSubjects(nw.o.idle)()
	}
	t0 := time.Now()
	select {
	case <-time.After(nw.o.idle):
	case <-ctx.Done():
		return ctx.Err()
	}
	cpu1, err := nw.cpu()
	if err != nil {
		return err
	}
	elapsed := time.Since(t0)
	after, err := nw.stats(ctx)
	if err != nil {
		return err
	}
	s.idleCPU = (cpu1 - cpu0).Seconds() / elapsed.Seconds()
	var in int64
	for i := range nw.cs {
		a, _ := strconv.ParseInt(after[i][2], 10, 64)
		b, _ := strconv.ParseInt(before[i][2], 10, 64)
		in += max(0, a-b) // a server restarted for a new role counts from 0
	}
	s.msgsPerPeer = float64(in) / elapsed.Seconds() / float64(len(nw.cs))
	nw.roles = map[*child]string{}
	for i, c := range nw.cs {
		nw.roles[c] = after[i][6]
	}
	return nw.memory(s, after)
}

// memory notes the RSS of hubs and the rest, the USS and server-to-server
// connections of the rest, and how many hubs there are, from the peers'
// stats lines.
func (nw *scaleNet) memory(s *scaleSample, stats [][]string) error {
	var rss, rssHub, uss []float64
	for i, c := range nw.cs {
		r, err := readRSS(c.pid())
		if err != nil {
			return err
		}
		if stats[i][6] == "hub" {
			s.hubs++
			rssHub = append(rssHub, float64(r)/(1<<20))
			continue
		}
		u, err := readUSS(c.pid())
		if err != nil {
			return err
		}
		rss, uss = append(rss, float64(r)/(1<<20)), append(uss, float64(u)/(1<<20))
		routes, _ := strconv.Atoi(stats[i][4])
		leaves, _ := strconv.Atoi(stats[i][5])
		s.s2sMax = max(s.s2sMax, routes+leaves)
	}
	s.rssMedian, _, _ = median(rss)
	s.rssHub, _, _ = median(rssHub)
	s.ussMedian, _, _ = median(uss)
	return nil
}

// printAccepted prints how many connections the peers' servers took from
// their start until the network settled: the probes of the scans that
// found the network, the questions that followed them, and the leaf
// connections, each of them work for both ends.
func (nw *scaleNet) printAccepted(stats [][]string) {
	var leaves []float64
	var total int
	var hubs []string
	for i := range nw.cs {
		if len(stats[i]) < 8 {
			return
		}
		n, _ := strconv.Atoi(stats[i][7])
		if nw.configuredHub(i) {
			hubs = append(hubs, stats[i][7])
			continue
		}
		leaves, total = append(leaves, float64(n)), total+n
	}
	m, lo, hi := median(leaves)
	byHubs := ""
	if len(hubs) > 0 {
		byHubs = "; by the hubs " + strings.Join(hubs, ", ")
	}
	fmt.Fprintf(os.Stderr, "scale: connections taken from the start until settled: by the others' servers %d in all, median %.0f [%.0f..%.0f]%s\n",
		total, m, lo, hi, byHubs)
}

// stats asks every peer for its stats line and returns them, in order.
func (nw *scaleNet) stats(ctx context.Context) ([][]string, error) {
	mark := time.Now().UnixNano()
	for _, c := range nw.cs {
		_ = c.cmd.Process.Signal(syscall.SIGUSR1)
	}
	_, lines, err := nw.all(ctx, nw.cs, 30*time.Second, func(f []string) bool {
		if f[0] != "stats" || len(f) < 7 {
			return false
		}
		ns, _ := strconv.ParseInt(f[1], 10, 64)
		return ns >= mark
	})
	return lines, err
}

// cpu returns the CPU time of every peer together.
func (nw *scaleNet) cpu() (time.Duration, error) {
	var total time.Duration
	for _, c := range nw.cs {
		t, err := cpuTime(c.pid())
		if err != nil {
			return 0, err
		}
		total += t
	}
	return total, nil
}

// cpuSplit says how the CPU of all peers splits: the hubs by
// configuration (the first two, when there are) and the others' median.
func (nw *scaleNet) cpuSplit() string {
	times := cpuTimes(nw.cs)
	var hubs time.Duration
	var rest []float64
	for i, c := range nw.cs {
		if nw.configuredHub(i) {
			hubs += times[c]
			continue
		}
		rest = append(rest, times[c].Seconds()*1000)
	}
	m, _, _ := median(rest)
	return fmt.Sprintf("hubs %s, median of the others %.0f ms", hubs.Round(10*time.Millisecond), m)
}

// cpuTimes returns the CPU time of each child of cs that is running.
func cpuTimes(cs []*child) map[*child]time.Duration {
	out := make(map[*child]time.Duration, len(cs))
	for _, c := range cs {
		if t, err := cpuTime(c.pid()); err == nil {
			out[c] = t
		}
	}
	return out
}

// printKillCPU prints the CPU the peers spent from a hub's kill until the
// network was whole again (took), and the share of the busiest (the hub
// left, or the leaf that became one): on 2 cores, what 200 peers do
// while it takes the dead hub's leaves is time taken from it.
func (nw *scaleNet) printKillCPU(cs []*child, before, after map[*child]time.Duration, took time.Duration) {
	var total, busiest time.Duration
	var who *child
	for c, t := range after {
		if t0, ok := before[c]; ok {
			total += t - t0
			if t-t0 > busiest {
				busiest, who = t-t0, c
			}
		}
	}
	if who == nil || took <= 0 {
		return
	}
	fmt.Fprintf(os.Stderr, "scale: hub kill: the %d peers left spent %.2f cores over %s; the busiest (%s) %.2f\n",
		len(cs), total.Seconds()/took.Seconds(), took.Round(time.Millisecond), nw.roles[who], busiest.Seconds()/took.Seconds())
}

// churn measures joins, a graceful leave, a kill -9 of a leaf, a Refresh
// and a kill -9 of a hub.
func (nw *scaleNet) churn(ctx context.Context, exe string, s *scaleSample) error {
	if err := nw.joins(ctx, exe, s); err != nil {
		return err
	}
	if err := nw.failures(ctx, s); err != nil {
		return err
	}
	if os.Getenv("APPNET_BENCH_DEBUG") != "" {
		nw.printUnreach()
	}
	return nil
}

// seenBy waits until every child of cs saw a change of kind about id and
// returns when the last did.
func (nw *scaleNet) seenBy(ctx context.Context, cs []*child, kind, id string, limit time.Duration) (time.Time, error) {
	at, _, err := nw.all(ctx, cs, limit, func(f []string) bool { return f[0] == "change" && f[1] == kind && f[2] == id })
	return latest(at), err
}

// joins measures 3 joins: from the fork until every other peer saw it.
func (nw *scaleNet) joins(ctx context.Context, exe string, s *scaleSample) error {
	for j := range 3 {
		others := slices.Clone(nw.cs)
		before := cpuTimes(others)
		c, err := nw.launch(exe, nw.n+j)
		if err != nil {
			return err
		}
		if err := c.waitReady(ctx, 30*time.Second); err != nil {
			return err
		}
		at, err := nw.seenBy(ctx, others, "joined", c.ready[0], 30*time.Second)
		if err != nil {
			return fmt.Errorf("join %d: %w", j, err)
		}
		s.join = append(s.join, at.Sub(c.started))
		if _, _, err := nw.all(ctx, []*child{c}, 60*time.Second, func(f []string) bool { return f[0] == "whole" }); err != nil {
			return fmt.Errorf("join %d: the newcomer's view: %w", j, err)
		}
		nw.printJoinCPU(c, before, cpuTimes(others))
	}
	return nil
}

// printJoinCPU prints the CPU a join cost: the newcomer's own until its
// view was whole, the hubs' and the other peers' (from before its fork).
func (nw *scaleNet) printJoinCPU(c *child, before, after map[*child]time.Duration) {
	var hubs, others time.Duration
	n := 0
	for o, t := range after {
		if nw.roles[o] == "hub" {
			hubs += t - before[o]
		} else {
			others, n = others+t-before[o], n+1
		}
	}
	own, _ := cpuTime(c.pid())
	fmt.Fprintf(os.Stderr, "scale: join: CPU of the newcomer %s, of the hubs %s, of the %d others %s\n",
		own.Round(time.Millisecond), hubs.Round(time.Millisecond), n, others.Round(time.Millisecond))
}

// leaf returns the leaf peer after skip others, or nil.
func (nw *scaleNet) leaf(skip int) *child {
	for _, c := range nw.cs {
		if nw.roles[c] != "leaf" {
			continue
		}
		if skip == 0 {
			return c
		}
		skip--
	}
	return nil
}

// rest returns the children but gone.
func (nw *scaleNet) rest(gone ...*child) []*child {
	return slices.DeleteFunc(slices.Clone(nw.cs), func(c *child) bool { return slices.Contains(gone, c) })
}

// failures measures a graceful leave, a kill -9 of a leaf, a Refresh and
// a kill -9 of a hub.
func (nw *scaleNet) failures(ctx context.Context, s *scaleSample) error {
	l1, l2 := nw.leaf(3), nw.leaf(4)
	t0 := time.Now()
	_ = l1.cmd.Process.Signal(syscall.SIGTERM)
	at, err := nw.seenBy(ctx, nw.rest(l1), "left", l1.ready[0], 30*time.Second)
	if err != nil {
		return fmt.Errorf("leave: %w", err)
	}
	s.leave = at.Sub(t0)
	t0 = time.Now()
	_ = l2.cmd.Process.Kill()
	at, err = nw.seenBy(ctx, nw.rest(l1, l2), "failed", l2.ready[0], 30*time.Second)
	if err != nil {
		return fmt.Errorf("kill -9 of a leaf: %w", err)
	}
	s.kill = at.Sub(t0)
	l3 := nw.leaf(5)
	_ = l3.cmd.Process.Signal(syscall.SIGUSR2)
	if _, lines, err := nw.all(ctx, []*child{l3}, 30*time.Second, func(f []string) bool { return f[0] == "refresh" }); err == nil {
		ns, _ := strconv.ParseInt(lines[0][1], 10, 64)
		s.refresh = time.Duration(ns)
		s.refreshPeers, _ = strconv.Atoi(lines[0][2])
		if len(lines[0]) > 3 {
			ns, _ = strconv.ParseInt(lines[0][3], 10, 64)
			s.rawGather = time.Duration(ns)
		}
	}
	hub := nw.cs[slices.IndexFunc(nw.cs, func(c *child) bool { return nw.roles[c] == "hub" })]
	rest := nw.rest(l1, l2, hub)
	before := cpuTimes(rest)
	t0 = time.Now()
	_ = hub.cmd.Process.Kill()
	if os.Getenv("APPNET_BENCH_DEBUG") != "" {
		fmt.Fprintf(os.Stderr, "debug: killed hub %s at %d\n", hub.ready[0], t0.UnixNano())
	}
	at2, _, err := nw.all(ctx, rest, 60*time.Second, func(f []string) bool { return f[0] == "reach" })
	if err != nil {
		return fmt.Errorf("kill -9 of a hub: %w", err)
	}
	s.hubKill = latest(at2).Sub(t0)
	nw.printKillCPU(rest, before, cpuTimes(rest), s.hubKill)
	nw.debugHubKill(t0, hub.ready[0]) // from the lines at hand: free, and the tail is rare
	return nil
}

// settle waits until no peer's view, nor any leaf's hub, has changed for
// quiet, and the leaves have spread over the hubs (no hub holds a fifth
// and 3 leaves more than its share, the rule leaves move by), at most
// limit.
func (nw *scaleNet) settle(ctx context.Context, quiet, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		var last int64
		load := map[string]int{}
		nw.mu.Lock()
		for c, lines := range nw.lines {
			seen, attached := false, false
			for _, f := range slices.Backward(lines) {
				if (f[0] == "change" || f[0] == "attach") && len(f) == 4 && !seen {
					ns, _ := strconv.ParseInt(f[3], 10, 64)
					last, seen = max(last, ns), true
				}
				if f[0] == "attach" && len(f) == 4 && !attached {
					attached = true
					if f[2] == "hub" {
						load[c.ready[0]] += 0 // a hub counts, with no leaves yet
					} else if f[1] != "-" {
						load[f[1]]++
					}
				}
			}
		}
		nw.mu.Unlock()
		if time.Since(time.Unix(0, last)) >= quiet && spread(load) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the views still changed, or the leaves had not spread (%v), %s after the network was whole", load, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// spread reports whether no hub holds a fifth and 3 leaves more than its
// share of the leaves counted in load (by hub).
func spread(load map[string]int) bool {
	total := 0
	for _, k := range load {
		total += k
	}
	fair := float64(total) / float64(max(1, len(load)))
	for _, k := range load {
		if float64(k) > max(fair*1.2, fair+3) {
			return false
		}
	}
	return true
}

// debugHubKill prints when the peers saw the hub killed at t0 fail, and
// when their samples answered again; when the hub's leaves came loose
// and attached again (to within 5 s without APPNET_BENCH_DEBUG), which
// peers became hubs, which others were reported failed; and the changes
// the slowest saw.
func (nw *scaleNet) debugHubKill(t0 time.Time, hub string) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	since := func(ns string) time.Duration { v, _ := strconv.ParseInt(ns, 10, 64); return time.Unix(0, v).Sub(t0) }
	var all []hubKillSeen
	falsely := map[string][]time.Duration{} // peer reported failed -> when, by each who saw it
	var promoted []string
	for _, c := range nw.cs {
		s := hubKillSeen{id: c.ready[0]}
		for _, f := range nw.lines[c] {
			switch {
			case f[0] == "change" && len(f) == 4 && since(f[3]) > 0:
				s.changes = append(s.changes, fmt.Sprintf("%s:%s@%dms", f[1], shortID(f[2]), since(f[3]).Milliseconds()))
				if f[1] == "failed" && f[2] == hub {
					s.failed = since(f[3])
				} else if f[1] == "failed" {
					falsely[f[2]] = append(falsely[f[2]], since(f[3]))
				}
			case f[0] == "attach" && len(f) == 4:
				at := since(f[3])
				switch {
				case at <= 0:
					s.leafOfDead = f[1] == hub
				case at > 0 && f[1] == "-" && s.loose == 0:
					s.loose = at
				case at > 0 && f[1] != "-" && s.loose > 0 && s.attached == 0:
					s.attached = at
				}
				if at > 0 && f[2] == "hub" {
					promoted = append(promoted, fmt.Sprintf("%s@%dms", shortID(s.id), at.Milliseconds()))
				}
			case f[0] == "reach" && len(f) == 3:
				s.reach = since(f[2])
			}
		}
		if s.reach > 0 {
			all = append(all, s)
		}
	}
	slices.SortFunc(all, func(a, b hubKillSeen) int { return cmp.Compare(a.reach, b.reach) })
	leaves := slices.DeleteFunc(slices.Clone(all), func(s hubKillSeen) bool { return !s.leafOfDead })
	others := slices.DeleteFunc(slices.Clone(all), func(s hubKillSeen) bool { return s.leafOfDead })
	failed := func(s hubKillSeen) time.Duration { return s.failed }
	reach := func(s hubKillSeen) time.Duration { return s.reach }
	fmt.Fprintf(os.Stderr, "debug: hub kill: failed seen %s; sample answers %s\n", quantiles(all, failed), quantiles(all, reach))
	fmt.Fprintf(os.Stderr, "debug: hub kill: its %d leaves: loose %s, attached %s, failed seen %s, answers %s; the %d others: failed seen %s\n",
		len(leaves), quantiles(leaves, func(s hubKillSeen) time.Duration { return s.loose }), quantiles(leaves, func(s hubKillSeen) time.Duration { return s.attached }),
		quantiles(leaves, failed), quantiles(leaves, reach), len(others), quantiles(others, failed))
	var wrong []string
	for id, ats := range falsely {
		slices.Sort(ats)
		wrong = append(wrong, fmt.Sprintf("%s×%d@%dms", shortID(id), len(ats), ats[0].Milliseconds()))
	}
	fmt.Fprintf(os.Stderr, "debug: hub kill: became hubs %v; other peers reported failed (%d) %v\n", promoted, len(wrong), wrong[:min(12, len(wrong))])
	for _, s := range all[max(0, len(all)-3):] {
		fmt.Fprintf(os.Stderr, "debug: hub kill, slowest: %s (its leaf %v) failed@%dms reach@%dms %s\n", shortID(s.id), s.leafOfDead, s.failed.Milliseconds(), s.reach.Milliseconds(), strings.Join(s.changes, " "))
	}
}

// hubKillSeen is what one peer saw of a hub kill (debug).
type hubKillSeen struct {
	id              string
	leafOfDead      bool // attached to the killed hub before the kill
	loose, attached time.Duration
	failed, reach   time.Duration
	changes         []string
}

// quantiles formats the median, 90th percentile and maximum of get over ss.
func quantiles(ss []hubKillSeen, get func(hubKillSeen) time.Duration) string {
	ds := make([]time.Duration, 0, len(ss))
	for _, s := range ss {
		ds = append(ds, get(s))
	}
	slices.Sort(ds)
	if len(ds) == 0 {
		return "none"
	}
	return fmt.Sprintf("p50 %dms p90 %dms max %dms", ds[len(ds)/2].Milliseconds(), ds[len(ds)*9/10].Milliseconds(), ds[len(ds)-1].Milliseconds())
}

// shortID returns a peer's host and port, for reading (debug).
func shortID(id string) string {
	a, err := peer.ID(id).Decode()
	if err != nil {
		return id
	}
	return strings.TrimPrefix(net.JoinHostPort(a.Host, strconv.Itoa(a.Port)), "127.88.")
}

// printUnreach prints the pairs the peers could not reach (debug).
func (nw *scaleNet) printUnreach() {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	for _, c := range nw.cs {
		for _, f := range nw.lines[c] {
			if f[0] == "debug-unreach" {
				fmt.Fprintln(os.Stderr, "unreach from", c.ready[0], f[1:])
			}
		}
	}
}

// runScaleCommand parses the scale flags, measures and prints the table.
func runScaleCommand(ctx context.Context, f scaleFlags, port int, profile string, stdout, stderr io.Writer) error {
	o := scaleOptions{idle: f.idle, port: port, profile: profile, profileFor: f.profileFor, profileAt: f.profileAt}
	for _, s := range strings.Split(f.sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 10 || n > 1000 {
			return fmt.Errorf("-scale %q: want sizes of 10..1000 peers, comma-separated", f.sizes)
		}
		o.sizes = append(o.sizes, n)
	}
	switch f.topology {
	case "both":
		o.topologies = []bool{true, false}
	case "hubs", "nohub":
		o.topologies = []bool{f.topology == "hubs"}
	default:
		return fmt.Errorf("-scale-topology %q: want hubs, nohub or both", f.topology)
	}
	base, idle := f.base, f.idle
	if base < 1 || base > 254 {
		return fmt.Errorf("-scale-base %d: want 1..254", base)
	}
	if idle < time.Second || idle > 10*time.Minute {
		return fmt.Errorf("-scale-idle %s: want 1s..10m", idle)
	}
	o.base = [2]byte{byte(base), 1}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	samples, err := runScale(ctx, exe, o, stderr)
	printScale(stdout, samples)
	return err
}

// printScale writes the scale table.
func printScale(w io.Writer, samples []scaleSample) {
	fmt.Fprintln(w, "| peers (hosts) | topology | whole after last start | idle CPU, all | msgs/s/peer | RSS median, non-hub / hub | USS median, non-hub | s2s conns, non-hub max | hubs | join p50 / max | leave | kill -9 | hub kill -9 | Refresh (peers) / raw gather | pairs callable |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, s := range samples {
		joins := slices.Clone(s.join)
		slices.Sort(joins)
		var p50, mx time.Duration
		if len(joins) > 0 {
			p50, mx = joins[len(joins)/2], joins[len(joins)-1]
		}
		fmt.Fprintf(w, "| %d (%d) | %s | %s | %.3f core | %.2f | %.1f / %.1f MB | %.1f MB | %d | %d | %s / %s | %s | %s | %s | %s (%d) / %s | %d of %d |\n",
			s.peers, s.hosts, s.topology, msd(s.whole), s.idleCPU, s.msgsPerPeer, s.rssMedian, s.rssHub, s.ussMedian, s.s2sMax, s.hubs,
			msd(p50), msd(mx), msd(s.leave), msd(s.kill), msd(s.hubKill), msd(s.refresh), s.refreshPeers, msd(s.rawGather), s.pairOK, s.pairs)
	}
}

func msd(d time.Duration) string {
	if d < 10*time.Millisecond {
		return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
	}
	return fmt.Sprintf("%d ms", d.Milliseconds())
}

// diagMissing asks diagSample of the peers that did not say what was
// waited for what their servers hear; when APPNET_BENCH_DEBUG is set, it
// prints every line of (at most 5 of) them, and asks them all, and every
// peer that was ever a hub.
func (nw *scaleNet) diagMissing(missing []*child) {
	if os.Getenv("APPNET_BENCH_DEBUG") == "" {
		// Without debug output, a sample: a network that never became
		// whole is rare, and what its servers hear is the first question.
		nw.printDiag(missing[:min(diagSample, len(missing))])
		return
	}
	nw.mu.Lock()
	sig := slices.Clone(missing)
	for _, c := range nw.cs {
		if slices.ContainsFunc(nw.lines[c], func(f []string) bool { return f[0] == "debug" && slices.Contains(f, "hub") }) {
			sig = append(sig, c)
		}
	}
	for i, c := range missing[:min(5, len(missing))] {
		for _, f := range nw.lines[c] {
			fmt.Fprintln(os.Stderr, "debug: missing", i, strings.Join(f, " "))
		}
	}
	nw.mu.Unlock()
	nw.printDiag(sig)
}

// diagSample is how many of the peers that did not say it a failed wait
// asks what their servers hear, without debug output.
const diagSample = 8

// diagUnreached asks every peer that a sample could not reach, and one
// that reached everything, to say what its server is attached to.
func (nw *scaleNet) diagUnreached() {
	nw.mu.Lock()
	targets := map[string]bool{}
	for _, c := range nw.cs {
		for _, f := range nw.lines[c] {
			if f[0] == "debug-unreach" {
				targets[f[1]] = true
			}
		}
	}
	var sig []*child
	for _, c := range nw.cs {
		asker := false
		for _, f := range nw.lines[c] {
			if f[0] == "debug-unreach" {
				fmt.Fprintln(os.Stderr, "debug: unreached from", c.ready[0], f[1:])
				asker = true
				break
			}
		}
		if targets[c.ready[0]] || asker {
			sig = append(sig, c)
		}
	}
	if len(sig) > 0 {
		sig = append(sig, nw.cs[len(nw.cs)-1])
		for _, c := range nw.cs {
			if slices.ContainsFunc(nw.lines[c], func(f []string) bool { return f[0] == "debug" && slices.Contains(f, "hub") }) {
				sig = append(sig, c) // a hub once
			}
		}
	}
	nw.mu.Unlock()
	nw.printDiag(sig)
}

// printDiag asks each of cs what its server is attached to, and prints
// the answers.
func (nw *scaleNet) printDiag(cs []*child) {
	sig := cs
	for _, c := range sig {
		_ = c.cmd.Process.Signal(syscall.SIGWINCH)
	}
	if len(sig) == 0 {
		return
	}
	time.Sleep(time.Second)
	nw.mu.Lock()
	defer nw.mu.Unlock()
	for _, c := range sig {
		for _, f := range nw.lines[c] {
			if f[0] == "diag" {
				fmt.Fprintln(os.Stderr, "debug: diag", strings.Join(f[1:], " "))
			}
		}
	}
}

// debugStart prints what the start of the network cost: the CPU of all
// peers, the peers that could not be reached, and each view's growth.
func (nw *scaleNet) debugStart(lastFork, whole time.Time) {
	cpu, _ := nw.cpu()
	fmt.Fprintf(os.Stderr, "debug: CPU of all peers until whole: %s (first fork to whole: %s)\n", cpu, whole.Sub(nw.cs[0].started))
	nw.diagUnreached()
	nw.timeline(lastFork)
	nw.lateJoiners(lastFork)
}

// lateBy counts the peers that saw id join within 100 ms of the last that
// did, by the hub they were attached to then (nw.mu held).
func (nw *scaleNet) lateBy(id string, last time.Time) map[string]int {
	by := map[string]int{}
	for _, c := range nw.cs {
		hub := "?"
		for _, f := range nw.lines[c] {
			ns, _ := strconv.ParseInt(f[len(f)-1], 10, 64)
			if f[0] == "debug-conn" && len(f) == 5 && time.Unix(0, ns).Before(last) {
				hub = shortID(f[1])
			}
			if f[0] == "debug" && f[1] == "joined" && f[2] == id && last.Sub(time.Unix(0, ns)) < 100*time.Millisecond {
				by[hub]++
			}
		}
	}
	return by
}

// lateJoiners prints the three peers the last views learned of last:
// when the last view took each in, and its own timeline.
func (nw *scaleNet) lateJoiners(t0 time.Time) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	seen := map[string]time.Time{}
	for _, c := range nw.cs {
		for _, f := range nw.lines[c] {
			if f[0] == "debug" && f[1] == "joined" {
				ns, _ := strconv.ParseInt(f[len(f)-1], 10, 64)
				if t := time.Unix(0, ns); t.After(seen[f[2]]) {
					seen[f[2]] = t
				}
			}
		}
	}
	ids := slices.Collect(maps.Keys(seen))
	slices.SortFunc(ids, func(a, b string) int { return seen[b].Compare(seen[a]) })
	for _, id := range ids[:min(3, len(ids))] {
		i := slices.IndexFunc(nw.cs, func(c *child) bool { return c.ready[0] == id })
		fmt.Fprintf(os.Stderr, "debug: late joiner %s (child %d) seen by all @%dms; late by hub: %v\n", shortID(id), i, seen[id].Sub(t0).Milliseconds(), nw.lateBy(id, seen[id]))
	}
}
