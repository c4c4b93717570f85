package integration

// Hostile input for events: bad event names through `appnet emit`,
// `appnet listen` and the API; payloads that do not decode, published
// with a plain nats.go client onto a subscriber's subject; a flood at one
// slow subscriber.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/appnet-go/appnet/bus"
	"github.com/appnet-go/appnet/internal/events"
	"github.com/appnet-go/appnet/internal/lower"
	"github.com/appnet-go/appnet/internal/peer"
	"github.com/appnet-go/appnet/internal/testnet"
)

// badEventNames are names every emit and subscribe must refuse with
// ErrInvalidEvent: wildcards, whitespace, empty tokens.
var badEventNames = []string{
	"", ".", "..", ".a", "a.", "a..b", "a.b.",
	"*", ">", "a.*", "a.>", "news.*.today", "a*", "*a", "a>b",
	" ", "a b", " a", "a ", "a\tb", "a\nb", "a\r\nb", "a\fb", "news. today",
}

// startTestPeer starts a bus peer in the test process on host, meshed with
// the peers in the port range from port.
func startTestPeer(t *testing.T, host string, port int, opts ...peer.Option) *bus.Peer {
	t.Helper()
	testnet.MustLoopback(t, host)
	cfg := peer.DefaultLocalConfig()
	cfg.Host, cfg.PortStart, cfg.PortRange, cfg.Scan = host, port, 5, host
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := bus.Start(ctx, cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestHostileEventNames: a name with wildcards, whitespace or empty
// tokens is refused with a clear error wrapping ErrInvalidEvent by
// `appnet emit`, `appnet listen`, events.Emit, events.Subscribe and
// bus.NewEvent, and nothing is published: a nats.go subscriber on
// net.event.> hears only the good events around them.
func TestHostileEventNames(t *testing.T) {
	t.Parallel()
	host, port, env := netEnv(t)
	testnet.MustLoopback(t, host)
	observer := start(t, "appnet", env, "serve")
	observerID := observer.waitLine("ready ", 20*time.Second)
	nc := dialNATS(t, peerURL(t, observerID))
	heard, err := nc.SubscribeSync("net.event.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	p := startTestPeer(t, host, port)
	// The observer's interest has reached p's server once a probe comes through.
	for k := 0; ; k++ {
		if err := events.Emit(lower.Peer(p), "probe", k); err != nil {
			t.Fatal(err)
		}
		if _, err := heard.NextMsg(100 * time.Millisecond); err == nil {
			break
		}
		if k == 100 {
			t.Fatalf("the observer heard none of 100 probes from %s", p.ID())
		}
	}
	for {
		if _, err := heard.NextMsg(50 * time.Millisecond); err != nil {
			break // the probes still on their way are drained
		}
	}

	clear := func(who, name string, err error) {
		t.Helper()
		if !errors.Is(err, events.ErrInvalidEvent) || !strings.Contains(err.Error(), fmt.Sprintf("%q", name)) {
			t.Errorf("%s(%q) = %v; want an error wrapping ErrInvalidEvent that quotes the name", who, name, err)
		}
	}
	for _, name := range badEventNames {
		clear("events.Emit", name, events.Emit(lower.Peer(p), name, 1))
		sub, err := events.Subscribe(lower.Peer(p), name, func(context.Context, events.Delivery[int]) {})
		clear("events.Subscribe", name, err)
		if sub != nil {
			t.Errorf("events.Subscribe(%q) returned a subscription", name)
			sub.Close()
		}
		clear("bus.NewEvent.Via.Emit", name, bus.NewEvent[int](name, nil).Via(p).Emit(1))
		bsub, err := bus.NewEvent[int](name, nil).Via(p).Subscribe(func(context.Context, bus.Delivery[int]) {})
		clear("bus.NewEvent.Via.Subscribe", name, err)
		if !errors.Is(err, bus.ErrInvalidName) {
			t.Errorf("bus.NewEvent(%q).Via(p).Subscribe = %v; want an error matching bus.ErrInvalidName", name, err)
		}
		if bsub != nil {
			t.Errorf("bus.NewEvent(%q).Via(p).Subscribe returned a subscription", name)
			bsub.Close()
		}
	}

	// The CLI: refused before a peer starts, a usage error (exit code 2),
	// the reason on stderr.
	var slowest time.Duration
	for _, name := range badEventNames {
		began := time.Now()
		out, errOut, err := run(t, 20*time.Second, "appnet", env, "emit", "None", name, "1")
		slowest = max(slowest, time.Since(began))
		if exitCode(err) != 2 || !strings.Contains(errOut, "invalid event name") || strings.Contains(out, "emitted") {
			t.Errorf("appnet emit None %q: exit %d, stdout %q, stderr %q; want exit 2 and \"invalid event name\"", name, exitCode(err), out, errOut)
		}
	}
	for _, name := range []string{"", "a.*", ">", "a b", "a..b", "a\nb"} {
		began := time.Now()
		out, errOut, err := run(t, 20*time.Second, "appnet", env, "listen", name)
		slowest = max(slowest, time.Since(began))
		if exitCode(err) != 2 || !strings.Contains(errOut, "invalid event name") || strings.Contains(out, "listening for") {
			t.Errorf("appnet listen %q: exit %d, stdout %q, stderr %q; want exit 2 and \"invalid event name\"", name, exitCode(err), out, errOut)
		}
	}
	t.Logf("%d bad names refused by the API and %d CLI runs; the slowest CLI run took %s", len(badEventNames), len(badEventNames)+6, slowest)

	// Nothing was published: what the observer hears next is the good
	// event that follows, from p and then from the CLI. `appnet emit`
	// emits once its scan is done: on a busy machine a probe of the scan
	// can time out and the event leave before the route to the observer
	// is up (delivery is at most once), so it is tried up to five times.
	if err := events.Emit(lower.Peer(p), "after.api", "end"); err != nil {
		t.Fatal(err)
	}
	expectNext := func(want string, within time.Duration) bool {
		t.Helper()
		m, err := heard.NextMsg(within)
		if err != nil {
			return false
		}
		if !strings.HasSuffix(m.Subject, "."+want) {
			t.Errorf("the observer heard %s (%s) when it expected %s: a bad name was published", m.Subject, describeMsg(m), want)
		}
		return true
	}
	if !expectNext("after.api", 10*time.Second) {
		t.Fatalf("the observer did not hear after.api")
	}
	for attempt := 1; ; attempt++ {
		if out, errOut, err := run(t, 20*time.Second, "appnet", append(env, "NET_SCAN_TIMEOUT=1s"), "emit", "None", "after.cli", `"end"`); err != nil {
			t.Fatalf("appnet emit of a good event: %v\n%s%s", err, out, errOut)
		}
		if expectNext("after.cli", 5*time.Second) {
			break
		}
		if attempt == 5 {
			t.Fatalf("the observer heard none of 5 good events from appnet emit")
		}
		t.Logf("attempt %d: the observer did not hear appnet emit's good event", attempt)
	}
	if _, err := lower.Peer(p).Call(context.Background(), peer.ID(observerID), peer.ConnPassThrough, []byte(`"still here"`)); err != nil {
		t.Errorf("the peer that was given the bad names no longer calls: %v", err)
	}
}

// TestHostileEventNameTooLong: an event name longer than a NATS control
// line allows is refused like any bad name (it once got through, and the
// server then closed the peer's connection for good).
func TestHostileEventNameTooLong(t *testing.T) {
	t.Parallel()
	host, port, env := netEnv(t)
	long := strings.Repeat("x", 4100) // with net.event.<group>.<role>.<ID>. past the server's 4096-byte control line
	var bugs []string
	t.Run("events.Emit", func(t *testing.T) {
		p := startTestPeer(t, host, port)
		err := events.Emit(lower.Peer(p), long, 1)
		if err == nil {
			err = p.Conn().Flush()
		}
		_, callErr := lower.Peer(p).Call(context.Background(), p.ID(), peer.ConnPassThrough, []byte(`1`))
		if !errors.Is(err, events.ErrInvalidEvent) || callErr != nil {
			bugs = append(bugs, fmt.Sprintf("events.Emit(4100-byte name) = %v, and then a call to itself: %v", err, callErr))
		}
	})
	t.Run("events.Subscribe", func(t *testing.T) {
		p := startTestPeer(t, host, port)
		_, err := events.Subscribe(lower.Peer(p), long, func(context.Context, events.Delivery[int]) {})
		_, callErr := lower.Peer(p).Call(context.Background(), p.ID(), peer.ConnPassThrough, []byte(`1`))
		if !errors.Is(err, events.ErrInvalidEvent) || callErr != nil {
			bugs = append(bugs, fmt.Sprintf("events.Subscribe(4100-byte name) = %v, and then a call to itself: %v", err, callErr))
		}
	})
	t.Run("appnet emit", func(t *testing.T) {
		out, errOut, err := run(t, 20*time.Second, "appnet", env, "emit", "None", long, "1")
		if exitCode(err) != 2 || !strings.Contains(errOut, "invalid event name") {
			bugs = append(bugs, fmt.Sprintf("appnet emit None <4100-byte name> 1: %v, stdout %q, stderr %q",
				cmp.Or(err, error(errExit0)), clipLine(out), clipLine(errOut)))
		}
	})
	if len(bugs) == 0 {
		return
	}
	t.Error("a 4100-byte event name:\n\t" + strings.Join(bugs, "\n\t"))
}

var errExit0 = errors.New("exit status 0")

// TestHostileEventPayloads: payloads that do not decode, published with a
// plain nats.go client onto a subscriber's subject. `appnet listen`
// prints an "error:" line naming the event and the emitter and prints the
// good event that follows; an in-process subscriber of a typed event gets
// each through OnError (a handler panic too) and then the next good event.
func TestHostileEventPayloads(t *testing.T) {
	t.Parallel()
	host, port, env := netEnv(t)
	nested := strings.Repeat("[", 100_000)
	balanced := nested + strings.Repeat("]", 100_000)
	type row struct {
		name string
		data []byte
		err  string // in the error reported; empty: delivered, no error
	}

	t.Run("appnet listen", func(t *testing.T) {
		l := start(t, "appnet", env, "listen", "--group", "g1", "news")
		id := strings.TrimSpace(l.waitLine(`listening for "news" as `, 20*time.Second))
		nc := dialNATS(t, peerURL(t, id))
		emitter := peer.NewID(host, port+4, "g1") // a peer that is not running
		subject := events.Subject("g1", false, emitter, "news")
		rows := []row{
			{"not JSON", []byte("{bad"), "does not decode"},
			{"invalid UTF-8", []byte("\xff\xfe\xfd"), "does not decode"},
			{"truncated string", []byte(`"unterminated`), "does not decode"},
			{"trailing garbage", []byte(`1 2`), "does not decode"},
			{"100,000 unclosed arrays", []byte(nested), "does not decode"},
			{"100,000 nested arrays", []byte(balanced), "does not decode"},
			{"NUL bytes", []byte("\x00\x00"), "does not decode"},
			{"empty payload is the zero value", nil, ""},
		}
		for i, r := range rows {
			seen := l.count()
			for _, data := range [][]byte{r.data, []byte(fmt.Sprintf(`{"good":%d}`, i))} {
				if err := nc.Publish(subject, data); err != nil {
					t.Fatalf("%s: publishing: %v", r.name, err)
				}
			}
			good := l.waitContaining(fmt.Sprintf(`%s news {"good":%d}`, emitter, i), seen, 10*time.Second)
			got := eventOutput(l.linesBetween(seen, good))
			switch {
			case r.err != "" && (len(got) != 1 || !strings.HasPrefix(got[0], "error: ") ||
				!strings.Contains(got[0], `event "news" from `+string(emitter)) || !strings.Contains(got[0], r.err)):
				t.Errorf("%s: printed %q before the next good event; want one \"error:\" line naming the event and the emitter, saying %q", r.name, got, r.err)
			case r.err == "" && (len(got) != 1 || !strings.HasSuffix(got[0], string(emitter)+" news ")):
				t.Errorf("%s: printed %q before the next good event; want the event with an empty value", r.name, got)
			}
		}
		if strings.Contains(l.output(), "panic") {
			t.Errorf("the listener logged a panic")
		}
	})

	t.Run("events.Subscribe", func(t *testing.T) {
		p := startTestPeer(t, host, port, peer.WithGroup("g2"))
		type reading struct {
			N int `json:"n"`
		}
		outcomes := make(chan string, 100)
		sub, err := events.Subscribe(lower.Peer(p), "typed", func(_ context.Context, d events.Delivery[reading]) {
			if d.Value.N < 0 {
				panic(fmt.Sprintf("negative reading %d", d.Value.N))
			}
			outcomes <- fmt.Sprintf("value %d from %s", d.Value.N, d.From)
		}, events.OnError(func(err error) { outcomes <- "error " + err.Error() }))
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		nc := dialNATS(t, peerURL(t, string(p.ID())))
		emitter := peer.NewID(host, port+4, "g2")
		subject := events.Subject("g2", true, emitter, "typed")
		rows := []row{
			{"a string into a struct", []byte(`"text"`), "does not decode"},
			{"a wrong field type", []byte(`{"n":"x"}`), "does not decode"},
			{"a number past int64", []byte(`{"n":1e400}`), "does not decode"},
			{"not JSON", []byte(`{bad`), "does not decode"},
			{"invalid UTF-8", []byte("\xff"), "does not decode"},
			{"100,000 nested arrays", []byte(balanced), "does not decode"},
			{"a handler panic", []byte(`{"n":-1}`), "handler panicked: negative reading -1"},
		}
		for i, r := range rows {
			for _, data := range [][]byte{r.data, []byte(fmt.Sprintf(`{"n":%d}`, i))} {
				if err := nc.Publish(subject, data); err != nil {
					t.Fatalf("%s: publishing: %v", r.name, err)
				}
			}
			want := []string{"error ", fmt.Sprintf("value %d from %s", i, emitter)}
			for j, w := range want {
				select {
				case got := <-outcomes:
					if j == 0 && (!strings.HasPrefix(got, w) || !strings.Contains(got, `event "typed" from `+string(emitter)) || !strings.Contains(got, r.err)) ||
						j == 1 && got != w {
						t.Errorf("%s: outcome %d is %q; want %q (saying %q)", r.name, j+1, got, w, r.err)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("%s: no outcome %d (%q) within 10s", r.name, j+1, w)
				}
			}
		}
	})
}

// TestHostileEventFloodAtSlowSubscriber: an emitter (the caller role)
// floods 1,600 events of 16 KiB, at 800/s, at two `appnet listen`
// processes: first a control flood that both print in full, then one
// during which the output of one of them is not read, so it blocks
// writing and its subscription falls behind its bound (--buffer=400
// events, half a second of the flood: with 100, a listener that stalled
// for 125 ms while every package's tests ran at once dropped 41 events
// of the control; the default 64 MiB would need a flood too heavy for a
// busy 2-core machine to print reliably in the control). The
// emitter is not slowed (every Emit nil and quick, the flood about as
// fast as the control); the reading listener prints every event in
// order; the blocked one, once read again, prints "error: ... slow
// subscriber" and its events in order, and what it printed plus what its
// info counts as dropped is every event.
//
// Not parallel: it moves some 75 MB between processes and measures how
// long the emitter takes.
func TestHostileEventFloodAtSlowSubscriber(t *testing.T) {
	_, env := faultEnv(t)
	const (
		event       = "flood"
		count, rate = 1600, 800
		size        = 16 << 10
		maxEmit     = 250 * time.Millisecond // unless the control's slowest Emit took half as long
	)
	fast := startListener(t, "reading listener", env, event)
	slow := startListener(t, "blocked listener", env, "--buffer=400", event)
	em := startCaller(t, "emitter", env)
	warmUp(t, em.probeWith(event), fast, slow)
	flood := func(what string, from int) (elapsed, maxLatency time.Duration) {
		t.Helper()
		tag := em.emit("event="+event, fmt.Sprintf("count=%d", count), fmt.Sprintf("rate=%d", rate), fmt.Sprintf("size=%d", size), fmt.Sprintf("from=%d", from))
		r := em.result(tag, 60*time.Second)
		maxLatency = time.Duration(r.MaxLatencyMS * float64(time.Millisecond))
		elapsed = time.Duration(r.ElapsedMS * float64(time.Millisecond))
		t.Logf("%s: %d emits of %d KiB in %s (schedule %s), ok %d, errors %v %v, max Emit %s",
			what, r.Calls, size>>10, elapsed.Round(time.Millisecond), count*time.Second/rate, r.OK, r.Errors, r.Samples, maxLatency)
		if r.Calls != count || r.OK != count {
			t.Errorf("%s: %d of %d emits made, %d returned nil; want all nil", what, r.Calls, count, r.OK)
		}
		return elapsed, maxLatency
	}
	// The control: the same flood while both subscribers keep up, for
	// what the emitter itself costs (encoding and routing 64 KiB values
	// is slow under the race detector).
	control, controlMax := flood("control flood, both subscribers reading", 0)
	for _, l := range []*listener{fast, slow} {
		l.waitFor("the control flood", 30*time.Second, func() bool { s := l.streams[string(em.id)]; return s != nil && s.next >= count })
		if s := l.stream(em.id); !s.exactly(count) {
			t.Fatalf("%s: the control flood: %s; want every event once, in order", l.name, s)
		}
	}

	slow.pause()
	elapsed, maxLatency := flood("flood with a blocked subscriber", count)
	if limit := max(control, count*time.Second/rate)*3/2 + time.Second; elapsed > limit {
		t.Errorf("the flood with a blocked subscriber took %s, the control %s: more than %s, the slow subscriber slowed the emitter", elapsed, control, limit)
	}
	if limit := max(maxEmit, 2*controlMax); maxLatency > limit {
		t.Errorf("an Emit took %s with a blocked subscriber (%s in the control): more than %s", maxLatency, controlMax, limit)
	}

	fast.wait(30*time.Second, func() bool { s := fast.streams[string(em.id)]; return s != nil && s.next >= 2*count })
	if s := fast.stream(em.id); !s.exactly(2*count) || len(fast.errorLines()) > 0 {
		t.Errorf("%s: %s, errors %q; want every event of both floods once, in order, no error", fast.name, s, fast.errorLines())
	}

	// The blocked listener is read again: it reports the drop, then
	// prints what it had buffered, in order.
	slow.unpause()
	if !slow.wait(30*time.Second, func() bool {
		for _, e := range slow.errors {
			if strings.Contains(e, "slow subscriber") {
				return true
			}
		}
		return false
	}) {
		t.Fatalf("%s never reported dropping events: %s", slow.name, slow.summary())
	}
	// listen attached to a peer's server (it has none of its own): ask
	// it through the emitter's, which is in the same cluster.
	nc := dialNATS(t, peerURL(t, string(em.id)))
	var dropped int64
	var info peer.Info
	// The drops are counted as they happen; the count is final once the
	// flood has passed, which it has: the emitter is done.
	m, err := nc.Request(peer.CallSubject(slow.id, peer.ConnInfo), nil, 10*time.Second)
	if err != nil || json.Unmarshal(m.Data, &info) != nil {
		t.Fatalf("info of %s: %v %s", slow.name, err, describeMsg(m))
	}
	dropped = info.EventsDropped
	slow.wait(30*time.Second, func() bool {
		s := slow.streams[string(em.id)]
		return s != nil && int64(s.received)+dropped >= 2*count
	})
	s := slow.stream(em.id)
	t.Logf("%s: %s (both floods); info events_dropped %d; reported %q", slow.name, s, dropped, slow.errorLines())
	if dropped == 0 || s.backwards != 0 || int64(s.received)+dropped != 2*count {
		t.Errorf("%s: printed %d events (%s) and counts %d dropped; want drops, in order, adding up to the %d of both floods", slow.name, s.received, s, dropped, 2*count)
	}
	for _, e := range slow.errorLines() {
		if !strings.Contains(e, `event "flood": slow subscriber: `) || !strings.Contains(e, "events dropped") {
			t.Errorf("%s: unclear error line %q", slow.name, e)
		}
	}
	for _, l := range []*listener{fast, slow} {
		if done, err := l.exited(); done {
			t.Errorf("%s exited: %v", l.name, err)
		}
	}
}

// eventOutput keeps the lines of `appnet listen` output that are events
// or errors, not log lines.
func eventOutput(lines []string) []string {
	var out []string
	for _, line := range lines {
		f := strings.SplitN(line, " ", 2)
		if _, err := time.Parse(time.RFC3339Nano, f[0]); err == nil || strings.HasPrefix(line, "error: ") {
			out = append(out, line)
		}
	}
	return out
}

// count returns how many lines p has printed.
func (p *proc) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.lines)
}

// linesBetween returns lines [from, to) of p's output.
func (p *proc) linesBetween(from, to int) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines[from:to]...)
}

// waitContaining waits until a line from index from on contains s and
// returns its index; it fails the test after timeout or if p exits.
func (p *proc) waitContaining(s string, from int, timeout time.Duration) int {
	p.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for i := from; ; {
		p.mu.Lock()
		for ; i < len(p.lines); i++ {
			if strings.Contains(p.lines[i], s) {
				p.mu.Unlock()
				return i
			}
		}
		grew := p.grew
		p.mu.Unlock()
		select {
		case <-grew:
		case <-p.done:
			if p.count() == i {
				p.t.Fatalf("%s exited (%v) before printing %q", p.name, p.exitErr(), s)
			}
		case <-deadline.C:
			p.t.Fatalf("%s did not print %q within %s", p.name, s, timeout)
		}
	}
}
