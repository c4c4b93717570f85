package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"text/tabwriter"
)

// The call scenarios: a remote call between two processes, appnet and raw
// nats.go over several topologies (topologies.go), measured side by side
// in turns.

// Port offsets from -port.
const (
	peerPortRange    = 5  // peers: port..port+5
	standaloneOffset = 10 // raw standalone server
	directOffset     = 12 // raw direct: the responder's server
	deployOffset     = 14 // appnet on a deployment: its server; the two peers hold ports of the next 5
	routedOffset     = 20 // raw routed: the child's server; the bench's is the next port
	routedInOffset   = 22 // the same, in-process clients
	secretOffset     = 30 // appnet with NET_SECRET: port+30..port+35
	portSpan         = secretOffset + peerPortRange
)

// callResults holds the samples of the call scenarios, one per repetition.
type callResults struct {
	seq, conc map[scenario][]sample
	idleRSS   []int64 // of the responder peer before any caller joined
	loadRSS   []int64 // of the same peer after the calls
}

// callRounds is how many turns each call topology takes: its calls are
// made in that many blocks, between blocks of the other topologies, so
// that a slow minute of this shared machine slows every topology alike.
const callRounds = 10

// A topology is one call scenario, set up and ready to measure.
type topology struct {
	sc   scenario
	call callFunc
	pids []int // every process it involves, this one included
}

// runCalls sets up every call scenario of scs at once, then measures them
// in turns: o.n sequential calls each, in callRounds blocks taken round
// robin, then the same with o.callers callers. Its processes stop on every
// path.
func runCalls(ctx context.Context, exe string, o options, scs []scenario, rep int, res *callResults) error {
	var cs children
	defer cs.stopAll()
	var closers []func()
	defer func() {
		for _, c := range slices.Backward(closers) {
			c()
		}
	}()
	tops, shared, err := setupTopologies(ctx, exe, o, scs, rep, res, &cs, &closers)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	for _, callers := range []int{1, o.callers} {
		if err := measureInTurns(ctx, o, cs, tops, callers, res); err != nil {
			return err
		}
	}
	if shared != nil {
		if rss, err := readRSS(shared.childPID); err == nil {
			res.loadRSS = append(res.loadRSS, rss)
		}
	}
	return nil
}

// setupTopologies sets up every call scenario of scs, in order; closers
// gets what closes them, cs their children. The appnet and
// appnet-nodeadline scenarios share one setup, returned too.
func setupTopologies(ctx context.Context, exe string, o options, scs []scenario, rep int, res *callResults, cs *children, closers *[]func()) ([]topology, *appnetSetup, error) {
	var (
		tops   []topology
		shared *appnetSetup
	)
	for _, sc := range scs {
		// Children write a CPU profile each when -cpuprofile is set.
		var profile []string
		if o.cpuprofile != "" {
			profile = []string{"-cpuprofile", filepath.Join(o.cpuprofile, fmt.Sprintf("%s-rep%d-child.pprof", sc.key, rep+1))}
		}
		n := len(*cs)
		call, closeFn, err := setupTopology(ctx, exe, o, sc, res, profile, cs, &shared)
		if closeFn != nil {
			*closers = append(*closers, closeFn)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", sc.title, err)
		}
		pids := append([]int{os.Getpid()}, (*cs)[n:].pids()...)
		if shared != nil && (sc == appnetCall || sc == appnetNoDeadline) {
			pids = shared.pids
		}
		tops = append(tops, topology{sc: sc, call: call, pids: pids})
	}
	return tops, shared, nil
}

