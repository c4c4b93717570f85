package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/appnet-go/appnet/bus"
	"github.com/appnet-go/appnet/internal/events"
	"github.com/appnet-go/appnet/internal/peer"
	"github.com/nats-io/nats.go"
)

// The events scenario: one emitter (the bench process) to 1 and to 4
// subscriber processes, appnet (bus.Event, events.Subscribe) and raw
// nats.go, the rate measured at each subscriber (eventcounter.go).

// The events measurements: who emits and subscribes.
const (
	eventsRawTCP  = "raw-tcp"       // raw nats.go, TCP clients of routed servers
	eventsRawIn   = "raw-inprocess" // raw nats.go, in-process clients of routed servers: appnet's topology
	eventsRawSubj = "raw-subject"   // raw-inprocess with appnet's subject, no headers
	eventsRawHdr  = "raw-headers"   // raw-subject with the two optional headers: what asking for them costs
	eventsAppnet  = "appnet"        // bus Event.Via(p).Emit to events.Subscribe
)

var eventsKinds = []string{eventsRawTCP, eventsRawIn, eventsRawSubj, eventsRawHdr, eventsAppnet}

// eventsSubscribers are the subscriber counts measured.
var eventsSubscribers = []int{1, 4}

// The event and the raw subject measured; the value, a JSON string of 126
// letters: 128 bytes on the wire.
const (
	eventName     = "bench.tick"
	rawEventTopic = "bench.tick"
)

var eventValue = strings.Repeat("x", 126)

type eventsKey struct {
	kind string
	subs int
}

// eventsSample is one run: an emitter and its subscribers.
type eventsSample struct {
	perSub   []float64 // events/s at each subscriber, first to last event received
	received []int64   // events each subscriber received
	dropped  int64     // events the subscribers' clients dropped (slow consumer), in all
	errs     int64     // errors the subscriptions reported, in all
	emitRate float64   // events/s of the emit loop, up to its final flush
}

// runEvents measures each kind with 1 and with 4 subscriber processes,
// fresh processes each time.
func runEvents(ctx context.Context, exe string, o options, x map[eventsKey][]eventsSample, progress io.Writer) error {
	for _, subs := range eventsSubscribers {
		rot := len(x[eventsKey{eventsAppnet, subs}]) // a different kind first in each repetition
		for i := range eventsKinds {
			kind := eventsKinds[(rot+i)%len(eventsKinds)]
			fmt.Fprintf(progress, "  events: %s, %d subscriber(s)\n", kind, subs)
			s, err := eventsRun(ctx, exe, o, kind, subs)
			if err != nil {
				return fmt.Errorf("%s, %d subscribers: %w", kind, subs, err)
			}
			k := eventsKey{kind, subs}
			x[k] = append(x[k], s)
		}
	}
	return nil
}

// An emitter is the emitting side of an events run.
type emitter struct {
	emit, warm, flush func() error
	close             func()
}

// eventsRun starts subs subscriber processes and an emitter in this
// process, warms the subscriptions up (until every subscriber heard a
// warm-up event, which proves the interest reached the emitter's server),
// emits o.events values as fast as it can, flushes, and collects what
// each subscriber counted.
func eventsRun(ctx context.Context, exe string, o options, kind string, subs int) (eventsSample, error) {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	var cs children
	defer cs.stopAll()
	var e emitter
	var err error
	if kind == eventsAppnet {
		e, err = appnetEmitter(ctx, exe, o, subs, &cs)
	} else {
		e, err = rawEmitter(ctx, exe, o, kind, subs, &cs)
	}
	if e.close != nil {
		defer e.close()
	}
	if err != nil {
		return eventsSample{}, err
	}
	if err := warmUpEvents(ctx, cs, e.warm, e.flush); err != nil {
		return eventsSample{}, cs.explain(err)
	}
	t := time.Now()
	for i := range o.events {
		if err := e.emit(); err != nil {
			return eventsSample{}, cs.explain(fmt.Errorf("emitting event %d: %w", i+1, err))
		}
	}
	if err := e.flush(); err != nil {
		return eventsSample{}, cs.explain(fmt.Errorf("flushing: %w", err))
	}
	out := eventsSample{emitRate: float64(o.events) / time.Since(t).Seconds()}
	return out, collectEvents(ctx, cs, &out)
}

// appnetEmitter starts subs subscriber peers and an emitting peer in this
// process, on one host.
func appnetEmitter(ctx context.Context, exe string, o options, subs int, cs *children) (emitter, error) {
	host := o.subnetHost(eventsBlock, 1)
	for range subs {
		c, _, err := startPeer(ctx, exe, peerSpec{host: host, port: o.port, portRange: peerPortRange, env: []string{"NET_SCAN_INTERVAL=0"},
			args: append([]string{"-count", eventName, "-expect", strconv.Itoa(o.events)}, childProfile(o, "events", eventsAppnet, subs, len(*cs))...)})
		if err != nil {
			return emitter{}, err
		}
		cs.add(c)
	}
	p, err := startLocal(ctx, localConfig(host, o.port, peerPortRange))
	if err != nil {
		return emitter{}, err
	}
	ev, wev := bus.NewEvent[string](eventName, nil).Via(p), bus.NewEvent[string](eventName+".warm", nil).Via(p)
	return emitter{
		emit:  func() error { return ev.Emit(eventValue) },
		warm:  func() error { return wev.Emit(eventValue) },
		flush: p.Conn().Flush,
		close: func() { _ = p.Close() },
	}, nil
}

