package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/appnet-go/appnet/bus"
	"github.com/appnet-go/appnet/internal/embedded"
	"github.com/appnet-go/appnet/internal/lower"
	"github.com/appnet-go/appnet/internal/peer"
	"github.com/nats-io/nats.go"
)

// The group scenario: a group call to 3 responder processes (sequential
// and from 8 callers) and a scatter-gather over 5, appnet and raw nats.go.

// The group-call measurements, keys of results.group.
const (
	groupAppnetSeq  = "appnet-call-seq"
	groupAppnetConc = "appnet-call-conc"
	groupAppnetAll  = "appnet-all"
	groupRawSeq     = "raw-call-seq"
	groupRawConc    = "raw-call-conc"
	groupRawAll     = "raw-all"
)

// benchGroup is the responders' group; groupCallers how many callers make
// group calls at once (the brief's 8, whatever -callers says).
const (
	benchGroup   = "bench"
	groupCallers = 8
)

// runGroup measures, for appnet and raw nats.go in turn (each repetition
// starting with the other): a group call to 3 responder processes,
// sequential then from 8 callers, and a scatter-gather over 5.
func runGroup(ctx context.Context, exe string, o options, x map[string][]sample) error {
	order := []func(context.Context, string, options, map[string][]sample) error{groupAppnet, groupRaw}
	if len(x[groupAppnetSeq])%2 == 1 {
		order[0], order[1] = order[1], order[0]
	}
	for _, run := range order {
		ctx, cancel := context.WithTimeout(ctx, o.timeout)
		err := run(ctx, exe, o, x)
		cancel()
		if err != nil {
			return err
		}
	}
	return nil
}

// bounded calls call with at most 2 s of ctx.
func bounded(call callFunc) callFunc {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		return call(ctx)
	}
}

// measureGroup measures group calls: sequential, then from groupCallers
// callers; then adds responders up to 5 with more and measures gather.
func measureGroup(ctx context.Context, cs *children, call, gather callFunc, more func() error, x map[string][]sample, o options, seqKey, concKey, allKey string) error {
	pids := func() []int { return append([]int{os.Getpid()}, cs.pids()...) }
	warm := max(200, o.n/10)
	if err := warmUp(ctx, call, warm, 1); err != nil {
		return cs.explain(fmt.Errorf("group call warm-up: %w", err))
	}
	seq, err := measure(ctx, call, o.n, 1, pids())
	if err != nil {
		return cs.explain(fmt.Errorf("group call: %w", err))
	}
	if err := warmUp(ctx, call, warm, groupCallers); err != nil {
		return cs.explain(fmt.Errorf("group call warm-up: %w", err))
	}
	conc, err := measure(ctx, call, o.n, groupCallers, pids())
	if err != nil {
		return cs.explain(fmt.Errorf("group call, %d callers: %w", groupCallers, err))
	}
	if err := more(); err != nil {
		return err
	}
	if err := waitReady(ctx, gather); err != nil {
		return cs.explain(fmt.Errorf("scatter-gather: %w", err))
	}
	if err := warmUp(ctx, gather, max(50, o.gather/10), 1); err != nil {
		return cs.explain(fmt.Errorf("scatter-gather warm-up: %w", err))
	}
	all, err := measure(ctx, gather, o.gather, 1, pids())
	if err != nil {
		return cs.explain(fmt.Errorf("scatter-gather: %w", err))
	}
	x[seqKey] = append(x[seqKey], seq)
	x[concKey] = append(x[concKey], conc)
	x[allKey] = append(x[allKey], all)
	return nil
}

// groupAppnet: 3 responder peers in group bench, a caller peer (group
// None) in this process calling pass_through on the group; then 2 more
// responders and CallAll expecting 5 answers.
func groupAppnet(ctx context.Context, exe string, o options, x map[string][]sample) error {
	var cs children
	defer cs.stopAll()
	host := o.subnetHost(groupBlock, 1)
	add := func(n int) error {
		for range n {
			c, _, err := startPeer(ctx, exe, peerSpec{host: host, port: o.port, portRange: peerPortRange,
				env: []string{"NET_GROUP=" + benchGroup, "NET_SCAN_INTERVAL=0"}})
			if err != nil {
				return err
			}
			cs.add(c)
		}
		return nil
	}
	if err := add(3); err != nil {
		return err
	}
	p, err := startLocal(ctx, localConfig(host, o.port, peerPortRange))
	if err != nil {
		return err
	}
	defer p.Close()
	call := bounded(func(ctx context.Context) error {
		out, _, err := lower.Peer(p).CallGroup(ctx, benchGroup, peer.ConnPassThrough, payload)
		if err != nil {
			return err
		}
		return checkEcho(out)
	})
	if err := waitReady(ctx, call); err != nil {
		return err
	}
	if err := waitGroupAnswers(ctx, p); err != nil {
		return err
	}
	return measureGroup(ctx, &cs, call, appnetGather(p), func() error { return add(2) }, x, o, groupAppnetSeq, groupAppnetConc, groupAppnetAll)
}

// waitGroupAnswers waits until every responder answers a scatter-gather
// (its interest reached the caller's server). Group calls go to whichever
// member NATS prefers: with hubs, the one closest to the caller, so not
// every responder need get one.
func waitGroupAnswers(ctx context.Context, p *bus.Peer) error {
	for i := 0; ; i++ {
		if i == 1000 {
			return errors.New("3 responders never all answered a scatter-gather")
		}
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		rs, err := lower.Peer(p).CallAll(c, benchGroup, peer.ConnPassThrough, payload, 3)
		cancel()
		if err == nil && len(rs) == 3 {
			return nil
		}
	}
}

