package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/appnet-go/appnet/bus"
	"github.com/appnet-go/appnet/internal/lower"
	"github.com/appnet-go/appnet/internal/peer"
)

// watchScale is a peer of the scale scenario in a network of n peers. It
// watches its view and prints:
//   - "whole <ns> <ok>" once the view holds the n-1 others and a random
//     sample of them answers calls through the network (not the direct
//     path): at least 1,000 pairs over the whole network;
//   - then "change <kind> <id> <ns>" for every change of its view, and
//     "reach <ns> <ok>" when, after a hub failed, the sample answers again;
//   - then "attach <hub> <role> <ns>" when its server attaches to another
//     hub, or its role changes (see traceAttachment);
//   - "stats <ns> <in msgs> <out msgs> <routes> <leaves> <role> <accepted>"
//     on SIGUSR1, accepted counting every connection its server took;
//   - "refresh <ns> <peers> <raw ns> <raw answers>" on SIGUSR2, the
//     median time of a Refresh and of a raw gather (see printRefresh).
func watchScale(ctx context.Context, p *bus.Peer, n int, out *lineWriter) {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH)
	defer signal.Stop(sigs)
	changes, err := p.Watch(ctx, bus.AllGroups())
	if err != nil {
		out.printf("scalefail %v", err)
		return
	}
	raw, err := newRefreshFloor(p, p.Conn())
	if err != nil {
		out.printf("scalefail %v", err)
		return
	}
	view := map[peer.ID]peer.Info{}
	whole := false
	if os.Getenv("APPNET_BENCH_DEBUG") != "" {
		go traceServer(ctx, p, out, "debug-conn", true)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case s := <-sigs:
			answerSignal(ctx, p, raw, s, out)
		case c, ok := <-changes:
			if !ok {
				return
			}
			switch c.Kind {
			case bus.Resync:
				view = c.Peers.Peers
			case bus.Joined, bus.Updated:
				view[c.ID] = c.Info
			case bus.Left, bus.Failed:
				delete(view, c.ID)
			}
			if whole {
				out.printf("change %s %s %d", c.Kind, c.ID, time.Now().UnixNano())
				if c.Kind == bus.Failed && c.Info.Role == peer.RoleHub {
					snapshot := maps.Clone(view)
					go func() { out.printf("reach %d %d", reach(ctx, p, snapshot, n, out), time.Now().UnixNano()) }()
				}
				continue
			}
			if os.Getenv("APPNET_BENCH_DEBUG") != "" {
				out.printf("debug %s %s view %d role %s %d", c.Kind, c.ID, len(view), p.Info().Role, time.Now().UnixNano())
			}
			if len(view) >= n-1 {
				whole = true
				go traceAttachment(ctx, p, out)
				ok := reach(ctx, p, view, n, out)
				out.printf("whole %d %d", time.Now().UnixNano(), ok)
			}
		}
	}
}

// answerSignal prints what the signal s asks for: the server's
// connections (SIGWINCH), its message counts (SIGUSR1), or the time of a
// Refresh (SIGUSR2).
func answerSignal(ctx context.Context, p *bus.Peer, raw *refreshFloor, s os.Signal, out *lineWriter) {
	switch s {
	case syscall.SIGWINCH:
		printDiag(p, out)
	case syscall.SIGUSR1:
		printStats(p, out)
	default:
		printRefresh(ctx, p, raw, out)
	}
}

// refreshRounds is how many Refreshes, each followed by a raw gather,
// printRefresh times.
const refreshRounds = 5

// printRefresh prints the median time of a Refresh of the whole view, and
// of its floor: a raw NATS request to every peer process (a subscription
// of the scale scenario's own, answering with its Info encoded once),
// gathering as many answers, over the same connections and hops.
func printRefresh(ctx context.Context, p *bus.Peer, floor *refreshFloor, out *lineWriter) {
	var refresh, raw []float64
	peers, rawPeers := 0, 0
	for range refreshRounds {
		start := time.Now()
		found, err := p.Peers(ctx, bus.AllGroups(), bus.Refresh())
		if err != nil {
			return
		}
		refresh, peers = append(refresh, float64(time.Since(start))), len(found.Peers)
		start = time.Now()
		if rawPeers = floor.gather(ctx, peers+1); rawPeers < peers+1 {
			out.printf("debug raw gather: %d of %d answers", rawPeers, peers+1)
		}
		raw = append(raw, float64(time.Since(start)))
	}
	r, _, _ := median(refresh)
	g, _, _ := median(raw)
	out.printf("refresh %d %d %d %d", int64(r), peers, int64(g), rawPeers)
}

