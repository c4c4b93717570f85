package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// payload is the 64-byte JSON argument: a JSON string of 62 letters.
var payload = []byte(`"` + strings.Repeat("x", 62) + `"`)

// callFunc makes one call and checks its answer.
type callFunc func(ctx context.Context) error

// checkEcho checks that an answer is the payload back.
func checkEcho(out []byte) error {
	if string(out) != string(payload) {
		return fmt.Errorf("answer of %d bytes is not the %d-byte argument", len(out), len(payload))
	}
	return nil
}

// sample is what one measurement found.
type sample struct {
	p50, p99 time.Duration
	rate     float64       // calls per second of wall time
	cpu      time.Duration // CPU time per call of all the processes involved; 0 if unknown
}

// warmUp makes n calls from callers goroutines, to be discarded.
func warmUp(ctx context.Context, call callFunc, n, callers int) error {
	_, err := measure(ctx, call, n, callers, nil)
	return err
}

// measure makes n calls from callers goroutines (each takes the next call
// until n have been made) and returns their latency percentiles and the
// rate, and the CPU time per call the processes pids used meanwhile. It
// stops at the first error or when ctx ends.
func measure(ctx context.Context, call callFunc, n, callers int, pids []int) (sample, error) {
	r, err := measureBlock(ctx, call, n, callers, pids)
	if err != nil {
		return sample{}, err
	}
	return summarize(r), nil
}

// A block is the raw figures of one measurement; blocks of one topology
// measured in turns with others are summarized together.
type block struct {
	lats  []time.Duration
	wall  time.Duration
	cpu   time.Duration // of the processes measured, in all
	cpuOK bool
}

// measureBlock is measure without the summary.
func measureBlock(ctx context.Context, call callFunc, n, callers int, pids []int) (block, error) {
	callers = min(callers, n)
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		lats     = make([][]time.Duration, callers)
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cpuBefore, cpuErr := totalCPU(pids)
	start := time.Now()
	for i := range callers {
		lats[i] = make([]time.Duration, 0, n/callers+1)
		wg.Go(func() {
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				t := time.Now()
				err := call(ctx)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel()
					return
				}
				lats[i] = append(lats[i], time.Since(t))
			}
		})
	}
	wg.Wait()
	wall := time.Since(start)
	cpuAfter, err := totalCPU(pids)
	if firstErr != nil {
		return block{}, firstErr
	}
	all := slices.Concat(lats...)
	if len(all) < n {
		return block{}, fmt.Errorf("made %d of %d calls: %w", len(all), n, context.Cause(ctx))
	}
	return block{lats: all, wall: wall, cpu: cpuAfter - cpuBefore, cpuOK: cpuErr == nil && err == nil && len(pids) > 0}, nil
}

// summarize returns the percentiles of every call of blocks, their rate over
// the blocks' wall time, and their CPU time per call if every block has it.
func summarize(blocks ...block) sample {
	var (
		all  []time.Duration
		wall time.Duration
		cpu  time.Duration
	)
	cpuOK := true
	for _, r := range blocks {
		all = append(all, r.lats...)
		wall += r.wall
		cpu += r.cpu
		cpuOK = cpuOK && r.cpuOK
	}
	if len(all) == 0 {
		return sample{}
	}
	slices.Sort(all)
	out := sample{
		p50:  percentile(all, 0.50),
		p99:  percentile(all, 0.99),
		rate: float64(len(all)) / wall.Seconds(),
	}
	if cpuOK {
		out.cpu = cpu / time.Duration(len(all))
	}
	return out
}

// totalCPU returns the CPU time the processes pids have used.
func totalCPU(pids []int) (time.Duration, error) {
	var total time.Duration
	for _, pid := range pids {
		t, err := cpuTime(pid)
		if err != nil {
			return 0, err
		}
		total += t
	}
	return total, nil
}

// percentile returns the q-quantile of sorted by the nearest rank.
func percentile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(len(sorted)-1, i))]
}

// median returns the median of xs (the mean of the middle two for an even
// count), its minimum and its maximum.
func median(xs []float64) (med, lo, hi float64) {
	if len(xs) == 0 {
		return 0, 0, 0
	}
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	med = s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return med, s[0], s[n-1]
}

// settledRSS polls the RSS of pid until three readings 200 ms apart are
// within 64 KiB of each other, for at most 6 s, and returns the last.
func settledRSS(ctx context.Context, pid int) (int64, error) {
	const step, tolerance = 200 * time.Millisecond, 64 << 10
	deadline := time.Now().Add(6 * time.Second)
	var prev int64 = -1
	stable := 0
	for {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(step):
		}
		rss, err := readRSS(pid)
		if err != nil {
			return 0, err
		}
		if prev >= 0 && abs(rss-prev) <= tolerance {
			stable++
		} else {
			stable = 0
		}
		prev = rss
		if stable >= 2 || time.Now().After(deadline) {
			return rss, nil
		}
	}
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// latencies are the percentiles of a timed loop.
type latencies struct {
	p50, p99 time.Duration
	n        int
}

// timeLoop runs fn up to n times, for at most limit (at least once),
// after warm unmeasured runs, and returns the percentiles of its time.
func timeLoop(ctx context.Context, warm, n int, limit time.Duration, fn func() error) (latencies, error) {
	for range warm {
		if err := fn(); err != nil {
			return latencies{}, err
		}
	}
	lats := make([]time.Duration, 0, n)
	end := time.Now().Add(limit)
	for len(lats) < n && (len(lats) == 0 || time.Now().Before(end)) {
		if err := ctx.Err(); err != nil {
			return latencies{}, err
		}
		t := time.Now()
		if err := fn(); err != nil {
			return latencies{}, err
		}
		lats = append(lats, time.Since(t))
	}
	slices.Sort(lats)
	return latencies{p50: percentile(lats, 0.5), p99: percentile(lats, 0.99), n: len(lats)}, nil
}
