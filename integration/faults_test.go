package integration

// Fault tests: a peer killed (SIGKILL) while two other peers call it, the
// same peer restarted, and a peer frozen with SIGSTOP.
//
// The calls come from peers, so the test binary has a hidden second role:
// started with APPNET_HELPER=caller (see startCaller) it runs a bus peer
// from the NET_* environment, prints "ready <ID>", and then runs the
// commands the test writes to its stdin, one per line, "<tag> <verb>
// key=value...", each in a goroutine of its own:
//
//	<tag> load target=<id> calls=N workers=W timeout=D [rate=R] [underway=K]
//	    makes N pass_through calls to the target with W workers, each with
//	    its own timeout D, at most R calls per second in all when R > 0;
//	    prints "<tag> underway" once K calls have finished, then
//	    "<tag> result <loadResult JSON>".
//	<tag> probe target=<id> within=D timeout=T
//	    calls the target (timeout T each) until a call succeeds or D has
//	    passed; prints "<tag> result <loadResult JSON>".
//	<tag> emit event=E count=N [rate=R] [size=B] [underway=K] [key=warm] [from=F]
//	    emits N events named E, {"n":F+k} (with a pad of B bytes), or
//	    {"warm":F+k} with key=warm, at most R per second when R > 0;
//	    prints "<tag> underway" once K are out, then "<tag> result
//	    <loadResult JSON>" (calls: emits, ok: nil errors, max latency: the
//	    longest Emit). See events_harness_test.go.
//
// It exits when stdin closes or on SIGTERM.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/appnet-go/appnet/bus"
	"github.com/appnet-go/appnet/internal/lower"
	"github.com/appnet-go/appnet/internal/peer"
	"github.com/appnet-go/appnet/internal/testnet"
	"github.com/nats-io/nats.go"
)

// helperEnv selects the hidden caller role of the test binary.
const helperEnv = "APPNET_HELPER"

func init() {
	// The caller role runs before TestMain, so it builds nothing.
	if os.Getenv(helperEnv) == "caller" {
		os.Exit(helperCaller())
	}
}

// loadResult is what a caller reports for one load or probe command.
type loadResult struct {
	Calls  int            `json:"calls"`  // calls made
	OK     int            `json:"ok"`     // calls answered
	Errors map[string]int `json:"errors"` // failed calls by kind
	// Samples holds the first error message of each kind.
	Samples      map[string]string `json:"samples"`
	MaxLatencyMS float64           `json:"max_latency_ms"`
	ElapsedMS    float64           `json:"elapsed_ms"`
	// Goroutine counts of the caller process when the command started and
	// once its calls had finished and the count had settled (up to 5s).
	GoroutinesBefore int     `json:"goroutines_before"`
	GoroutinesAfter  int     `json:"goroutines_after"`
	SettleMS         float64 `json:"settle_ms"`
}

func (r loadResult) failed() int {
	n := 0
	for _, c := range r.Errors {
		n += c
	}
	return n
}

// errorKind sorts a call's error into the kinds the tests expect.
func errorKind(err error) string {
	switch {
	case errors.Is(err, peer.ErrUnreachable):
		return "unreachable"
	case errors.Is(err, context.DeadlineExceeded) && strings.Contains(err.Error(), "no answer"):
		return "no_answer"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline"
	case errors.Is(err, peer.ErrClosed):
		return "closed"
	case errors.Is(err, peer.ErrBusy):
		return "busy"
	case errors.Is(err, peer.ErrRemote):
		return "remote"
	}
	return "other"
}

