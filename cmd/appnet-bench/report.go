package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"
)

// The report: its header, then a section per kind of scenario (each
// printed by its scenario's file), with these helpers.

// printReport prints the header and every section the run measured.
func printReport(w io.Writer, o options, r *results) {
	fmt.Fprintf(w, "\nappnet-bench: %d-byte JSON argument, %d calls per measurement, %d concurrent callers, %d reps\n",
		len(payload), o.n, o.callers, o.reps)
	fmt.Fprintf(w, "machine: %s, %d CPUs, GOMAXPROCS %d, %s %s/%s, %s, host %s\n",
		cpuModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH, buildMode(), o.host)
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
		printCalls(w, o, &r.calls, calls)
	}
	if selected(o, meshScenario) || selected(o, joinScenario) || selected(o, memoryScenario) ||
		selected(o, discoveryHost) || selected(o, discoveryNet) {
		printDiscovery(w, o, r)
	}
	if selected(o, eventsScenario) {
		printEvents(w, o, r.events)
	}
	if selected(o, groupScenario) {
		printGroup(w, o, r.group)
	}
}

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

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func p50Of(s sample) float64  { return us(s.p50) }
func p99Of(s sample) float64  { return us(s.p99) }
func rateOf(s sample) float64 { return s.rate }
func cpuOf(s sample) float64  { return us(s.cpu) }

// sampleColumns returns the cells p50 us, p99 us, calls/s and, with cpu,
// CPU us/call of samples, tab-separated.
func sampleColumns(ss []sample, cpu bool) string {
	cells := []string{
		fmtStat(collect(ss, p50Of), "%.1f"),
		fmtStat(collect(ss, p99Of), "%.0f"),
		fmtStat(collect(ss, rateOf), "%.0f"),
	}
	if cpu {
		cells = append(cells, fmtStat(collect(ss, cpuOf), "%.0f"))
	}
	return strings.Join(cells, "\t")
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

// buildMode says how this binary was linked, which moves every RSS figure:
// a cgo build maps the C library and runs its threads through it, about
// 2 MB more per process than a static (CGO_ENABLED=0) build.
func buildMode() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "build unknown"
	}
	for _, s := range info.Settings {
		if s.Key == "CGO_ENABLED" {
			if s.Value == "1" {
				return "cgo build"
			}
			return "static build (CGO_ENABLED=0)"
		}
	}
	return "build unknown"
}
