package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Targets of the scenarios beyond the calls, and the anchors they are
// read against (ANCHORS.md).
const (
	targetMesh        = 2 * time.Second       // 10 peers started at one instant: one cluster within
	targetJoin        = 50 * time.Millisecond // fork to a joining peer serving and meshed
	targetPeerStart   = 100 * time.Millisecond
	targetHostRefresh = 2 * time.Millisecond
	targetCached      = 100 * time.Microsecond
	targetNetFirst    = time.Second
	targetNetRefresh  = 20 * time.Millisecond
	// Events: appnet against raw nats.go publishing on appnet's very
	// subject without headers (the same wire), to one and to four
	// subscribers, and the aim against raw plain pub/sub.
	targetEventsVsWire1 = 0.85
	targetEventsVsWire4 = 0.8
	aimEventsVsRaw      = 0.6
	pythonHostRefresh5  = 3700 * time.Microsecond // peers(on_host=True, refresh=True), 5 peers
	anchorProcessReady  = 8100 * time.Microsecond // raw nats-server: process start to ready
	anchorEvents1Routed = 820000.0                // raw pub/sub, 1 subscriber, routed
	anchorEvents4Routed = 257000.0                // each of 4
)

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// durs maps durations through f.
func durs(xs []time.Duration, f func(time.Duration) float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

func intsF(xs []int) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = float64(x)
	}
	return out
}

// targetTable collects rows of measure, value, target, met.
type targetTable struct{ tw *tabwriter.Writer }