// helperCaller is the caller role: it returns the process's exit code.
func helperCaller() int {
	host := os.Getenv("NET_HOST")
	if err := testnet.Loopback(host); err != nil {
		fmt.Fprintln(os.Stderr, "caller:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	startCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	p, err := bus.New(startCtx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "caller:", err)
		return 1
	}
	defer p.Close()

	var outMu sync.Mutex
	say := func(format string, args ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Fprintf(os.Stdout, format+"\n", args...)
	}
	say("ready %s", p.ID())

	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var running sync.WaitGroup
	defer running.Wait()
	for {
		select {
		case <-ctx.Done():
			return 0
		case line, ok := <-lines:
			if !ok {
				return 0
			}
			running.Go(func() { runCommand(ctx, lower.Peer(p), line, say) })
		}
	}
}

// runCommand runs one command line of the caller role.
func runCommand(ctx context.Context, p *peer.Peer, line string, say func(string, ...any)) {
	fields := strings.Fields(line)
	if len(fields) < 2 {
		say("bad command %q", line)
		return
	}
	tag, verb := fields[0], fields[1]
	args := map[string]string{}
	for _, f := range fields[2:] {
		k, v, _ := strings.Cut(f, "=")
		args[k] = v
	}
	num := func(k string, def int) int {
		if n, err := strconv.Atoi(args[k]); err == nil {
			return n
		}
		return def
	}
	dur := func(k string, def time.Duration) time.Duration {
		if d, err := time.ParseDuration(args[k]); err == nil {
			return d
		}
		return def
	}
	target := peer.ID(args["target"])
	var res loadResult
	switch verb {
	case "load":
		res = runLoad(ctx, p, target, num("calls", 1), num("workers", 1), dur("timeout", 2*time.Second),
			num("rate", 0), num("underway", -1), func() { say("%s underway", tag) })
	case "probe":
		res = runProbe(ctx, p, target, dur("within", 5*time.Second), dur("timeout", 500*time.Millisecond))
	case "emit":
		res = runEmit(ctx, p, args["event"], num("count", 1), num("rate", 0), num("size", 0), num("from", 0), args["key"],
			num("underway", -1), func() { say("%s underway", tag) })
	default:
		say("%s unknown verb %q", tag, verb)
		return
	}
	data, _ := json.Marshal(res)
	say("%s result %s", tag, data)
}

// tally collects call outcomes; it is safe for concurrent use.
type tally struct {
	mu  sync.Mutex
	res loadResult
}

func (t *tally) add(d time.Duration, err error) (done int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.res.Calls++
	if ms := float64(d) / float64(time.Millisecond); ms > t.res.MaxLatencyMS {
		t.res.MaxLatencyMS = ms
	}
	if err == nil {
		t.res.OK++
		return t.res.Calls
	}
	kind := errorKind(err)
	t.res.Errors[kind]++
	if _, ok := t.res.Samples[kind]; !ok {
		t.res.Samples[kind] = err.Error()
	}
	return t.res.Calls
}

func newTally() *tally {
	return &tally{res: loadResult{Errors: map[string]int{}, Samples: map[string]string{}}}
}

// runLoad makes calls pass_through calls to target from workers
// goroutines, paced at rate calls per second in all when rate > 0, and
// calls underway once underwayAt calls have finished.
func runLoad(ctx context.Context, p *peer.Peer, target peer.ID, calls, workers int, timeout time.Duration,
	rate, underwayAt int, underway func()) loadResult {
	before := runtime.NumGoroutine()
	t := newTally()
	var next atomic.Int64
	var once sync.Once
	start := time.Now()
	arg := []byte(`{"probe":"appnet fault test","n":12345}`)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				k := int(next.Add(1)) - 1
				if k >= calls || ctx.Err() != nil {
					return
				}
				if rate > 0 {
					at := start.Add(time.Duration(k) * time.Second / time.Duration(rate))
					select {
					case <-time.After(time.Until(at)):
					case <-ctx.Done():
						return
					}
				}
				callCtx, cancel := context.WithTimeout(ctx, timeout)
				t0 := time.Now()
				_, err := p.Call(callCtx, target, peer.ConnPassThrough, arg)
				d := time.Since(t0)
				cancel()
				if t.add(d, err) == underwayAt {
					once.Do(underway)
				}
			}
		})
	}
	wg.Wait()
	res := t.res
	res.ElapsedMS = float64(time.Since(start)) / float64(time.Millisecond)
	res.GoroutinesBefore = before
	settled := time.Now()
	res.GoroutinesAfter = runtime.NumGoroutine()
	for i := 0; i < 100 && res.GoroutinesAfter > before; i++ {
		time.Sleep(50 * time.Millisecond)
		res.GoroutinesAfter = runtime.NumGoroutine()
	}
	res.SettleMS = float64(time.Since(settled)) / float64(time.Millisecond)
	return res
}

// runProbe calls target until a call succeeds or within has passed.
func runProbe(ctx context.Context, p *peer.Peer, target peer.ID, within, timeout time.Duration) loadResult {
	t := newTally()
	start := time.Now()
	deadline := start.Add(within)
	for i := 0; i < 10000 && time.Now().Before(deadline) && ctx.Err() == nil; i++ {
		callCtx, cancel := context.WithTimeout(ctx, min(timeout, time.Until(deadline)))
		t0 := time.Now()
		_, err := p.Call(callCtx, target, peer.ConnPassThrough, []byte(`"probe"`))
		cancel()
		t.add(time.Since(t0), err)
		if err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond) // pacing between attempts, not a wait for state
	}
	res := t.res
	res.ElapsedMS = float64(time.Since(start)) / float64(time.Millisecond)
	return res
}