// appnetGather is a CallAll of the group expecting 5 answers.
func appnetGather(p *bus.Peer) callFunc {
	return bounded(func(ctx context.Context) error {
		rs, err := lower.Peer(p).CallAll(ctx, benchGroup, peer.ConnPassThrough, payload, 5)
		if err != nil {
			return err
		}
		if len(rs) != 5 {
			return fmt.Errorf("%d answers, want 5", len(rs))
		}
		for _, r := range rs {
			if r.Err != nil {
				return r.Err
			}
			if err := checkEcho(r.Value); err != nil {
				return err
			}
		}
		return nil
	})
}

// groupRaw: 3 raw responder processes, each an embedded server with an
// in-process client in queue group q on rawSubject (and on rawAllSubject),
// routed to a server in this process whose in-process client requests;
// then 2 more and a request whose 5 answers are gathered on one
// long-lived inbox subscription.
func groupRaw(ctx context.Context, exe string, o options, x map[string][]sample) error {
	var cs children
	defer cs.stopAll()
	host := o.subnetHost(groupBlock, 2)
	var s *embedded.Server
	add := func(n int) error {
		var routes []string
		for range n {
			c, err := startRaw(ctx, exe, rawSpec{host: host, port: o.port + 21 + len(cs), inProcess: true, args: []string{"-queue", "q"}})
			if err != nil {
				return err
			}
			cs.add(c)
			routes = append(routes, c.ready[1])
		}
		return s.AddRoutes(routes...)
	}
	s, nc, err := rawServer(ctx, host, o.port+20, true)
	if err != nil {
		return err
	}
	defer s.Close()
	defer nc.Close()
	if err := add(3); err != nil {
		return err
	}
	gatherN, stop, err := rawGatherer(nc)
	if err != nil {
		return err
	}
	defer stop()
	// Every responder answers: its queue interest, subscribed before its
	// rawAllSubject one, reached this server.
	if err := waitReady(ctx, gatherN(3)); err != nil {
		return err
	}
	return measureGroup(ctx, &cs, bounded(rawCall(nc)), gatherN(5), func() error { return add(2) }, x, o, groupRawSeq, groupRawConc, groupRawAll)
}

// rawGatherer returns, for a count of answers, a request on rawAllSubject
// whose answers are gathered on one long-lived inbox subscription of nc;
// stop ends the subscription.
func rawGatherer(nc *nats.Conn) (gatherN func(want int) callFunc, stop func(), err error) {
	inbox := nats.NewInbox()
	answers := make(chan *nats.Msg, 64)
	sub, err := nc.ChanSubscribe(inbox+".*", answers)
	if err != nil {
		return nil, nil, err
	}
	var seq int
	gatherN = func(want int) callFunc {
		return bounded(func(ctx context.Context) error {
			seq++
			reply := inbox + "." + strconv.Itoa(seq)
			if err := nc.PublishRequest(rawAllSubject, reply, payload); err != nil {
				return err
			}
			for got := 0; got < want; {
				select {
				case m := <-answers:
					if m.Subject != reply {
						continue // late answer to an earlier request
					}
					if err := checkEcho(m.Data); err != nil {
						return err
					}
					got++
				case <-ctx.Done():
					return fmt.Errorf("%d of %d answers: %w", got, want, ctx.Err())
				}
			}
			return nil
		})
	}
	return gatherN, func() { _ = sub.Unsubscribe() }, nil
}

// printGroup prints the group section: a row for raw nats.go and for
// appnet, and their ratios.
func printGroup(w io.Writer, o options, x map[string][]sample) {
	fmt.Fprintf(w, "\ngroup calls (%d-byte argument): a group of 3 responder processes, %d calls sequential then from %d callers; scatter-gather over 5, %d calls (median [min..max] over the reps)\n",
		len(payload), o.n, groupCallers, o.gather)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "topology\tgroup seq p50 us\tgroup seq p99 us\tgroup seq calls/s\t%d-conc p50 us\t%d-conc p99 us\t%d-conc calls/s\t%d-conc CPU us/call\tgather-5 p50 us\tgather-5 p99 us\t\n",
		groupCallers, groupCallers, groupCallers, groupCallers)
	for _, k := range []struct{ title, seq, conc, all string }{
		{"raw nats.go (queue group; 5 replies on one inbox), in-process clients of routed servers", groupRawSeq, groupRawConc, groupRawAll},
		{"appnet (CallGroup; CallAll expecting 5)", groupAppnetSeq, groupAppnetConc, groupAppnetAll},
	} {
		all := x[k.all]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", k.title, sampleColumns(x[k.seq], false), sampleColumns(x[k.conc], true),
			fmtStat(collect(all, p50Of), "%.1f"), fmtStat(collect(all, p99Of), "%.0f"))
	}
	tw.Flush()
	t := newTargetTable(w)
	t.row(fmt.Sprintf("appnet / raw: group call, %d-conc calls/s", groupCallers), ratioOf(x[groupAppnetConc], x[groupRawConc], rateOf), "%.2f", "", nil)
	t.row("appnet / raw: group call, seq p50", ratioOf(x[groupAppnetSeq], x[groupRawSeq], p50Of), "%.2f", "", nil)
	t.row("appnet / raw: scatter-gather over 5, p50", ratioOf(x[groupAppnetAll], x[groupRawAll], p50Of), "%.2f", "", nil)
	t.row("appnet / raw: scatter-gather over 5, p99", ratioOf(x[groupAppnetAll], x[groupRawAll], p99Of), "%.2f", "", nil)
	t.flush()
}
