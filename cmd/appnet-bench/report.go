package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// The Python original, app-net 0.6.2 on 127.0.0.1: the anchor figures of
// the project's ANCHORS.md.
const (
	pythonSeqP50  = 260 * time.Microsecond
	pythonSeqP99  = 494 * time.Microsecond
	pythonSeqRate = 3700.0
	pythonConc8   = 1740.0 // calls/s from 8 threads
	pythonIdleRSS = 16.6   // MB
)

// Targets.
const (
	targetVsStandalone = 0.75 // appnet seq p50 / raw standalone seq p50, at most
	targetVsPythonP50  = 3.0  // Python seq p50 / appnet seq p50, at least
	targetVsRoutedConc = 1.0  // appnet concurrent calls/s / raw routed, at least
	targetVsPythonConc = 15.0 // appnet concurrent calls/s / Python's, at least
	targetRSS          = 20.0 // MB, at most
)

const mb = 1e6

// stat is a median with its range over the repetitions.
type stat struct{ med, lo, hi float64 }

func statOf(xs []float64) stat {
	m, lo, hi := median(xs)
	return stat{m, lo, hi}
}

func collect(ss []sample, f func(sample) float64) stat {
	xs := make([]float64, len(ss))
	for i, s := range ss {
		xs[i] = f(s)
	}
	return statOf(xs)
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func printReport(w io.Writer, o options, r *results) {
	fmt.Fprintf(w, "\nappnet-bench: %d-byte JSON argument, %d calls per measurement, %d concurrent callers, %d reps\n",
		len(payload), o.n, o.callers, o.reps)
	fmt.Fprintf(w, "machine: %s, %d CPUs, GOMAXPROCS %d, %s %s/%s, host %s\n",
		cpuModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH, o.host)
	fmt.Fprintln(w, "figures: median [min..max] over the reps; CPU us/call: user+system CPU of every process involved, per call")
	other := "unknown"
	if r.otherCPU >= 0 {
		other = fmt.Sprintf("%.0f%%", 100*r.otherCPU)
	}
	fmt.Fprintf(w, "noise: run took %s; CPU busy outside this run's processes (other programs, uncharged kernel time): %s of the CPUs; load average %s before, %s after\n",
		r.wall.Round(time.Second), other, r.load0, r.load)
	var calls []scenario
	for _, sc := range o.scenarios {
		if isCall(sc) {
			calls = append(calls, sc)
		}
	}
	if len(calls) > 0 {
		printCalls(w, o, r, calls)
	}
	printExtra(w, o, r)
}

// printCalls prints the table and the targets of the call scenarios.
func printCalls(w io.Writer, o options, r *results, calls []scenario) {
	fmt.Fprintln(w)
	python := "Python app-net 0.6.2 (ANCHORS.md; 8 threads)"
	width := len(python)
	for _, sc := range calls {
		width = max(width, len(sc.title))
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-*s\tseq p50 us\tseq p99 us\tseq calls/s\tseq CPU us/call\t%d-conc p50 us\t%d-conc p99 us\t%d-conc calls/s\t%d-conc CPU us/call\t\n",
		width, "topology", o.callers, o.callers, o.callers, o.callers)
	for _, sc := range calls {
		seq, conc := r.seq[sc], r.conc[sc]
		fmt.Fprintf(tw, "%-*s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", width, sc.title,
			fmtStat(collect(seq, func(s sample) float64 { return us(s.p50) }), "%.1f"),
			fmtStat(collect(seq, func(s sample) float64 { return us(s.p99) }), "%.0f"),
			fmtStat(collect(seq, func(s sample) float64 { return s.rate }), "%.0f"),
			fmtStat(collect(seq, func(s sample) float64 { return us(s.cpu) }), "%.0f"),
			fmtStat(collect(conc, func(s sample) float64 { return us(s.p50) }), "%.1f"),
			fmtStat(collect(conc, func(s sample) float64 { return us(s.p99) }), "%.0f"),
			fmtStat(collect(conc, func(s sample) float64 { return s.rate }), "%.0f"),
			fmtStat(collect(conc, func(s sample) float64 { return us(s.cpu) }), "%.0f"))
	}
	fmt.Fprintf(tw, "%-*s\t%.0f\t%.0f\t%.0f\t-\t-\t-\t%.0f\t-\t\n", width, python,
		us(pythonSeqP50), us(pythonSeqP99), pythonSeqRate, pythonConc8)
	tw.Flush()

	idle := statOf(bytesToMB(r.idleRSS))
	if len(r.idleRSS) > 0 {
		load := statOf(bytesToMB(r.loadRSS))
		fmt.Fprintf(w, "\nRSS of one peer process (VmRSS): idle %s MB, after the calls %s MB; Python %.1f MB\n",
			fmtStat(idle, "%.1f"), fmtStat(load, "%.1f"), pythonIdleRSS)
	}

	p50 := func(s sample) float64 { return us(s.p50) }
	rate := func(s sample) float64 { return s.rate }
	app := appnetCall
	fmt.Fprintln(w, "\ntargets (ratios: median [min..max] of the per-rep ratios, each rep's topologies measured in turns of 1/10 of their calls)")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "measure\tvalue\ttarget\tmet\t")
	row := func(what string, xs []float64, format, target string, ok func(float64) bool) {
		if len(xs) == 0 {
			fmt.Fprintf(tw, "%s\t-\t%s\t-\t\n", what, target)
			return
		}
		s := statOf(xs)
		met := ""
		if ok != nil {
			met = yesNo(ok(s.med))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", what, fmtStat(s, format), target, met)
	}
	row("appnet seq p50 / raw standalone seq p50", ratioOf(r.seq[app], r.seq[rawStandalone], p50), "%.2f",
		fmt.Sprintf("<= %.2f", targetVsStandalone), func(v float64) bool { return v <= targetVsStandalone })
	row("Python seq p50 / appnet seq p50 (x faster)", scaled(r.seq[app], p50, func(v float64) float64 { return us(pythonSeqP50) / v }), "%.1f",
		fmt.Sprintf(">= %.0f", targetVsPythonP50), func(v float64) bool { return v >= targetVsPythonP50 })
	row(fmt.Sprintf("appnet %d-conc calls/s / raw routed (TCP)", o.callers), ratioOf(r.conc[app], r.conc[rawRoutedTCP], rate), "%.2f",
		fmt.Sprintf(">= %.0f", targetVsRoutedConc), func(v float64) bool { return v >= targetVsRoutedConc })
	row(fmt.Sprintf("appnet %d-conc calls/s / Python 8 threads", o.callers), scaled(r.conc[app], rate, func(v float64) float64 { return v / pythonConc8 }), "%.1f",
		fmt.Sprintf(">= %.0f", targetVsPythonConc), func(v float64) bool { return v >= targetVsPythonConc })
	row("idle RSS of a peer process, MB", bytesToMB(r.idleRSS), "%.1f",
		fmt.Sprintf("<= %.0f", targetRSS), func(v float64) bool { return v <= targetRSS })
	row("(context) appnet seq p50 / raw routed in-process seq p50", ratioOf(r.seq[app], r.seq[rawRoutedIn], p50), "%.2f", "", nil)
	row("(context) raw direct seq p50 / raw standalone seq p50", ratioOf(r.seq[rawDirect], r.seq[rawStandalone], p50), "%.2f", "", nil)
	row("(context) appnet seq p50 / raw direct seq p50 (the same TCP hop)", ratioOf(r.seq[app], r.seq[rawDirect], p50), "%.2f", "", nil)
	row(fmt.Sprintf("(context) appnet %d-conc calls/s / raw direct", o.callers), ratioOf(r.conc[app], r.conc[rawDirect], rate), "%.2f", "", nil)
	row(fmt.Sprintf("(context) appnet %d-conc calls/s / raw routed in-process", o.callers), ratioOf(r.conc[app], r.conc[rawRoutedIn], rate), "%.2f", "", nil)
	row("(context) appnet without deadline seq p50 / appnet with deadline (no Net-Timeout header)", ratioOf(r.seq[appnetNoDeadline], r.seq[app], p50), "%.2f", "", nil)
	row(fmt.Sprintf("(context) appnet without deadline %d-conc calls/s / appnet with deadline", o.callers), ratioOf(r.conc[appnetNoDeadline], r.conc[app], rate), "%.2f", "", nil)
	row("(context) appnet without deadline seq p50 / raw direct seq p50", ratioOf(r.seq[appnetNoDeadline], r.seq[rawDirect], p50), "%.2f", "", nil)
	row(fmt.Sprintf("(context) appnet without deadline %d-conc calls/s / raw direct", o.callers), ratioOf(r.conc[appnetNoDeadline], r.conc[rawDirect], rate), "%.2f", "", nil)
	row("(context) appnet with NET_SECRET seq p50 / appnet without", ratioOf(r.seq[appnetSecret], r.seq[app], p50), "%.2f", "", nil)
	row(fmt.Sprintf("(context) appnet with NET_SECRET %d-conc calls/s / appnet without", o.callers), ratioOf(r.conc[appnetSecret], r.conc[app], rate), "%.2f", "", nil)
	row("(context) appnet on a deployment seq p50 / raw standalone (the same topology)", ratioOf(r.seq[appnetDeploy], r.seq[rawStandalone], p50), "%.2f", "", nil)
	row(fmt.Sprintf("(context) appnet on a deployment %d-conc calls/s / raw standalone", o.callers), ratioOf(r.conc[appnetDeploy], r.conc[rawStandalone], rate), "%.2f", "", nil)
	tw.Flush()
}

// ratioOf returns f(a[i]) / f(b[i]) for each repetition i: each pair was
// measured in the same repetition.
func ratioOf(a, b []sample, f func(sample) float64) []float64 {
	out := make([]float64, min(len(a), len(b)))
	for i := range out {
		out[i] = f(a[i]) / f(b[i])
	}
	return out
}

// scaled returns g(f(a[i])) for each repetition i.
func scaled(a []sample, f func(sample) float64, g func(float64) float64) []float64 {
	out := make([]float64, len(a))
	for i := range a {
		out[i] = g(f(a[i]))
	}
	return out
}

func fmtStat(s stat, format string) string {
	if s.lo == 0 && s.hi == 0 {
		return "-"
	}
	if s.lo == s.hi {
		return fmt.Sprintf(format, s.med)
	}
	return fmt.Sprintf(format+" ["+format+".."+format+"]", s.med, s.lo, s.hi)
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}

func bytesToMB(xs []int64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = float64(x) / mb
	}
	return out
}

// cpuModel returns the model name of /proc/cpuinfo, or "unknown CPU".
func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
