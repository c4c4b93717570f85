package integration

import (
	"fmt"
	"testing"
	"time"
)

// TestFaultSubscriberKilledMidStream: a subscriber killed mid-stream
// (SIGKILL) leaves the emitter unaffected and the other subscribers miss
// nothing. An emitter (the caller role) emits 3,000 numbered events at
// 1,000/s to three `appnet listen` processes; when 1,000 are out, one
// listener is killed by PID. Every Emit must return nil, quickly; the two
// other listeners must print every event exactly once and in order; the
// emitter's goroutines must return to their count before the stream.
func TestFaultSubscriberKilledMidStream(t *testing.T) {
	t.Parallel()
	_, env := faultEnv(t)
	const (
		event        = "fault.seq"
		count, rate  = 3000, 1000
		killAt       = 1000
		maxEmit      = 250 * time.Millisecond // one Emit, on a busy two-core machine
		streamMargin = 2 * time.Second        // beyond count/rate for the whole stream
	)
	var ls []*listener
	for i := range 3 {
		ls = append(ls, startListener(t, fmt.Sprintf("listener%d", i+1), env, event))
	}
	em := startCaller(t, "emitter", env)
	warmUp(t, em.probeWith(event), ls...)

	tag := em.emit("event="+event, fmt.Sprintf("count=%d", count), fmt.Sprintf("rate=%d", rate), fmt.Sprintf("underway=%d", killAt))
	em.waitLine(tag+" underway", 30*time.Second)
	// The first two peers of a network are its hubs: the third listener
	// is a leaf, whose death touches nobody else's path (a hub's takes
	// the events in flight through it: TestHubKilled).
	victim, survivors := ls[2], []*listener{ls[0], ls[1]}
	victim.kill()
	killed := time.Now()
	heard := victim.stream(em.id)
	t.Logf("%s killed (SIGKILL, pid %d) after %d events were out; it had printed %d", victim.name, victim.cmd.Process.Pid, killAt, heard.received)
	if heard.received == 0 || heard.received >= count {
		t.Errorf("%s printed %d of %d events before the kill: the kill did not land mid-stream", victim.name, heard.received, count)
	}

	r := em.result(tag, 60*time.Second)
	maxLatency := time.Duration(r.MaxLatencyMS * float64(time.Millisecond))
	t.Logf("emitter: %d emits in %.0fms, ok %d, errors %v %v, max Emit %s, goroutines %d -> %d (settled in %.0fms)",
		r.Calls, r.ElapsedMS, r.OK, r.Errors, r.Samples, maxLatency, r.GoroutinesBefore, r.GoroutinesAfter, r.SettleMS)
	if r.Calls != count || r.OK != count {
		t.Errorf("emitter: %d of %d emits made, %d returned nil; want all %d nil: %v", r.Calls, count, r.OK, count, r.Samples)
	}
	if maxLatency > maxEmit {
		t.Errorf("emitter: an Emit took %s, want at most %s", maxLatency, maxEmit)
	}
	if elapsed := time.Duration(r.ElapsedMS * float64(time.Millisecond)); elapsed > count*time.Second/rate+streamMargin {
		t.Errorf("emitter: the stream took %s, want about %s: the kill slowed it", elapsed, count*time.Second/rate)
	}
	if r.GoroutinesAfter > r.GoroutinesBefore+3 {
		t.Errorf("emitter: goroutines %d before the stream, still %d five seconds after it", r.GoroutinesBefore, r.GoroutinesAfter)
	}

	for _, l := range survivors {
		l.wait(30*time.Second, func() bool { return l.streams[string(em.id)] != nil && l.streams[string(em.id)].next >= count })
		s := l.stream(em.id)
		t.Logf("%s: %s", l.name, s)
		if !s.exactly(count) {
			t.Errorf("%s: want events 0..%d exactly once and in order, got %s", l.name, count-1, s)
		}
		if errs := l.errorLines(); len(errs) > 0 {
			t.Errorf("%s reported errors: %q", l.name, errs)
		}
		if done, err := l.exited(); done {
			t.Errorf("%s exited: %v", l.name, err)
		}
	}
	t.Logf("the survivors had every event %s after the kill", time.Since(killed).Round(time.Millisecond))
	select {
	case <-em.done:
		t.Errorf("the emitter exited: %v", em.exitErr())
	default:
	}
}