// caller is a running caller-role process.
type caller struct {
	*proc
	id peer.ID

	mu    sync.Mutex
	stdin io.WriteCloser
	seq   int
}

// startCaller starts the test binary in the caller role with env and waits
// for it to be ready (meshed with the peers on its host).
func startCaller(t *testing.T, name string, env []string) *caller {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := startCmd(t, name, cmd, append(slices.Clone(env), helperEnv+"=caller"))
	c := &caller{proc: p, stdin: stdin}
	// Cleanups run last-in first-out: stdin closes before startCmd's stop.
	t.Cleanup(func() {
		c.mu.Lock()
		_ = c.stdin.Close()
		c.mu.Unlock()
	})
	c.id = peer.ID(p.waitLine("ready ", 30*time.Second))
	return c
}

// send writes a command and returns its tag.
func (c *caller) send(verb string, args ...string) string {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	tag := fmt.Sprintf("cmd%d", c.seq)
	if _, err := fmt.Fprintf(c.stdin, "%s %s %s\n", tag, verb, strings.Join(args, " ")); err != nil {
		c.t.Fatalf("%s: sending %s: %v", c.name, verb, err)
	}
	return tag
}

// result waits for a command's result.
func (c *caller) result(tag string, timeout time.Duration) loadResult {
	c.t.Helper()
	line := c.waitLine(tag+" result ", timeout)
	var r loadResult
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		c.t.Fatalf("%s: result %q: %v", c.name, line, err)
	}
	return r
}

// load starts a load command; args are key=value strings.
func (c *caller) load(target peer.ID, args ...string) string {
	return c.send("load", append([]string{"target=" + string(target)}, args...)...)
}

// probe calls target until it answers, within the given time, and fails
// the test if it does not; it returns how long that took.
func (c *caller) probe(target peer.ID, within time.Duration) time.Duration {
	c.t.Helper()
	tag := c.send("probe", "target="+string(target), "within="+within.String(), "timeout=500ms")
	r := c.result(tag, within+10*time.Second)
	if r.OK != 1 {
		c.t.Fatalf("%s: calls to %s did not succeed within %s: %+v", c.name, target, within, r)
	}
	return time.Duration(r.ElapsedMS * float64(time.Millisecond))
}

// faultEnv is the environment of the fault tests' peers: a fresh loopback
// host, rescans every 200ms. APPNET_FAULT_DEV=1 turns on NET_DEV, whose
// debug log (calls, routes, rescans) is printed when a test fails.
func faultEnv(t *testing.T) (host string, env []string) {
	t.Helper()
	host, _, env = netEnv(t)
	testnet.MustLoopback(t, host)
	env = append(env, "NET_SCAN_INTERVAL=200ms")
	if os.Getenv("APPNET_FAULT_DEV") != "" {
		env = append(env, "NET_DEV=true")
	}
	return host, env
}

// latencyMargin is how much longer than its timeout a call may take on a
// busy two-core machine.
const latencyMargin = 750 * time.Millisecond

// checkFailuresClear fails the test unless every failed call of r failed in
// one of the expected ways, with a message that names the target.
func checkFailuresClear(t *testing.T, who string, r loadResult, target peer.ID) {
	t.Helper()
	addr, _ := target.Decode()
	for kind, n := range r.Errors {
		msg := r.Samples[kind]
		switch kind {
		case "unreachable":
			if !strings.Contains(msg, "peer unreachable") || !strings.Contains(msg, "nobody serves") {
				t.Errorf("%s: unreachable error is unclear: %q", who, msg)
			}
		case "no_answer", "deadline":
			if !strings.Contains(msg, "context deadline exceeded") {
				t.Errorf("%s: no-answer error is unclear: %q", who, msg)
			}
		default:
			t.Errorf("%s: %d calls failed with unexpected kind %s: %q", who, n, kind, msg)
			continue
		}
		if !strings.Contains(msg, fmt.Sprintf("%s:%d", addr.Host, addr.Port)) {
			t.Errorf("%s: %s error does not name the target's address %s:%d: %q", who, kind, addr.Host, addr.Port, msg)
		}
	}
}

func signalProc(t *testing.T, p *proc, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("%s: sending %v to pid %d: %v", p.name, sig, p.cmd.Process.Pid, err)
	}
}