// gatherSubject is where every peer process of the scale scenario answers
// a raw gather.
const gatherSubject = "bench.gather"

// refreshFloor is the floor of a Refresh: one request on gatherSubject,
// whose answers come back on one long-lived wildcard subscription, as a
// Refresh's do.
type refreshFloor struct {
	nc      *nats.Conn
	prefix  string
	answers chan *nats.Msg
	asked   int // requests made; each answers to prefix + its number
}

// newRefreshFloor answers raw gathers on nc with p's Info, encoded once.
// The subscription for the answers to its own waits for its first
// gather, as a Refresh's does: every peer holding one from its start
// would be one subscription more per peer than `appnet serve` has, that
// every server of the network learns of.
func newRefreshFloor(p *bus.Peer, nc *nats.Conn) (*refreshFloor, error) {
	payload, err := json.Marshal(p.Info())
	if err != nil {
		return nil, err
	}
	if _, err := nc.Subscribe(gatherSubject, func(m *nats.Msg) { _ = m.Respond(payload) }); err != nil {
		return nil, err
	}
	return &refreshFloor{nc: nc}, nil
}

// gather asks every process and returns how many of want answered within
// a second.
func (g *refreshFloor) gather(ctx context.Context, want int) int {
	if g.answers == nil {
		g.prefix, g.answers = g.nc.NewInbox()+".", make(chan *nats.Msg, 1024)
		if _, err := g.nc.ChanSubscribe(g.prefix+"*", g.answers); err != nil {
			return 0
		}
	}
	g.asked++
	reply := g.prefix + strconv.Itoa(g.asked)
	if err := g.nc.PublishRequest(gatherSubject, reply, nil); err != nil {
		return 0
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	got := 0
	for got < want {
		select {
		case m := <-g.answers:
			if m.Subject == reply { // not a late answer to an earlier one
				got++
			}
		case <-ctx.Done():
			return got
		}
	}
	return got
}

// reachPause is the first pause between two calls of reach to a member
// that did not answer; the pauses double up to reachPauseMax.
const (
	reachPause    = 20 * time.Millisecond
	reachPauseMax = 200 * time.Millisecond
)

// reach calls a random sample of the view through the network until each
// answers (or 30s pass) and returns how many did.
func reach(ctx context.Context, p *bus.Peer, view map[peer.ID]peer.Info, n int, out *lineWriter) int {
	ids := make([]peer.ID, 0, len(view))
	for id := range view {
		ids = append(ids, id)
	}
	rand.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	k := min(len(ids), max(5, (1000+n-1)/n))
	ok, fails, start := 0, 0, time.Now()
	var firstErr error
	deadline := time.Now().Add(30 * time.Second)
	defer func() {
		if os.Getenv("APPNET_BENCH_DEBUG") != "" && fails > 0 {
			out.printf("debug-reach %d %d %q", time.Since(start).Milliseconds(), fails, fmt.Sprint(firstErr))
		}
	}()
	for _, id := range ids[:k] {
		pause := reachPause
		for time.Now().Before(deadline) && ctx.Err() == nil {
			c, cancel := context.WithTimeout(ctx, time.Second)
			_, err := lower.Peer(p).Caller.Request(c, peer.CallSubject(id, peer.ConnInfo), nil)
			cancel()
			if err == nil {
				ok++
				break
			}
			if fails++; firstErr == nil {
				firstErr = fmt.Errorf("%s: %w", id, err)
			}
			if os.Getenv("APPNET_BENCH_DEBUG") != "" && time.Until(deadline) < time.Second {
				srv := lower.Peer(p).Server()
				hub, conn := srv.Attachment()
				out.printf("debug-unreach %s %s %v interest %v myhub %s/%d", id, view[id].Role, err, srv.Interest(peer.CallSubject(id, peer.ConnInfo)), hub, conn)
			}
			// Back off: a peer's own server answers "no responders" at
			// once, and 200 peers asking every 20 ms took up to a core
			// of the machine's 2 while the network re-formed (the
			// floor asks from 3 clients every 200 ms).
			time.Sleep(pause)
			pause = min(2*pause, reachPauseMax)
		}
	}
	return ok
}

// printStats prints the peer server's message counts and connections:
// those it holds, and how many it has taken since it started.
func printStats(p *bus.Peer, out *lineWriter) {
	v, err := lower.Peer(p).Server().NATS().Varz(nil)
	if err != nil {
		return
	}
	info := p.Info()
	out.printf("stats %d %d %d %d %d %s %d", time.Now().UnixNano(), v.InMsgs, v.OutMsgs, v.Routes, v.Leafs, info.Role, v.TotalConnections) // every account's connections
}

// printDiag prints what the peer's server is attached to (debug).
func printDiag(p *bus.Peer, out *lineWriter) {
	srv := lower.Peer(p).Server().NATS()
	lz, _ := srv.Leafz(&server.LeafzOptions{Subscriptions: false})
	var leafs []string
	for _, l := range lz.Leafs {
		leafs = append(leafs, fmt.Sprintf("%s@%s:%d/subs=%d", l.Name, l.IP, l.Port, l.NumSubs))
	}
	sz, _ := srv.Subsz(nil)
	v, _ := srv.Varz(nil)
	rz, _ := srv.Routez(nil)
	var routes []string
	if rz != nil {
		for _, r := range rz.Routes {
			routes = append(routes, fmt.Sprintf("%s/subs=%d", r.RemoteName, r.NumSubs))
		}
	}
	// The members of the view whose call subject this server has no
	// interest in (the peers it cannot call), and those whose replies it
	// does not pass on (their info's inbox).
	found, _ := p.Peers(context.Background(), bus.AllGroups())
	var deaf, deafInbox []string
	for id, info := range found.Peers {
		if !lower.Peer(p).Server().Interest(peer.CallSubject(id, peer.ConnInfo)) {
			deaf = append(deaf, string(id))
		}
		if info.Inbox != "" && !lower.Peer(p).Server().Interest(info.Inbox+"x") {
			deafInbox = append(deafInbox, string(id))
		}
	}
	out.printf("diag %s role %s conn %v view %d subs %d deaf-to %d %v deaf-to-inbox %d %v routes %s leafs %d remotes %v; %s", p.ID(), p.Info().Role, p.Conn().Status(), len(found.Peers), sz.NumSubs, len(deaf), deaf[:min(3, len(deaf))], len(deafInbox), deafInbox[:min(3, len(deafInbox))], strings.Join(routes, ","), len(leafs), v.LeafNode.Remotes, strings.Join(leafs, ","))
}

// traceAttachment prints "attach <hub> <role> <ns>" whenever the hub the
// peer's server is attached to, or its role, changes (see traceServer).
func traceAttachment(ctx context.Context, p *bus.Peer, out *lineWriter) {
	traceServer(ctx, p, out, "attach", false)
}

// traceServer prints "<kind> <hub> [<conn>] <role> <ns>" whenever what it
// names changes ("-" for a server attached nowhere; conn, the leaf
// connection's, when withConn), until ctx ends. It looks when the server
// says a leaf node connection came or went (embedded.Server.LeafNews),
// and again 100 ms, 400 ms and 1.6 s after (a connection is created
// before its handshake), and every 5 s besides; a hub only every 5 s, as
// the news of its leaves would keep it looking. The times it prints are
// then within a fraction of a second of the change, where looking every
// 5 s alone put them up to 5 s late; looking every 50 ms (debug mode,
// before) starved 200-peer starts, and every 50 ms for 3 s after each
// news slowed the hub kills it traced (16.9 and 18.7 s, against 10.1-14.0
// s). Debug mode traces "debug-conn" with the connection from the start
// (see watchScale).
func traceServer(ctx context.Context, p *bus.Peer, out *lineWriter, kind string, withConn bool) {
	const (
		every     = 5 * time.Second
		firstLook = 100 * time.Millisecond // after news; each next look 4 times later
	)
	srv := lower.Peer(p).Server()
	last := ""
	next := time.Duration(0) // the pause before the next look after news; 0: none due
	for ctx.Err() == nil {
		news := srv.LeafNews()
		hub, conn := srv.Attachment()
		if hub == "" {
			hub = "-"
		}
		now := hub + " " + string(p.Info().Role)
		if withConn {
			now = fmt.Sprintf("%s %d %s", hub, conn, p.Info().Role)
		}
		if now != last {
			out.printf("%s %s %d", kind, now, time.Now().UnixNano())
			last = now
		}
		wait := every
		if next > 0 && next < every {
			wait, next = next, 4*next
		}
		if srv.Hub() {
			news = nil
		}
		select {
		case <-ctx.Done():
		case <-news:
			next = firstLook
		case <-time.After(wait):
		}
	}
}
