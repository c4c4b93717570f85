package integration

// The events tests' harness: `appnet listen` processes whose output is
// checked as it streams (an event line is parsed and counted, never
// kept), the emit command of the caller role (see faults_test.go) and a
// readiness probe that emits until every listener has heard the emitter.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/events"
	"github.com/appnet-go/appnet/internal/peer"
	internalproc "github.com/appnet-go/appnet/internal/proc"
)

// seqValue is an event of a numbered stream: {"n":k} with an optional pad.
// The field order is part of the format the listeners parse.
type seqValue struct {
	N   int    `json:"n"`
	Pad string `json:"pad,omitempty"`
}

// warmValue is a readiness probe: {"warm":k}.
type warmValue struct {
	Warm int `json:"warm"`
}

// stream is what a listener heard of one emitter's numbered stream.
type stream struct {
	next      int // the n expected next: one past the highest n heard
	received  int // numbered events heard
	backwards int // events at or below an n already passed: duplicates or out of order
	gaps      int // numbers skipped inside the stream (not counting the tail)
}

// exactly reports whether the stream is 0..count-1, each once, in order.
func (s stream) exactly(count int) bool {
	return s.received == count && s.next == count && s.backwards == 0 && s.gaps == 0
}

func (s stream) String() string {
	return fmt.Sprintf("received %d, next %d, backwards %d, gaps %d", s.received, s.next, s.backwards, s.gaps)
}

// listener is a running `appnet listen` process.
type listener struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	done chan struct{}
	id   peer.ID // the listener's own peer, once ready

	// After pause, the reader stops reading the process's output at the
	// next line, until unpause: the process then blocks writing, and its
	// subscription falls behind.
	pausing    atomic.Bool
	resume     chan struct{}
	resumeOnce sync.Once

	mu      sync.Mutex
	changed chan struct{} // closed and replaced whenever a line is read
	ready   bool
	warm    int
	streams map[string]*stream
	errors  []string // "error: ..." lines
	other   []string // the first lines that are neither events nor errors
	lines   int
	exitErr error
}

const listenerKeep = 100 // other lines kept for the failure log

// startListener starts `appnet listen args...` with env and waits for it
// to subscribe. It is stopped (SIGTERM by PID, SIGKILL after 5s) when the
// test ends.
func startListener(t *testing.T, name string, env []string, args ...string) *listener {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, "appnet"), append([]string{"listen"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = internalproc.DieWithParent(syscall.SIGKILL) // even if the test binary is killed
	l := &listener{t: t, name: name, cmd: cmd, done: make(chan struct{}), changed: make(chan struct{}),
		streams: map[string]*stream{}, resume: make(chan struct{})}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go l.read(out)
	t.Cleanup(func() {
		l.stop()
		if t.Failed() {
			t.Logf("%s: %s", name, l.summary())
		}
	})
	l.waitFor("to subscribe", 20*time.Second, func() bool { return l.ready })
	return l
}

func (l *listener) read(out io.Reader) {
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 256<<10), 2<<20)
	for sc.Scan() {
		l.parse(sc.Text())
		if l.pausing.CompareAndSwap(true, false) {
			<-l.resume
		}
	}
	err := l.cmd.Wait()
	l.mu.Lock()
	l.exitErr = err
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
	close(l.done)
}

// parse counts one output line.
func (l *listener) parse(line string) {
	l.mu.Lock()
	defer func() {
		l.lines++
		close(l.changed)
		l.changed = make(chan struct{})
		l.mu.Unlock()
	}()
	if rest, ok := strings.CutPrefix(line, "listening for "); ok && !l.ready {
		if i := strings.LastIndex(rest, " as "); i >= 0 {
			l.id = peer.ID(strings.TrimSpace(rest[i+4:]))
		}
		l.ready = true
		return
	}
	if strings.HasPrefix(line, "error: ") {
		l.errors = append(l.errors, clipLine(line))
		return
	}
	// <RFC3339 time> <emitter> <event> <json>
	f := strings.SplitN(line, " ", 4)
	if len(f) == 4 {
		if _, err := time.Parse(time.RFC3339Nano, f[0]); err == nil {
			if _, ok := leadingInt(f[3], `{"warm":`); ok {
				l.warm++
				return
			}
			if n, ok := leadingInt(f[3], `{"n":`); ok {
				s := l.streams[f[1]]
				if s == nil {
					s = &stream{}
					l.streams[f[1]] = s
				}
				s.received++
				switch {
				case n < s.next:
					s.backwards++
				default:
					s.gaps += n - s.next
					s.next = n + 1
				}
				return
			}
		}
	}
	if len(l.other) < listenerKeep {
		l.other = append(l.other, clipLine(line))
	}
}

// leadingInt reads the integer after prefix at the start of s: the
// listeners' events are parsed without decoding their (possibly large) pad.
func leadingInt(s, prefix string) (int, bool) {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return 0, false
	}
	end := strings.IndexAny(rest, ",}")
	if end <= 0 {
		return 0, false
	}
	n, err := strconv.Atoi(rest[:end])
	return n, err == nil
}

func clipLine(s string) string {
	if len(s) > 300 {
		return fmt.Sprintf("%s... (%d bytes)", s[:300], len(s))
	}
	return s
}

// stream returns what the listener heard of emitter's numbered stream.
func (l *listener) stream(emitter peer.ID) stream {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.streams[string(emitter)]; s != nil {
		return *s
	}
	return stream{}
}

// errorLines returns the "error:" lines printed so far.
func (l *listener) errorLines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.errors...)
}