func newTargetTable(w io.Writer) targetTable {
	t := targetTable{tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	fmt.Fprintln(t.tw, "measure\tvalue\ttarget\tmet\t")
	return t
}

// row prints xs' median [min..max]; met judges the median, or is left
// empty when ok is nil.
func (t targetTable) row(what string, xs []float64, format, target string, ok func(float64) bool) {
	if len(xs) == 0 {
		fmt.Fprintf(t.tw, "%s\t-\t%s\t-\t\n", what, target)
		return
	}
	s := statOf(xs)
	met := ""
	if ok != nil {
		met = yesNo(ok(s.med))
	}
	fmt.Fprintf(t.tw, "%s\t%s\t%s\t%s\t\n", what, fmtStat(s, format), target, met)
}

func (t targetTable) flush() { t.tw.Flush() }

func selected(o options, sc scenario) bool { return slices.Contains(o.scenarios, sc) }

// printExtra prints the sections of the scenarios beyond the calls.
func printExtra(w io.Writer, o options, r *results) {
	x := &r.extra
	if selected(o, meshScenario) || selected(o, joinScenario) || selected(o, memoryScenario) ||
		selected(o, discoveryHost) || selected(o, discoveryNet) {
		printDiscovery(w, o, x)
	}
	if selected(o, eventsScenario) {
		printEvents(w, o, x)
	}
	if selected(o, groupScenario) {
		printGroup(w, o, x)
	}
}

func printDiscovery(w io.Writer, o options, x *extraResults) {
	interval := "the library default"
	if o.meshInterval > 0 {
		interval = o.meshInterval.String()
	}
	fmt.Fprintf(w, "\ndiscovery, mesh and memory (median [min..max] over the reps; join: over %d joins per rep)\n", joinsPerRep)
	t := newTargetTable(w)
	if selected(o, meshScenario) {
		var formed, ready, tcp, newDur []float64
		var names, perPeer []int
		for _, s := range x.mesh {
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
		t.row("mesh: routes per peer (info.Routes)", intsF(names), "%.0f", fmt.Sprintf("%d", meshPeers-1), func(v float64) bool { return v == meshPeers-1 })
		t.row("mesh: route TCP connections in all (/proc)", tcp, "%.0f", "", nil)
		t.row("mesh: route TCP connections per peer process (/proc)", intsF(perPeer), "%.0f", "", nil)
	}
	if selected(o, joinScenario) {
		t.row("join: fork to bus.New returned (serving, meshed with the running peer), ms", durs(x.join, ms), "%.1f",
			fmt.Sprintf("<= %.0f", ms(targetJoin)), func(v float64) bool { return v <= ms(targetJoin) })
		t.row("(context) join: fork to the child's main package initialised, ms", durs(x.joinExec, ms), "%.1f", "", nil)
		t.row("(context) join: bus.New alone, ms", durs(x.joinNew, ms), "%.1f", "", nil)
		t.row("(context) join: fork to a call through the running peer's server answered, ms", durs(x.joinCall, ms), "%.1f", "", nil)
		t.row(fmt.Sprintf("(context) a peer alone on its host: fork to bus.New returned, ms (raw nats-server process: %.1f)", ms(anchorProcessReady)),
			durs(x.lone, ms), "%.1f", "", nil)
		t.row("peer.Start to ready, in this process, ms", durs(x.peerStart, ms), "%.2f",
			fmt.Sprintf("< %.0f", ms(targetPeerStart)), func(v float64) bool { return v < ms(targetPeerStart) })
	}
	if selected(o, memoryScenario) {
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
	if n := infoRetries.Load(); n > 0 {
		fmt.Fprintf(t.tw, "(context) mesh, memory: info calls through the cluster that found no responder at first, after every peer had reached every other\t%d (longest wait %.0f ms)\t\t\t\n",
			n, ms(time.Duration(infoRetryWait.Load())))
	}
	if selected(o, discoveryHost) {
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
	if selected(o, discoveryNet) {
		t.row("/27 scan, 10 peers on 5 hosts + a silent listener: first scan, ms", durs(x.netFirst, ms), "%.0f",
			fmt.Sprintf("< %.0f", ms(targetNetFirst)), func(v float64) bool { return v < ms(targetNetFirst) })
		t.row("/27: peers the first scan found", intsF(x.netFound), "%.0f", "10", func(v float64) bool { return v == 10 })
		t.row("/27: refresh once meshed, p50 ms", lats(x.netRefresh, func(l latencies) float64 { return ms(l.p50) }), "%.2f",
			fmt.Sprintf("< %.0f", ms(targetNetRefresh)), func(v float64) bool { return v < ms(targetNetRefresh) })
		t.row("/27: refresh once meshed, p99 ms", lats(x.netRefresh, func(l latencies) float64 { return ms(l.p99) }), "%.2f", "", nil)
	}
	t.flush()
}

func lats(ls []latencies, f func(latencies) float64) []float64 {
	out := make([]float64, len(ls))
	for i, l := range ls {
		out[i] = f(l)
	}
	return out
}

// eventsMean is the mean per-subscriber rate of a run; eventsMin the
// slowest subscriber's.
func eventsMean(s eventsSample) float64 {
	if len(s.perSub) == 0 {
		return 0
	}
	var sum float64
	for _, v := range s.perSub {
		sum += v
	}
	return sum / float64(len(s.perSub))
}

func eventsMin(s eventsSample) float64 { return slices.Min(s.perSub) }

func printEvents(w io.Writer, o options, x *extraResults) {
	fmt.Fprintf(w, "\nevents: %d events of %d bytes (a JSON string) from one emitter, rate measured at each subscriber from its first to its last event (median [min..max] over the reps)\n",
		o.events, len(eventValue)+2)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "emitter -> subscribers\tsubscribers\tevents/s per subscriber (mean)\tslowest subscriber\temit loop events/s\tall received\t")
	title := map[string]string{
		eventsRawTCP:  "raw nats.go, routed servers, TCP clients",
		eventsRawIn:   "raw nats.go, routed servers, in-process clients",
		eventsRawSubj: "  the same, on appnet's event subject",
		eventsRawHdr:  "  the same, with the two optional headers",
		eventsAppnet:  "appnet bus.Event -> events.Subscribe",
	}
	for _, subs := range eventsSubscribers {
		for _, kind := range eventsKinds {
			ss := x.events[eventsKey{kind, subs}]
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t\n", title[kind], subs,
				fmtStat(statOf(mapEvents(ss, eventsMean)), "%.0f"),
				fmtStat(statOf(mapEvents(ss, eventsMin)), "%.0f"),
				fmtStat(statOf(mapEvents(ss, func(s eventsSample) float64 { return s.emitRate })), "%.0f"),
				allReceived(ss, o.events))
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "anchors (ANCHORS.md, raw routed): %.0f/s to one subscriber, %.0f/s each to four\n", anchorEvents1Routed, anchorEvents4Routed)
	t := newTargetTable(w)
	for _, subs := range eventsSubscribers {
		app := x.events[eventsKey{eventsAppnet, subs}]
		wire := targetEventsVsWire1
		if subs > 1 {
			wire = targetEventsVsWire4
		}
		t.row(fmt.Sprintf("appnet / raw on appnet's subject, no headers (the same wire), %d subscriber(s)", subs),
			eventsRatio(app, x.events[eventsKey{eventsRawSubj, subs}]), "%.2f",
			fmt.Sprintf(">= %.2f", wire), func(v float64) bool { return v >= wire })
		t.row(fmt.Sprintf("appnet / raw in-process (same topology, plain subject), %d subscriber(s)", subs),
			eventsRatio(app, x.events[eventsKey{eventsRawIn, subs}]), "%.2f",
			fmt.Sprintf(">= %.1f (aim)", aimEventsVsRaw), func(v float64) bool { return v >= aimEventsVsRaw })
		t.row(fmt.Sprintf("(context) raw on appnet's subject / raw in-process, %d subscriber(s)", subs),
			eventsRatio(x.events[eventsKey{eventsRawSubj, subs}], x.events[eventsKey{eventsRawIn, subs}]), "%.2f", "", nil)
		t.row(fmt.Sprintf("(context) raw on appnet's subject with the two headers / without, %d subscriber(s)", subs),
			eventsRatio(x.events[eventsKey{eventsRawHdr, subs}], x.events[eventsKey{eventsRawSubj, subs}]), "%.2f", "", nil)
		t.row(fmt.Sprintf("(context) appnet / raw TCP clients, %d subscriber(s)", subs),
			eventsRatio(app, x.events[eventsKey{eventsRawTCP, subs}]), "%.2f", "", nil)
	}
	t.flush()
}

func mapEvents(ss []eventsSample, f func(eventsSample) float64) []float64 {
	out := make([]float64, len(ss))
	for i, s := range ss {
		out[i] = f(s)
	}
	return out
}

// eventsRatio pairs the runs of one repetition.
func eventsRatio(a, b []eventsSample) []float64 {
	out := make([]float64, min(len(a), len(b)))
	for i := range out {
		out[i] = eventsMean(a[i]) / eventsMean(b[i])
	}
	return out
}

// allReceived says whether every subscriber of every run got every event.
func allReceived(ss []eventsSample, n int) string {
	if len(ss) == 0 {
		return "-"
	}
	var short []string
	var dropped, errs int64
	for _, s := range ss {
		for _, got := range s.received {
			if got != int64(n) {
				short = append(short, fmt.Sprint(got))
			}
		}
		dropped += s.dropped
		errs += s.errs
	}
	if len(short) == 0 && dropped == 0 && errs == 0 {
		return "yes"
	}
	return fmt.Sprintf("NO: short runs got %s; %d dropped, %d errors", strings.Join(short, ","), dropped, errs)
}

func printGroup(w io.Writer, o options, x *extraResults) {
	fmt.Fprintf(w, "\ngroup calls (%d-byte argument): a group of 3 responder processes, %d calls sequential then from %d callers; scatter-gather over 5, %d calls (median [min..max] over the reps)\n",
		len(payload), o.n, groupCallers, o.gather)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "topology\tgroup seq p50 us\tgroup seq p99 us\tgroup seq calls/s\t%d-conc p50 us\t%d-conc p99 us\t%d-conc calls/s\t%d-conc CPU us/call\tgather-5 p50 us\tgather-5 p99 us\t\n",
		groupCallers, groupCallers, groupCallers, groupCallers)
	for _, k := range []struct{ title, seq, conc, all string }{
		{"raw nats.go (queue group; 5 replies on one inbox), in-process clients of routed servers", groupRawSeq, groupRawConc, groupRawAll},
		{"appnet (CallGroup; CallAll expecting 5)", groupAppnetSeq, groupAppnetConc, groupAppnetAll},
	} {
		seq, conc, all := x.group[k.seq], x.group[k.conc], x.group[k.all]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", k.title,
			fmtStat(collect(seq, func(s sample) float64 { return us(s.p50) }), "%.1f"),
			fmtStat(collect(seq, func(s sample) float64 { return us(s.p99) }), "%.0f"),
			fmtStat(collect(seq, func(s sample) float64 { return s.rate }), "%.0f"),
			fmtStat(collect(conc, func(s sample) float64 { return us(s.p50) }), "%.1f"),
			fmtStat(collect(conc, func(s sample) float64 { return us(s.p99) }), "%.0f"),
			fmtStat(collect(conc, func(s sample) float64 { return s.rate }), "%.0f"),
			fmtStat(collect(conc, func(s sample) float64 { return us(s.cpu) }), "%.0f"),
			fmtStat(collect(all, func(s sample) float64 { return us(s.p50) }), "%.1f"),
			fmtStat(collect(all, func(s sample) float64 { return us(s.p99) }), "%.0f"))
	}
	tw.Flush()
	p50 := func(s sample) float64 { return us(s.p50) }
	rate := func(s sample) float64 { return s.rate }
	t := newTargetTable(w)
	t.row(fmt.Sprintf("appnet / raw: group call, %d-conc calls/s", groupCallers), ratioOf(x.group[groupAppnetConc], x.group[groupRawConc], rate), "%.2f", "", nil)
	t.row("appnet / raw: group call, seq p50", ratioOf(x.group[groupAppnetSeq], x.group[groupRawSeq], p50), "%.2f", "", nil)
	t.row("appnet / raw: scatter-gather over 5, p50", ratioOf(x.group[groupAppnetAll], x.group[groupRawAll], p50), "%.2f", "", nil)
	t.row("appnet / raw: scatter-gather over 5, p99", ratioOf(x.group[groupAppnetAll], x.group[groupRawAll], func(s sample) float64 { return us(s.p99) }), "%.2f", "", nil)
	t.flush()
}