// rawEmitter starts subs raw subscriber processes, each a server routed to
// the emitter's server in this process, for a raw kind of run.
func rawEmitter(ctx context.Context, exe string, o options, kind string, subs int, cs *children) (emitter, error) {
	inProcess := kind != eventsRawTCP
	host := o.subnetHost(eventsBlock, 2)
	topic, header := rawEventTopic, nats.Header(nil)
	if kind == eventsRawSubj || kind == eventsRawHdr {
		// What events.Emit sends for a peer at host:port+20 of group None.
		id := peer.NewID(host, o.port+20, "None")
		topic = events.Subject("None", false, id, eventName)
		if kind == eventsRawHdr {
			header = nats.Header{events.HeaderEmitter: []string{string(id)}, events.HeaderEvent: []string{eventName}}
		}
	}
	var routes []string
	for i := range subs {
		c, err := startRaw(ctx, exe, rawSpec{host: host, port: o.port + 21 + i, inProcess: inProcess,
			args: append([]string{"-count", topic, "-expect", strconv.Itoa(o.events)}, childProfile(o, "events", kind, subs, i)...)})
		if err != nil {
			return emitter{}, err
		}
		cs.add(c)
		routes = append(routes, c.ready[1])
	}
	s, nc, err := rawServer(ctx, host, o.port+20, inProcess)
	if err != nil {
		return emitter{}, err
	}
	e := emitter{close: func() { nc.Close(); s.Close() }, flush: nc.Flush}
	if err := s.AddRoutes(routes...); err != nil {
		return e, err
	}
	data := []byte(`"` + eventValue + `"`)
	if header != nil {
		e.emit = func() error { return nc.PublishMsg(&nats.Msg{Subject: topic, Data: data, Header: header}) }
	} else {
		e.emit = func() error { return nc.Publish(topic, data) }
	}
	e.warm = func() error { return nc.Publish(topic+".warm", data) }
	return e, nil
}

// collectEvents waits for what each subscriber counted, into out.
func collectEvents(ctx context.Context, cs children, out *eventsSample) error {
	for _, c := range cs {
		_, f, err := c.waitWord(ctx, 2*time.Minute, "got")
		if err != nil {
			return err
		}
		if len(f) != 5 {
			return fmt.Errorf("subscriber said %q", f)
		}
		v, err := ints(f...)
		if err != nil {
			return err
		}
		n, first, last := v[0], v[1], v[2]
		rate := 0.0
		if n > 1 && last > first {
			rate = float64(n-1) / time.Duration(last-first).Seconds()
		}
		out.perSub = append(out.perSub, rate)
		out.received = append(out.received, n)
		out.dropped += v[3]
		out.errs += v[4]
	}
	return nil
}

// warmUpEvents sends warm-up events every 2 ms until every subscriber
// says it heard one, for at most 10 s.
func warmUpEvents(ctx context.Context, cs children, warm, flush func() error) error {
	var wg sync.WaitGroup
	errs := make([]error, len(cs))
	for i, c := range cs {
		wg.Go(func() { _, _, errs[i] = c.waitWord(ctx, 10*time.Second, "warm") })
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := warm(); err != nil {
			return fmt.Errorf("warm-up event: %w", err)
		}
		if err := flush(); err != nil {
			return fmt.Errorf("warm-up flush: %w", err)
		}
		select {
		case <-done:
			for _, err := range errs {
				if err != nil {
					return fmt.Errorf("warm-up: %w", err)
				}
			}
			return nil
		case <-tick.C:
		}
	}
}

// childProfile returns the -cpuprofile argument of a child when
// -cpuprofile is set: <dir>/<scenario>-<kind>-<n>-<i>-<pid of the bench>.pprof.
func childProfile(o options, scenario, kind string, n, i int) []string {
	if o.cpuprofile == "" {
		return nil
	}
	name := fmt.Sprintf("%s-%s-%d-%d-%d.pprof", scenario, kind, n, i, time.Now().UnixNano())
	return []string{"-cpuprofile", filepath.Join(o.cpuprofile, name)}
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

// printEvents prints the events section: a row per kind and subscriber
// count, and the targets.
func printEvents(w io.Writer, o options, x map[eventsKey][]eventsSample) {
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
			ss := x[eventsKey{kind, subs}]
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
		app := x[eventsKey{eventsAppnet, subs}]
		wire := targetEventsVsWire1
		if subs > 1 {
			wire = targetEventsVsWire4
		}
		t.row(fmt.Sprintf("appnet / raw on appnet's subject, no headers (the same wire), %d subscriber(s)", subs),
			eventsRatio(app, x[eventsKey{eventsRawSubj, subs}]), "%.2f",
			fmt.Sprintf(">= %.2f", wire), func(v float64) bool { return v >= wire })
		t.row(fmt.Sprintf("appnet / raw in-process (same topology, plain subject), %d subscriber(s)", subs),
			eventsRatio(app, x[eventsKey{eventsRawIn, subs}]), "%.2f",
			fmt.Sprintf(">= %.1f (aim)", aimEventsVsRaw), func(v float64) bool { return v >= aimEventsVsRaw })
		t.row(fmt.Sprintf("(context) raw on appnet's subject / raw in-process, %d subscriber(s)", subs),
			eventsRatio(x[eventsKey{eventsRawSubj, subs}], x[eventsKey{eventsRawIn, subs}]), "%.2f", "", nil)
		t.row(fmt.Sprintf("(context) raw on appnet's subject with the two headers / without, %d subscriber(s)", subs),
			eventsRatio(x[eventsKey{eventsRawHdr, subs}], x[eventsKey{eventsRawSubj, subs}]), "%.2f", "", nil)
		t.row(fmt.Sprintf("(context) appnet / raw TCP clients, %d subscriber(s)", subs),
			eventsRatio(app, x[eventsKey{eventsRawTCP, subs}]), "%.2f", "", nil)
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