// setupTopology sets up the call scenario sc; shared holds the setup of
// appnet and appnet-nodeadline once either made it.
func setupTopology(ctx context.Context, exe string, o options, sc scenario, res *callResults, profile []string, cs *children, shared **appnetSetup) (callFunc, func(), error) {
	switch sc {
	case rawStandalone:
		return setupRawStandalone(ctx, exe, o, cs, o.port+standaloneOffset, false, profile)
	case rawDirect:
		return setupRawStandalone(ctx, exe, o, cs, o.port+directOffset, true, profile)
	case rawRoutedTCP:
		return setupRawRouted(ctx, exe, o, cs, false, profile)
	case rawRoutedIn:
		return setupRawRouted(ctx, exe, o, cs, true, profile)
	case appnetCall, appnetNoDeadline:
		var closeFn func()
		if *shared == nil { // the other of the two set it up
			n := len(*cs)
			a, err := setupAppnet(ctx, exe, o, cs, res, profile, o.port, "")
			if err != nil {
				return nil, nil, err
			}
			a.pids = append([]int{os.Getpid()}, (*cs)[n:].pids()...)
			*shared, closeFn = a, a.close
		}
		call, err := (*shared).caller(ctx, sc == appnetCall)
		return call, closeFn, err
	case appnetSecret:
		a, err := setupAppnet(ctx, exe, o, cs, nil, profile, o.port+secretOffset, benchSecret)
		return callerOf(ctx, a, err)
	case appnetDeploy:
		a, err := setupAppnetDeployment(ctx, exe, o, cs, profile)
		return callerOf(ctx, a, err)
	}
	return nil, nil, fmt.Errorf("unknown scenario %q", sc.key)
}

// measureInTurns measures every topology with callers callers: a warm-up
// each, then o.n calls each in callRounds blocks, taken round robin.
func measureInTurns(ctx context.Context, o options, cs children, tops []topology, callers int, res *callResults) error {
	for _, t := range tops {
		if err := warmUp(ctx, t.call, max(200, o.n/10), callers); err != nil {
			return cs.explain(fmt.Errorf("%s: warm-up with %d callers: %w", t.sc.title, callers, err))
		}
	}
	blocks := make([][]block, len(tops))
	size := max(1, o.n/callRounds)
	for round := range callRounds {
		for i := range tops {
			i := (round + i) % len(tops)
			b, err := measureBlock(ctx, tops[i].call, size, callers, tops[i].pids)
			if err != nil {
				return cs.explain(fmt.Errorf("%s, %d callers: %w", tops[i].sc.title, callers, err))
			}
			blocks[i] = append(blocks[i], b)
		}
	}
	into := res.seq
	if callers > 1 {
		into = res.conc
	}
	for i, t := range tops {
		into[t.sc] = append(into[t.sc], summarize(blocks[i]...))
	}
	return nil
}

// printCalls prints the table and the targets of the call scenarios.
func printCalls(w io.Writer, o options, r *callResults, calls []scenario) {
	fmt.Fprintln(w)
	printCallTable(w, o, r, calls)
	idle := statOf(bytesToMB(r.idleRSS))
	if len(r.idleRSS) > 0 {
		load := statOf(bytesToMB(r.loadRSS))
		fmt.Fprintf(w, "\nRSS of one peer process (VmRSS): idle %s MB, after the calls %s MB; Python %.1f MB\n",
			fmtStat(idle, "%.1f"), fmtStat(load, "%.1f"), pythonIdleRSS)
	}
	fmt.Fprintln(w, "\ntargets (ratios: median [min..max] of the per-rep ratios, each rep's topologies measured in turns of 1/10 of their calls)")
	t := newTargetTable(w)
	callTargets(t, o, r)
	callContext(t, o, r)
	t.flush()
}

// printCallTable prints a row per call scenario, and Python's.
func printCallTable(w io.Writer, o options, r *callResults, calls []scenario) {
	python := "Python app-net 0.6.2 (ANCHORS.md; 8 threads)"
	width := len(python)
	for _, sc := range calls {
		width = max(width, len(sc.title))
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-*s\tseq p50 us\tseq p99 us\tseq calls/s\tseq CPU us/call\t%d-conc p50 us\t%d-conc p99 us\t%d-conc calls/s\t%d-conc CPU us/call\t\n",
		width, "topology", o.callers, o.callers, o.callers, o.callers)
	for _, sc := range calls {
		fmt.Fprintf(tw, "%-*s\t%s\t%s\t\n", width, sc.title, sampleColumns(r.seq[sc], true), sampleColumns(r.conc[sc], true))
	}
	fmt.Fprintf(tw, "%-*s\t%.0f\t%.0f\t%.0f\t-\t-\t-\t%.0f\t-\t\n", width, python,
		us(pythonSeqP50), us(pythonSeqP99), pythonSeqRate, pythonConc8)
	tw.Flush()
}