// waitStopped waits until every thread of p is stopped: kill(SIGSTOP)
// returns before the group stop completes, and on a busy machine a thread
// can go on serving calls for milliseconds.
func waitStopped(t *testing.T, p *proc, timeout time.Duration) {
	t.Helper()
	pid := p.cmd.Process.Pid
	deadline := time.Now().Add(timeout)
	for {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		running := ""
		for _, task := range tasks {
			stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
			if err != nil {
				continue // the thread has exited
			}
			// The state is the first field after the command, "(...)".
			i := strings.LastIndexByte(string(stat), ')')
			if f := strings.Fields(string(stat[i+1:])); i < 0 || len(f) == 0 || (f[0] != "T" && f[0] != "t") {
				running = task.Name()
				break
			}
		}
		if running == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: thread %s of pid %d not stopped %s after SIGSTOP", p.name, running, pid, timeout)
		}
		time.Sleep(5 * time.Millisecond) // polling the kernel's view, bounded by timeout
	}
}

// TestFaultKillUnderLoadThenRestart kills a peer with SIGKILL while two
// other peers call it, checks every call ended in time with a clear error
// and left no goroutines behind, then restarts the peer and checks the
// surviving peers reach it again without being restarted.
func TestFaultKillUnderLoadThenRestart(t *testing.T) {
	t.Parallel()
	_, env := faultEnv(t)
	target := start(t, "appnet", env, "serve")
	targetID := peer.ID(target.waitLine("ready ", 20*time.Second))
	callers := []*caller{startCaller(t, "caller1", env), startCaller(t, "caller2", env)}

	// 1. SIGKILL under load: 500 calls per caller, 8 workers, 2s each,
	// paced at 200/s so that the kill lands in the middle of the run.
	const calls, timeout = 500, 2 * time.Second
	tags := make([]string, len(callers))
	for i, c := range callers {
		tags[i] = c.load(targetID, fmt.Sprintf("calls=%d", calls), "workers=8", "timeout="+timeout.String(),
			"rate=200", "underway=100")
	}
	for i, c := range callers {
		c.waitLine(tags[i]+" underway", 30*time.Second)
	}
	killed := time.Now()
	target.kill()
	t.Logf("target %s killed (SIGKILL) after both callers finished 100 calls", targetID)
	for i, c := range callers {
		r := c.result(tags[i], 60*time.Second)
		t.Logf("%s: %d calls in %.0fms: ok %d, errors %v, max latency %.1fms, goroutines %d -> %d (settled in %.0fms); samples %v",
			c.name, r.Calls, r.ElapsedMS, r.OK, r.Errors, r.MaxLatencyMS, r.GoroutinesBefore, r.GoroutinesAfter, r.SettleMS, r.Samples)
		if r.Calls != calls || r.OK+r.failed() != calls {
			t.Errorf("%s: %d calls made, %d ok + %d failed; want all %d finished", c.name, r.Calls, r.OK, r.failed(), calls)
		}
		if r.OK < 100 {
			t.Errorf("%s: only %d calls succeeded, want at least the 100 made before the kill", c.name, r.OK)
		}
		if r.failed() == 0 {
			t.Errorf("%s: no call failed: the kill did not land during the load", c.name)
		}
		if max := time.Duration(r.MaxLatencyMS * float64(time.Millisecond)); max > timeout+latencyMargin {
			t.Errorf("%s: a call took %s, more than its %s timeout + %s", c.name, max, timeout, latencyMargin)
		}
		checkFailuresClear(t, c.name, r, targetID)
		if r.GoroutinesAfter > r.GoroutinesBefore+3 {
			t.Errorf("%s: goroutines %d before the load, still %d five seconds after it", c.name, r.GoroutinesBefore, r.GoroutinesAfter)
		}
	}
	t.Logf("all calls finished %s after the kill", time.Since(killed).Round(time.Millisecond))

	// 2. Restart with the same environment: same port, same ID.
	restarted := start(t, "appnet", env, "serve")
	if id := peer.ID(restarted.waitLine("ready ", 20*time.Second)); id != targetID {
		t.Fatalf("restarted peer is %s, want the killed peer's ID %s", id, targetID)
	}
	// The restarted peer meshed when it started: through its own server,
	// a single call (no retry) reaches each caller at once.
	addr, _ := targetID.Decode()
	nc, err := nats.Connect(fmt.Sprintf("nats://%s:%d", addr.Host, addr.Port), nats.Timeout(5*time.Second), nats.NoReconnect())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	via := peer.NewCaller(nc, peer.NewRegistry(), 5*time.Second)
	for _, c := range callers {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		out, err := via.Call(ctx, c.id, peer.ConnPassThrough, []byte(`"hi"`))
		cancel()
		if err != nil || string(out) != `"hi"` {
			t.Errorf("restarted peer did not mesh at start: call to %s through it: %q, %v", c.name, out, err)
		}
	}
	// The surviving peers reach it again without a restart.
	for _, c := range callers {
		took := c.probe(targetID, 5*time.Second)
		t.Logf("%s reaches the restarted peer after %s", c.name, took.Round(time.Millisecond))
		tag := c.load(targetID, "calls=200", "workers=8", "timeout=2s")
		if r := c.result(tag, 30*time.Second); r.OK != 200 {
			t.Errorf("%s: calls to the restarted peer: %+v, want 200 ok", c.name, r)
		}
	}
}

