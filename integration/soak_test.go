package integration

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/appnet-go/appnet/bus"
	"github.com/appnet-go/appnet/internal/events"
	"github.com/appnet-go/appnet/internal/lower"
	"github.com/appnet-go/appnet/internal/peer"
	"github.com/appnet-go/appnet/internal/testnet"
)

// Soak settings. APPNET_SOAK is how long the measured phase runs (a Go
// duration; default 5s, "APPNET_SOAK=60s" for the long run reported in
// BENCHMARKS.md). APPNET_SOAK_MAX_CALLS bounds the calls of the whole run
// (default 50,000 per second of the longest warm-up plus soak).
// APPNET_SOAK_EVENT_RATE is the emitter's pace in events per second
// (default 2,000).
const (
	soakDefault  = 5 * time.Second
	soakEvent    = "soak.seq"
	soakRate     = 2000
	soakWorkers  = 8
	soakTimeout  = 2 * time.Second
	soakRSSLimit = 10.0 // percent of growth allowed after the warm-up, in a soak of a minute or more
	// soakRSSShort is the limit of a shorter soak (the test command's 5s):
	// a few megabytes of heap the collector has not handed back yet are
	// more than 10% of a 23 MB peer, and a leak shows only over time.
	soakRSSShort = 20.0
	// Latencies are counted in buckets of soakBucket up to soakBuckets;
	// slower calls land in the last bucket (the maximum is kept exactly).
	soakBucket  = 10 * time.Microsecond
	soakBuckets = 20000 // 200ms
)

// soakHist is one worker's latency histogram.
type soakHist struct {
	counts [soakBuckets + 1]int64
	n      int64
	max    time.Duration
}

func (h *soakHist) add(d time.Duration) {
	h.counts[min(int(d/soakBucket), soakBuckets)]++
	h.n++
	h.max = max(h.max, d)
}

func (h *soakHist) merge(o *soakHist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns the upper bound of the bucket holding quantile q.
func (h *soakHist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := int64(q*float64(h.n-1)) + 1
	var seen int64
	for i, c := range h.counts {
		if seen += c; seen >= rank {
			if i == soakBuckets {
				return h.max
			}
			return min(time.Duration(i+1)*soakBucket, h.max)
		}
	}
	return h.max
}

// vmRSS returns the resident set size of a process in KiB.
func vmRSS(t *testing.T, pid int) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("reading the RSS of pid %d: %v", pid, err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("pid %d: VmRSS line %q: %v", pid, line, err)
			}
			return kb
		}
	}
	t.Fatalf("pid %d: no VmRSS in /proc/%d/status", pid, pid)
	return 0
}