// callTargets adds the rows of the call targets.
func callTargets(t targetTable, o options, r *callResults) {
	app := appnetCall
	t.row("appnet seq p50 / raw standalone seq p50", ratioOf(r.seq[app], r.seq[rawStandalone], p50Of), "%.2f",
		fmt.Sprintf("<= %.2f", targetVsStandalone), func(v float64) bool { return v <= targetVsStandalone })
	t.row("Python seq p50 / appnet seq p50 (x faster)", scaled(r.seq[app], p50Of, func(v float64) float64 { return us(pythonSeqP50) / v }), "%.1f",
		fmt.Sprintf(">= %.0f", targetVsPythonP50), func(v float64) bool { return v >= targetVsPythonP50 })
	t.row(fmt.Sprintf("appnet %d-conc calls/s / raw routed (TCP)", o.callers), ratioOf(r.conc[app], r.conc[rawRoutedTCP], rateOf), "%.2f",
		fmt.Sprintf(">= %.0f", targetVsRoutedConc), func(v float64) bool { return v >= targetVsRoutedConc })
	t.row(fmt.Sprintf("appnet %d-conc calls/s / Python 8 threads", o.callers), scaled(r.conc[app], rateOf, func(v float64) float64 { return v / pythonConc8 }), "%.1f",
		fmt.Sprintf(">= %.0f", targetVsPythonConc), func(v float64) bool { return v >= targetVsPythonConc })
	t.row("idle RSS of a peer process, MB", bytesToMB(r.idleRSS), "%.1f",
		fmt.Sprintf("<= %.0f", targetRSS), func(v float64) bool { return v <= targetRSS })
}

// callContext adds the rows that compare the call topologies.
func callContext(t targetTable, o options, r *callResults) {
	app, c := appnetCall, o.callers
	ratio := func(what string, a, b []sample, f func(sample) float64) {
		t.row("(context) "+what, ratioOf(a, b, f), "%.2f", "", nil)
	}
	ratio("appnet seq p50 / raw routed in-process seq p50", r.seq[app], r.seq[rawRoutedIn], p50Of)
	ratio("raw direct seq p50 / raw standalone seq p50", r.seq[rawDirect], r.seq[rawStandalone], p50Of)
	ratio("appnet seq p50 / raw direct seq p50 (the same TCP hop)", r.seq[app], r.seq[rawDirect], p50Of)
	ratio(fmt.Sprintf("appnet %d-conc calls/s / raw direct", c), r.conc[app], r.conc[rawDirect], rateOf)
	ratio(fmt.Sprintf("appnet %d-conc calls/s / raw routed in-process", c), r.conc[app], r.conc[rawRoutedIn], rateOf)
	ratio("appnet without deadline seq p50 / appnet with deadline (no Net-Timeout header)", r.seq[appnetNoDeadline], r.seq[app], p50Of)
	ratio(fmt.Sprintf("appnet without deadline %d-conc calls/s / appnet with deadline", c), r.conc[appnetNoDeadline], r.conc[app], rateOf)
	ratio("appnet without deadline seq p50 / raw direct seq p50", r.seq[appnetNoDeadline], r.seq[rawDirect], p50Of)
	ratio(fmt.Sprintf("appnet without deadline %d-conc calls/s / raw direct", c), r.conc[appnetNoDeadline], r.conc[rawDirect], rateOf)
	ratio("appnet with NET_SECRET seq p50 / appnet without", r.seq[appnetSecret], r.seq[app], p50Of)
	ratio(fmt.Sprintf("appnet with NET_SECRET %d-conc calls/s / appnet without", c), r.conc[appnetSecret], r.conc[app], rateOf)
	ratio("appnet on a deployment seq p50 / raw standalone (the same topology)", r.seq[appnetDeploy], r.seq[rawStandalone], p50Of)
	ratio(fmt.Sprintf("appnet on a deployment %d-conc calls/s / raw standalone", c), r.conc[appnetDeploy], r.conc[rawStandalone], rateOf)
}