func (l *listener) warmHeard() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.warm
}

func (l *listener) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "%d lines, %d probes, exit %v", l.lines, l.warm, l.exitErr)
	for id, s := range l.streams {
		fmt.Fprintf(&b, "\n  from %s: %s", id, s)
	}
	for _, e := range l.errors {
		fmt.Fprintf(&b, "\n  %s", e)
	}
	for _, o := range l.other {
		fmt.Fprintf(&b, "\n  %s", o)
	}
	return b.String()
}

// wait waits until cond (called with l.mu held) holds and reports whether
// it did within timeout, or before the process exited.
func (l *listener) wait(timeout time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		ok, changed := cond(), l.changed
		l.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-changed:
		case <-l.done:
			l.mu.Lock()
			ok := cond()
			l.mu.Unlock()
			return ok
		case <-deadline.C:
			return false
		}
	}
}

// waitFor is wait that fails the test.
func (l *listener) waitFor(what string, timeout time.Duration, cond func() bool) {
	l.t.Helper()
	if !l.wait(timeout, cond) {
		l.t.Fatalf("%s did not get %s within %s: %s", l.name, what, timeout, l.summary())
	}
}

// pause stops the reader at the next line it reads, until unpause.
func (l *listener) pause() { l.pausing.Store(true) }

// unpause lets a paused reader read on.
func (l *listener) unpause() { l.resumeOnce.Do(func() { close(l.resume) }) }

// stop sends SIGTERM by PID and waits, killing the process after 5s.
func (l *listener) stop() {
	l.unpause()
	internalproc.Stop(l.cmd.Process, l.done, 5*time.Second)
}

// kill sends SIGKILL by PID and waits for the process to go.
func (l *listener) kill() {
	l.t.Helper()
	if err := l.cmd.Process.Kill(); err != nil {
		l.t.Fatalf("%s: SIGKILL to pid %d: %v", l.name, l.cmd.Process.Pid, err)
	}
	l.unpause()
	<-l.done
}

// exited reports whether the process has exited, and how.
func (l *listener) exited() (bool, error) {
	select {
	case <-l.done:
		l.mu.Lock()
		defer l.mu.Unlock()
		return true, l.exitErr
	default:
		return false, nil
	}
}

// warmUp emits probes, up to 100 at least 100ms apart, until every
// listener has heard one: then the emitter's server has every listener's
// interest, and every event it emits from now on reaches them.
func warmUp(t *testing.T, emit func(k int) error, ls ...*listener) {
	t.Helper()
	for k := range 100 {
		if err := emit(k); err != nil {
			t.Fatalf("emitting probe %d: %v", k, err)
		}
		heard := true
		for _, l := range ls {
			heard = l.wait(100*time.Millisecond, func() bool { return l.warm > 0 }) && heard
		}
		if heard {
			return
		}
	}
	for _, l := range ls {
		if l.warmHeard() == 0 {
			t.Fatalf("%s heard none of 100 probes: %s", l.name, l.summary())
		}
	}
}

// emit starts an emit command of the caller role; args are key=value
// strings (event=, count=, rate=, size=, underway=, key=, from=).
func (c *caller) emit(args ...string) string {
	return c.send("emit", args...)
}

// probeWith returns a warmUp emit function that has the caller emit one
// probe of event per call.
func (c *caller) probeWith(event string) func(k int) error {
	return func(k int) error {
		tag := c.emit("event="+event, "count=1", "key=warm", fmt.Sprintf("from=%d", k))
		if r := c.result(tag, 20*time.Second); r.OK != 1 {
			return fmt.Errorf("%s: %+v", c.name, r)
		}
		return nil
	}
}

// runEmit is the emit command of the caller role: it emits count events
// named event, {"n":from+k} with a pad of size bytes (or {"warm":from+k}
// when key is "warm"), at rate events per second when rate > 0, and calls
// underway once underwayAt events are out. Calls counts emits, OK the
// ones that returned nil, MaxLatencyMS the longest Emit.
func runEmit(ctx context.Context, p *peer.Peer, event string, count, rate, size, from int, key string,
	underwayAt int, underway func()) loadResult {
	before := runtime.NumGoroutine()
	t := newTally()
	pad := strings.Repeat("p", size)
	start := time.Now()
	pace := time.NewTimer(0)
	defer pace.Stop()
	for k := 0; k < count && ctx.Err() == nil; k++ {
		if rate > 0 {
			if d := time.Until(start.Add(time.Duration(k) * time.Second / time.Duration(rate))); d > 0 {
				pace.Reset(d)
				select {
				case <-pace.C:
				case <-ctx.Done():
					k = count
					continue
				}
			}
		}
		var v any = seqValue{N: from + k, Pad: pad}
		if key == "warm" {
			v = warmValue{Warm: from + k}
		}
		t0 := time.Now()
		err := events.Emit(p, event, v)
		if t.add(time.Since(t0), err) == underwayAt {
			underway()
		}
	}
	res := t.res
	res.ElapsedMS = float64(time.Since(start)) / float64(time.Millisecond)
	res.GoroutinesBefore = before
	settled := time.Now()
	res.GoroutinesAfter = runtime.NumGoroutine()
	for i := 0; i < 100 && res.GoroutinesAfter > before; i++ {
		time.Sleep(50 * time.Millisecond) // polling a count, bounded to 5s
		res.GoroutinesAfter = runtime.NumGoroutine()
	}
	res.SettleMS = float64(time.Since(settled)) / float64(time.Millisecond)
	return res
}
