package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/appnet-go/appnet/bus"
	"github.com/appnet-go/appnet/internal/events"
	"github.com/appnet-go/appnet/internal/peer"
	"github.com/nats-io/nats.go"
)

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
func runEvents(ctx context.Context, exe string, o options, x *extraResults, progress io.Writer) error {
	if x.events == nil {
		x.events = map[eventsKey][]eventsSample{}
	}
	for _, subs := range eventsSubscribers {
		rot := len(x.events[eventsKey{eventsAppnet, subs}]) // a different kind first in each repetition
		for i := range eventsKinds {
			kind := eventsKinds[(rot+i)%len(eventsKinds)]
			fmt.Fprintf(progress, "  events: %s, %d subscriber(s)\n", kind, subs)
			s, err := eventsRun(ctx, exe, o, kind, subs)
			if err != nil {
				return fmt.Errorf("%s, %d subscribers: %w", kind, subs, err)
			}
			k := eventsKey{kind, subs}
			x.events[k] = append(x.events[k], s)
		}
	}
	return nil
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
	expect := strconv.Itoa(o.events)
	var emit, warm func() error
	var flush func() error
	switch kind {
	case eventsAppnet:
		host := o.subnetHost(eventsBlock, 1)
		for range subs {
			c, err := startChild(ctx, exe, peerEnv(host, o.port, peerPortRange, "NET_SCAN_INTERVAL=0"),
				append([]string{"-role", rolePeer, "-count", eventName, "-expect", expect}, childProfile(o, "events", kind, subs, len(cs))...)...)
			if err != nil {
				return eventsSample{}, err
			}
			cs.add(c)
		}
		start, cancel := context.WithTimeout(ctx, 10*time.Second)
		p, err := bus.Start(start, benchPeerConfig(host, o.port, peerPortRange))
		cancel()
		if err != nil {
			return eventsSample{}, err
		}
		defer p.Close()
		ev, wev := bus.NewEvent[string](eventName, nil).Via(p), bus.NewEvent[string](eventName+".warm", nil).Via(p)
		emit = func() error { return ev.Emit(eventValue) }
		warm = func() error { return wev.Emit(eventValue) }
		flush = p.Conn().Flush
	default:
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
			args := []string{"-role", roleRaw, "-host", host, "-port", strconv.Itoa(o.port + 21 + i),
				"-count", topic, "-expect", expect}
			args = append(args, childProfile(o, "events", kind, subs, i)...)
			if inProcess {
				args = append(args, "-inprocess")
			}
			c, err := startChild(ctx, exe, nil, args...)
			if err != nil {
				return eventsSample{}, err
			}
			cs.add(c)
			if len(c.ready) != 2 {
				return eventsSample{}, fmt.Errorf("raw child said %q", c.ready)
			}
			if err := onLoopback(c.ready...); err != nil {
				return eventsSample{}, err
			}
			routes = append(routes, c.ready[1])
		}
		s, nc, err := rawServer(ctx, host, o.port+20, inProcess)
		if err != nil {
			return eventsSample{}, err
		}
		defer s.Close()
		defer nc.Close()
		if err := s.AddRoutes(routes...); err != nil {
			return eventsSample{}, err
		}
		data := []byte(`"` + eventValue + `"`)
		if header != nil {
			emit = func() error { return nc.PublishMsg(&nats.Msg{Subject: topic, Data: data, Header: header}) }
		} else {
			emit = func() error { return nc.Publish(topic, data) }
		}
		warm = func() error { return nc.Publish(topic+".warm", data) }
		flush = nc.Flush
	}
	if err := warmUpEvents(ctx, cs, warm, flush); err != nil {
		return eventsSample{}, cs.explain(err)
	}
	t := time.Now()
	for i := range o.events {
		if err := emit(); err != nil {
			return eventsSample{}, cs.explain(fmt.Errorf("emitting event %d: %w", i+1, err))
		}
	}
	if err := flush(); err != nil {
		return eventsSample{}, cs.explain(fmt.Errorf("flushing: %w", err))
	}
	out := eventsSample{emitRate: float64(o.events) / time.Since(t).Seconds()}
	for _, c := range cs {
		_, f, err := c.waitWord(ctx, 2*time.Minute, "got")
		if err != nil {
			return eventsSample{}, err
		}
		if len(f) != 5 {
			return eventsSample{}, fmt.Errorf("subscriber said %q", f)
		}
		v, err := ints(f...)
		if err != nil {
			return eventsSample{}, err
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
	return out, nil
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