// TestSoak runs three peer processes and an in-process bus peer meshed
// with them whose eight workers call pass_through on the three in turn
// for APPNET_SOAK after a warm-up (at least APPNET_SOAK/10 clamped to
// 1s..5s, then until the targets' RSS is flat). No call may fail; the targets' RSS may
// grow less than 10% from the end of the warm-up to the end of a run of a
// minute or more (20% in a shorter one),
// and the caller's goroutines must return to their baseline. Meanwhile
// the caller's peer emits numbered events at APPNET_SOAK_EVENT_RATE to
// three `appnet listen` processes: no Emit may fail, and once the
// emitter stops every listener must have printed every event exactly
// once and in order (at-most-once delivery loses nothing while the
// subscribers keep up). The figures are logged on one line starting with
// "SOAK:".
func TestSoak(t *testing.T) {
	// Not parallel: the figures should not depend on this package's other
	// tests.
	soak := soakDefault
	if v := os.Getenv("APPNET_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("APPNET_SOAK=%q: want a positive duration such as 60s", v)
		}
		soak = d
	}
	// The warm-up lasts at least minWarmup, then until the targets' RSS
	// has grown less than 1% over the last second, at most maxWarmup.
	minWarmup := min(max(soak/10, time.Second), 5*time.Second)
	maxWarmup := minWarmup + 10*time.Second
	maxCalls := int64((maxWarmup + soak).Seconds() * 50000)
	if v := os.Getenv("APPNET_SOAK_MAX_CALLS"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			t.Fatalf("APPNET_SOAK_MAX_CALLS=%q: want a positive number", v)
		}
		maxCalls = n
	}
	eventRate := soakRate
	if v := os.Getenv("APPNET_SOAK_EVENT_RATE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("APPNET_SOAK_EVENT_RATE=%q: want a positive number", v)
		}
		eventRate = n
	}
	maxEvents := int64((maxWarmup + soak + 30*time.Second).Seconds() * float64(eventRate))

	host, port, env := netEnv(t)
	testnet.MustLoopback(t, host)
	// Seven peers: a port range of twelve (the host is the test's own).
	const portRange = 11
	env = append(env, fmt.Sprintf("NET_PORT_RANGE=%d", portRange))
	var targets []*proc
	var ids []peer.ID
	for i := range 3 {
		p := start(t, "appnet", env, "serve")
		p.name = fmt.Sprintf("target%d", i+1)
		targets = append(targets, p)
		ids = append(ids, peer.ID(p.waitLine("ready ", 20*time.Second)))
	}
	var listeners []*listener
	for i := range 3 {
		listeners = append(listeners, startListener(t, fmt.Sprintf("listener%d", i+1), env, soakEvent))
	}

	cfg := peer.DefaultLocalConfig()
	cfg.Host, cfg.PortStart, cfg.PortRange, cfg.Scan = host, port, portRange, host
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	caller, err := bus.Start(ctx, cfg)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			caller.Close()
		}
	})
	for _, id := range ids {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := lower.Peer(caller).Call(ctx, id, peer.ConnPassThrough, []byte(`1`))
		cancel()
		if err != nil {
			t.Fatalf("the caller does not reach %s after meshing: %v", id, err)
		}
	}
	warmUp(t, func(k int) error { return events.Emit(lower.Peer(caller), soakEvent, warmValue{Warm: k}) }, listeners...)
	// The first calls to a target go through the cluster while a direct
	// connection to its server is dialled, and the first call on that
	// connection adds its reply subscription: the baseline is taken once
	// rounds of calls leave the count of goroutines unchanged ten times in
	// a row (at most 5s).
	steady, last := 0, -1
	for round := 0; round < 250 && steady < 10; round++ {
		for _, id := range ids {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := lower.Peer(caller).Call(ctx, id, peer.ConnPassThrough, []byte(`1`))
			cancel()
			if err != nil {
				t.Fatalf("call to %s before the soak: %v", id, err)
			}
		}
		if n := runtime.NumGoroutine(); n == last {
			steady++
		} else {
			steady, last = 0, n
		}
		time.Sleep(20 * time.Millisecond) // pacing the rounds of a bounded poll of a count
	}
	goroutinesBefore := runtime.NumGoroutine()

	var (
		made      atomic.Int64 // calls started
		measuring atomic.Bool  // set once the warm-up is over
		stop      = make(chan struct{})
		hists     = make([]*soakHist, soakWorkers)
		errMu     sync.Mutex
		errCount  int
		errSample string
		wg        sync.WaitGroup
	)
	arg := []byte(`{"soak":true,"payload":"0123456789abcdef0123456789abcdef"}`)
	begin := time.Now()
	hardEnd := begin.Add(maxWarmup + soak + 30*time.Second) // a bound even if the main loop is starved
	for w := range soakWorkers {
		hists[w] = new(soakHist)
		wg.Go(func() {
			h := hists[w]
			for {
				select {
				case <-stop:
					return
				default:
				}
				k := made.Add(1)
				if k > maxCalls || time.Now().After(hardEnd) {
					return
				}
				measured := measuring.Load()
				ctx, cancel := context.WithTimeout(context.Background(), soakTimeout)
				t0 := time.Now()
				_, err := lower.Peer(caller).Call(ctx, ids[k%int64(len(ids))], peer.ConnPassThrough, arg)
				d := time.Since(t0)
				cancel()
				if err != nil {
					errMu.Lock()
					if errCount++; errSample == "" {
						errSample = err.Error()
					}
					errMu.Unlock()
					continue
				}
				if measured {
					h.add(d)
				}
			}
		})
	}
	// The emitter: events {"n":0}, {"n":1}, ... paced at eventRate, each
	// second's share emitted as soon as it is due.
	var (
		emitted    atomic.Int64 // events emitted: n = 0..emitted-1
		emitErrs   atomic.Int64
		emitSample atomic.Value
		emitMax    atomic.Int64 // nanoseconds
	)
	emitDone := make(chan struct{})
	go func() {
		defer close(emitDone)
		for k := int64(0); k < maxEvents; {
			select {
			case <-stop:
				return
			default:
			}
			if time.Now().After(hardEnd) {
				return
			}
			due := min(int64(time.Since(begin).Seconds()*float64(eventRate))+1, maxEvents)
			for ; k < due; k++ {
				t0 := time.Now()
				err := events.Emit(lower.Peer(caller), soakEvent, seqValue{N: int(k)})
				d := time.Since(t0)
				if d > time.Duration(emitMax.Load()) {
					emitMax.Store(int64(d))
				}
				if err != nil && emitErrs.Add(1) == 1 {
					emitSample.Store(err.Error())
				}
				emitted.Store(k + 1)
			}
			time.Sleep(time.Millisecond) // pacing
		}
	}()
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()

	// Warm-up, then the measured phase; both end early if the workers
	// stop (max calls reached).
	totalRSS := func() (kb int64) {
		for _, p := range targets {
			kb += vmRSS(t, p.cmd.Process.Pid)
		}
		return kb
	}
	var rssHistory []int64 // every 250ms