// TestFaultStoppedPeer freezes a peer with SIGSTOP: calls to it must fail
// within their timeout while calls between the other peers keep working,
// and after SIGCONT calls to it succeed again.
func TestFaultStoppedPeer(t *testing.T) {
	t.Parallel()
	_, env := faultEnv(t)
	// The first two peers of a network are its hubs, through which the
	// others' cluster traffic flows: the frozen peer is a leaf (a frozen
	// hub stalls that traffic until the pings give up on it, 6s).
	other := start(t, "appnet", env, "serve")
	otherID := peer.ID(other.waitLine("ready ", 20*time.Second))
	hub2 := start(t, "appnet", env, "serve")
	hub2.waitLine("ready ", 20*time.Second)
	target := start(t, "appnet", env, "serve")
	targetID := peer.ID(target.waitLine("ready ", 20*time.Second))
	c1, c2 := startCaller(t, "caller1", env), startCaller(t, "caller2", env)
	for _, c := range []*caller{c1, c2} {
		c.probe(targetID, 5*time.Second)
	}

	stopped := true
	signalProc(t, target, syscall.SIGSTOP)
	t.Cleanup(func() { // runs before start's cleanup stops the process
		if stopped {
			_ = target.cmd.Process.Signal(syscall.SIGCONT)
		}
	})
	waitStopped(t, target, 5*time.Second)
	const timeout = time.Second
	type job struct {
		c      *caller
		to     peer.ID
		toName string
		tag    string
	}
	var toStopped, between []job
	for _, c := range []*caller{c1, c2} {
		toStopped = append(toStopped, job{c, targetID, "stopped peer", c.load(targetID, "calls=20", "workers=4", "timeout="+timeout.String())})
	}
	for _, j := range []struct {
		c      *caller
		to     peer.ID
		toName string
	}{{c1, c2.id, "caller2"}, {c2, c1.id, "caller1"}, {c1, otherID, "other serve peer"}, {c2, otherID, "other serve peer"}} {
		// 300 calls at 150/s: they run while the calls to the stopped peer wait.
		between = append(between, job{j.c, j.to, j.toName, j.c.load(j.to, "calls=300", "workers=4", "timeout=2s", "rate=150")})
	}
	for _, j := range toStopped {
		r := j.c.result(j.tag, 60*time.Second)
		t.Logf("%s -> stopped peer: ok %d, errors %v, max latency %.1fms; samples %v", j.c.name, r.OK, r.Errors, r.MaxLatencyMS, r.Samples)
		if r.OK != 0 || r.failed() != 20 {
			t.Errorf("%s: calls to the stopped peer: %d ok, %d failed; want all 20 failed", j.c.name, r.OK, r.failed())
		}
		if max := time.Duration(r.MaxLatencyMS * float64(time.Millisecond)); max > timeout+latencyMargin {
			t.Errorf("%s: a call to the stopped peer took %s, more than its %s timeout + %s", j.c.name, max, timeout, latencyMargin)
		}
		checkFailuresClear(t, j.c.name, r, targetID)
	}
	for _, j := range between {
		r := j.c.result(j.tag, 60*time.Second)
		t.Logf("%s -> %s while the target is stopped: ok %d, errors %v, max latency %.1fms", j.c.name, j.toName, r.OK, r.Errors, r.MaxLatencyMS)
		if r.OK != 300 {
			t.Errorf("%s -> %s while a peer is stopped: %d of 300 ok, errors %v %v", j.c.name, j.toName, r.OK, r.Errors, r.Samples)
		}
	}

	signalProc(t, target, syscall.SIGCONT)
	stopped = false
	for _, c := range []*caller{c1, c2} {
		took := c.probe(targetID, 5*time.Second)
		t.Logf("%s reaches the resumed peer after %s", c.name, took.Round(time.Millisecond))
		tag := c.load(targetID, "calls=100", "workers=4", "timeout=2s")
		if r := c.result(tag, 30*time.Second); r.OK != 100 {
			t.Errorf("%s: calls to the resumed peer: %+v, want 100 ok", c.name, r)
		}
	}
}