warming:
	for {
		select {
		case <-time.After(250 * time.Millisecond): // load shape, not a wait for state
		case <-finished:
			break warming
		}
		rssHistory = append(rssHistory, totalRSS())
		elapsed, n := time.Since(begin), len(rssHistory)
		if elapsed >= maxWarmup || elapsed >= minWarmup && n >= 5 && 100*(rssHistory[n-1]-rssHistory[n-5]) < rssHistory[n-5] {
			break
		}
	}
	warmup := time.Since(begin)
	rssStart := make([]int64, len(targets))
	for i, p := range targets {
		rssStart[i] = vmRSS(t, p.cmd.Process.Pid)
	}
	callsAtStart := made.Load()
	eventsAtStart := emitted.Load()
	measuring.Store(true)
	measureStart := time.Now()
	select {
	case <-time.After(soak):
	case <-finished:
	}
	measured := time.Since(measureStart)
	callsInPhase := min(made.Load(), maxCalls) - callsAtStart
	eventsInPhase := emitted.Load() - eventsAtStart
	rssEnd := make([]int64, len(targets))
	for i, p := range targets {
		rssEnd[i] = vmRSS(t, p.cmd.Process.Pid)
	}
	close(stop)
	select {
	case <-finished:
	case <-time.After(soakTimeout + 10*time.Second):
		t.Fatal("soak workers did not stop")
	}
	select {
	case <-emitDone:
	case <-time.After(10 * time.Second):
		t.Fatal("the soak emitter did not stop")
	}
	// Every event emitted reaches every listener once they have caught up.
	totalEvents := int(emitted.Load())
	var lost, disorder, listenerErrs int
	var streams []string
	for _, l := range listeners {
		l.wait(30*time.Second, func() bool { s := l.streams[string(caller.ID())]; return s != nil && s.next >= totalEvents })
		s := l.stream(caller.ID())
		lost += s.gaps + totalEvents - s.next
		disorder += s.backwards
		listenerErrs += len(l.errorLines())
		streams = append(streams, fmt.Sprintf("%s: %s", l.name, s))
		if !s.exactly(totalEvents) {
			t.Errorf("%s: want events 0..%d exactly once and in order, got %s", l.name, totalEvents-1, s)
		}
		if errs := l.errorLines(); len(errs) > 0 {
			t.Errorf("%s reported errors: %q", l.name, errs)
		}
		if done, err := l.exited(); done {
			t.Errorf("%s exited during the soak: %v", l.name, err)
		}
	}

	goroutinesAfter := runtime.NumGoroutine()
	for i := 0; i < 100 && goroutinesAfter > goroutinesBefore; i++ {
		time.Sleep(50 * time.Millisecond) // polling a count, bounded to 5s
		goroutinesAfter = runtime.NumGoroutine()
	}

	var all soakHist
	for _, h := range hists {
		all.merge(h)
	}
	growth := 0.0
	var starts, ends []string
	for i := range targets {
		g := 100 * float64(rssEnd[i]-rssStart[i]) / float64(rssStart[i])
		growth = max(growth, g)
		starts = append(starts, strconv.FormatInt(rssStart[i], 10))
		ends = append(ends, strconv.FormatInt(rssEnd[i], 10))
	}
	t.Logf("SOAK: duration=%s warmup=%s workers=%d calls=%d total_calls=%d calls_per_s=%.0f p50_us=%d p99_us=%d max_us=%d errors=%d rss_kb_start=%s rss_kb_end=%s rss_growth_pct_max=%.1f goroutines_before=%d goroutines_after=%d "+
		"listeners=%d events=%d total_events=%d events_per_s=%.0f events_lost=%d events_disordered=%d emit_errors=%d emit_max_us=%d listener_errors=%d",
		measured.Round(time.Millisecond), warmup.Round(time.Millisecond), soakWorkers, callsInPhase, min(made.Load(), maxCalls),
		float64(callsInPhase)/measured.Seconds(),
		all.quantile(0.50).Microseconds(), all.quantile(0.99).Microseconds(), all.max.Microseconds(),
		errCount, strings.Join(starts, ","), strings.Join(ends, ","), growth, goroutinesBefore, goroutinesAfter,
		len(listeners), eventsInPhase, totalEvents, float64(eventsInPhase)/measured.Seconds(), lost, disorder,
		emitErrs.Load(), time.Duration(emitMax.Load()).Microseconds(), listenerErrs)
	t.Logf("listeners: %s", strings.Join(streams, "; "))

	if errCount != 0 {
		t.Errorf("%d calls failed; first: %s", errCount, errSample)
	}
	if n := emitErrs.Load(); n != 0 {
		t.Errorf("%d emits failed; first: %v", n, emitSample.Load())
	}
	if eventsInPhase <= 0 {
		t.Errorf("no event was emitted after the warm-up (max events %d)", maxEvents)
	}
	if callsInPhase <= 0 {
		t.Errorf("no call was made after the warm-up (max calls %d)", maxCalls)
	}
	limit := soakRSSLimit
	if soak < time.Minute {
		limit = soakRSSShort
	}
	for i := range targets {
		if g := 100 * float64(rssEnd[i]-rssStart[i]) / float64(rssStart[i]); g >= limit {
			t.Errorf("%s: RSS grew %.1f%% (%d -> %d KiB) after the warm-up; want < %.0f%%", targets[i].name, g, rssStart[i], rssEnd[i], limit)
		}
	}
	if goroutinesAfter > goroutinesBefore+2 {
		t.Errorf("caller goroutines: %d before the soak, %d five seconds after it", goroutinesBefore, goroutinesAfter)
	}
	for _, p := range targets {
		select {
		case <-p.done:
			t.Errorf("%s exited during the soak: %v", p.name, p.exitErr())
		default:
		}
	}
	caller.Close()
	closed = true
}
