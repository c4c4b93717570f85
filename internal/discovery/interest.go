package discovery

import (
	"context"
	"errors"
	"maps"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/appnet-go/appnet/internal/embedded"
	"github.com/appnet-go/appnet/internal/peer"
)

// A leaf's server learns from its hub which subjects the network listens
// to, and forwards only those. nats-server (2.15) can leave a leaf without
// a member's interest for good: when a connection closes, the hub takes
// its subscriptions out of the account first and then tells its leaf
// connections one at a time; a leaf attaching meanwhile loads the account
// without them, and if the same subscriptions come back before the hub
// reached that newcomer (the member attached again, here or to another
// hub), the late removal takes them from the newcomer. Reproduced with
// bare servers: 80 leaves attaching while 10 of them moved to a second
// hub left 20 to 78 leaves deaf to some movers in most rounds. In mass
// starts, where busy hubs close stale connections and leaves move to the
// second hub, 16 to 98 leaves lacked 1 to 3 early members.
//
// So a leaf checks, in its own server and without traffic, that it knows
// of every member's call subjects and of its replies (peer.Info.Inbox:
// in 100- and 200-peer starts, 1 to 8 pairs of the 1,000 sampled could not
// call each other for 30 s and more, because the target's server had
// lost the caller's reply subscription, and nothing else). A member whose
// info has stood unchanged for interestSettled (its info coming again,
// with every sync of the view, does not count: it did, and a leaf that
// loaded the view checked nothing for 3 s), that is not moving (its hub
// in the view, and named for as long: after a hub kill at 200 peers, the
// leaves told a hundred movers, attached elsewhere a second before, that
// they were not heard, and each attached once more), that is missing at
// two checks in a row and still missing once the hub answered a call made
// after (stillUnheard: not merely late in a busy hub's queue to this
// leaf) makes it call that member through its hub's own server (at most
// interestSampled members per toldWait), saying it does not hear it
// (peer.HeaderUnheard); the member, if a leaf, attaches to its hub again
// (resendInterest), which repairs every leaf that lost it at once. Only
// when a member told is still missing toldWait later, or is a hub, does
// the leaf attach again itself. Leaves attaching again themselves, each of them missing
// everywhere until it is back, set off more losses: a 200-peer start
// slowed by debug output reattached 149 times and never became whole;
// checking every 2 s instead of 5 made 31 and 166 leaves attach again in
// 200-peer starts.
const (
	interestEvery   = 2 * time.Second
	interestSettled = 3 * time.Second
	toldWait        = 10 * time.Second // how long a member told gets to be heard again
	reattachAtMost  = 30 * time.Second
	interestSampled = 3 // members named in the warning, and asked of the hub
)

// checkInterest is a leaf's check, when due.
func (d *Discoverer) checkInterest() {
	n := &d.net
	now := time.Now()
	if now.Before(n.nextInterest) {
		return
	}
	n.nextInterest = now.Add(interestEvery)
	srv := d.p.Server()
	if _, conn := srv.Attachment(); conn == 0 {
		return
	}
	var missing []peer.ID
	for _, m := range d.view.servers(now.Add(-interestSettled)) {
		if !hears(srv, m.id, m.inbox) {
			missing = append(missing, m.id)
		}
	}
	long := missingAgain(n.uninterested, missing)
	n.uninterested = setOf(missing)
	if len(missing) == 0 {
		n.reattach.settle()
	}
	if len(long) == 0 || now.Sub(n.reattach.last()) < reattachAtMost {
		return
	}
	hub, conn := srv.Attachment()
	hubInfo, known := d.view.get(peer.ID(hub))
	if !known {
		return
	}
	// A member that is a hub (its interest comes by a route, and it
	// cannot attach again), or one told toldWait ago or more and still
	// missing (sending its interest anew did not help), makes this leaf
	// attach again itself. Else the members not told yet are told,
	// interestSampled at a time.
	self := slices.ContainsFunc(long, func(id peer.ID) bool {
		info, _ := d.view.get(id)
		at, told := n.told[id]
		return info.Role == peer.RoleHub || told && now.Sub(at) >= toldWait && now.Sub(at) < reattachAtMost
	})
	maps.DeleteFunc(n.told, func(_ peer.ID, at time.Time) bool { return now.Sub(at) >= reattachAtMost })
	if self {
		if n.reattach.may(now) {
			d.attachAgain(hubInfo, conn, long)
		}
		return
	}
	if now.Sub(n.toldAt) < toldWait {
		// One question through the hub per toldWait: after a 200-peer hub
		// kill, leaves made hundreds of them per 10 s, each a connection
		// that the busy hub had to take and to read.
		return
	}
	var tell []peer.ID
	for _, id := range long {
		if _, told := n.told[id]; !told && len(tell) < interestSampled {
			n.told[id] = now
			tell = append(tell, id)
		}
	}
	if len(tell) == 0 {
		return // the members told have time yet
	}
	n.toldAt = now
	go func() { // questions over the network: not on the loop
		tell, ok := d.stillUnheard(hubInfo.ID, tell)
		if !ok || len(tell) == 0 {
			return
		}
		// The hub may have been late itself: a member that moved to it
		// and whose interest waited in its queue is reached a moment
		// later, and heard once the hub answered again. Only a member
		// the hub reaches and this server still does not hear after
		// that is told. After 200-peer hub kills, members told too soon
		// attached again, each of them unheard for a moment everywhere.
		if tell = d.lostThroughHub(hubInfo, tell); len(tell) == 0 {
			return
		}
		if len(d.hubReaches(hubInfo, tell, d.p.ID())) > 0 {
			// One member attaching again repairs every leaf that lost it,
			// where all those leaves attaching again would make each of
			// them unheard for a moment, and lose more.
			d.p.Logger().Info("appnet: this peer's server does not hear members of its view that its hub reaches; told them",
				"members", len(long), "e.g.", tell)
		}
	}()
}

// attachAgain has this leaf attach to its hub again, which sends it the
// network's interest anew, if its hub (hubInfo, attached by connection
// conn) reaches some of the members it does not hear.
func (d *Discoverer) attachAgain(hubInfo peer.Info, conn uint64, long []peer.ID) {
	n := &d.net
	srv := d.p.Server()
	sample := long[:min(len(long), interestSampled)]
	go func() { // questions over the network: not on the loop
		if len(d.lostThroughHub(hubInfo, sample)) == 0 {
			return
		}
		if _, now := srv.Attachment(); now != conn || !n.reattach.claim(time.Now()) {
			return // attached again meanwhile, or about to (resendInterest)
		}
		d.p.Logger().Warn("appnet: this peer's server does not hear members of its view that its hub reaches; attaching to its hub again",
			"members", len(long), "e.g.", sample)
		if err := srv.Reattach(d.p.Context()); err != nil {
			d.p.Logger().Warn("appnet: attaching to the hub again", "err", err)
		}
	}()
}

// A leaf attaches to its hub again at most once per reattachAtMost while
// its server hears every member at times, and half as often at each
// attachment after which it never did, up to once per maxReattachPause;
// each pause is drawn up to a quarter longer. Attaching again when the
// hub is too busy to pass the network's interest in time loses more of
// it: in 200-peer starts on two cores, leaves attached again 392 and 434
// times, in waves, while the hubs' views stayed far short of the network
// for the bench's 90 s.
const maxReattachPause = 4 * time.Minute

// reattachGate says when a leaf may attach to its hub again: the loop
// asks, and the goroutines that attach claim it.
type reattachGate struct {
	mu    sync.Mutex
	at    time.Time     // its last attachment again
	after time.Time     // when it may attach again
	pause time.Duration // the pause set then; 0 once its server hears every member
}

// last returns when the leaf last attached to its hub again.
func (g *reattachGate) last() time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.at
}

// may reports whether the leaf may attach again at now.
func (g *reattachGate) may(now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return !now.Before(g.after)
}

// claim takes the leaf's attachment again at now, if it may attach then,
// and sets the pause before the next: reattachAtMost, or twice the last.
func (g *reattachGate) claim(now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if now.Before(g.after) {
		return false
	}
	if g.pause == 0 {
		g.pause = reattachAtMost
	} else {
		g.pause = min(2*g.pause, maxReattachPause)
	}
	g.at, g.after = now, now.Add(g.pause+rand.N(g.pause/4))
	return true
}

// settle notes that the leaf's server hears every member: the pause after
// its last attachment is reattachAtMost again (drawn as every pause is).
func (g *reattachGate) settle() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.pause == 0 {
		return
	}
	g.pause = 0
	if soon := g.at.Add(reattachAtMost + rand.N(reattachAtMost/4)); soon.Before(g.after) {
		g.after = soon
	}
}

// resendInterest has this leaf attach to its hub again, which sends its
// interest anew, when a member says its server does not hear it
// (peer.HeaderUnheard), at most every reattachAtMost (less often while
// that does not help: maxReattachPause). It runs on the goroutine that
// takes calls, and returns at once.
func (d *Discoverer) resendInterest(from string) {
	srv := d.p.Server()
	if srv == nil || srv.Hub() {
		return
	}
	if _, conn := srv.Attachment(); conn == 0 {
		return // it attaches anyway
	}
	n := &d.net
	if !n.reattach.claim(time.Now()) {
		return
	}
	d.p.Logger().Info("appnet: a member's server does not hear this peer; attaching to its hub again to send its interest anew",
		"from", from)
	go func() {
		// The answer to the call that said so is on its way out through
		// the connection about to go.
		_ = d.p.Conn().FlushTimeout(time.Second)
		select {
		case <-time.After(answerGrace):
		case <-d.p.Context().Done():
			return
		}
		if err := srv.Reattach(d.p.Context()); err != nil {
			d.p.Logger().Warn("appnet: attaching to the hub again", "err", err)
		}
	}()
}

// answerGrace is how long a leaf told it is unheard waits before it
// drops its connection, for its answer to leave through it.
const answerGrace = 100 * time.Millisecond

// hubRoundTrip bounds a leaf's call through its hub before it acts on the
// members its server does not hear. A hub that takes longer to answer is
// too busy to pass interest on in time, and a leaf attaching again, or a
// member told to, would only add to its work. In 200-peer starts on two
// cores, where hubs' read loops stalled for seconds, 124 to 285 times per
// start a member missing at two checks was heard once the hub answered.
const hubRoundTrip = 5 * time.Second

// stillUnheard returns those of ids that this leaf's server does not hear
// once its hub answered a call made after they were found missing. A hub
// sends a leaf the network's interest and the answers to its calls over
// one connection, in order: interest the hub held before the call has
// reached the leaf's server once the answer has. A member heard by then
// was only late (a busy hub's queue to this leaf), and one still unheard
// was lost. ok is false when the hub did not answer within hubRoundTrip;
// a hub whose call subject the server does not hear returns ids as they
// are.
func (d *Discoverer) stillUnheard(hub peer.ID, ids []peer.ID) (unheard []peer.ID, ok bool) {
	ctx, cancel := context.WithTimeout(d.p.Context(), hubRoundTrip)
	_, err := d.p.Caller.Request(ctx, peer.CallSubject(hub, peer.ConnNull), nil)
	cancel()
	if err != nil && !errors.Is(err, nats.ErrNoResponders) {
		d.p.Logger().Debug("appnet: no answer from the hub through this peer's server; its interest is left to the next check",
			"hub", hub, "err", err)
		return nil, false
	}
	srv := d.p.Server()
	for _, id := range ids {
		info, known := d.view.get(id)
		if known && !hears(srv, id, info.Inbox) {
			unheard = append(unheard, id)
		}
	}
	if late := len(ids) - len(unheard); late > 0 {
		d.p.Logger().Debug("appnet: members this peer's server did not hear were only late through its hub", "members", late)
	}
	return unheard, true
}

// lostThroughHub returns those of ids that the hub reaches (hubReaches,
// without telling them) and that this leaf's server still does not hear
// once the hub answered again (stillUnheard): lost, not late. None when
// the hub reaches none of them (away, or gone: membership will say which)
// or is too busy to answer.
func (d *Discoverer) lostThroughHub(hub peer.Info, ids []peer.ID) []peer.ID {
	reached := d.hubReaches(hub, ids, "")
	if len(reached) == 0 {
		return nil
	}
	lost, ok := d.stillUnheard(hub.ID, reached)
	if !ok {
		return nil
	}
	return lost
}

// hears reports whether srv passes on calls to the member id and, unless
// inbox is "", the replies to its requests.
func hears(srv *embedded.Server, id peer.ID, inbox string) bool {
	return srv.Interest(peer.CallSubject(id, peer.ConnInfo)) && (inbox == "" || srv.Interest(inbox+"x"))
}

// hubReaches returns those of ids that answer a call made through the
// hub's own server (a client connection of its own). Unless from is "",
// each call tells its member that the server of from does not hear it
// (peer.HeaderUnheard). The answers come back to this peer's own subject
// (Caller.RequestVia): a connection with an inbox of its own, made for
// each check, was a subscription every server of the network learned of
// and forgot again, hundreds of times per 10 s in 200-peer storms.
func (d *Discoverer) hubReaches(hub peer.Info, ids []peer.ID, from peer.ID) []peer.ID {
	nc, err := nats.Connect("nats://"+net.JoinHostPort(hub.Host, strconv.Itoa(hub.Port)),
		append(slices.Clone(d.p.ClientOptions()), nats.Name("appnet interest check"), nats.Timeout(time.Second), nats.NoReconnect())...)
	if err != nil {
		return nil
	}
	defer nc.Close()
	var reached []peer.ID
	for _, id := range ids {
		m := nats.NewMsg(peer.CallSubject(id, peer.ConnInfo))
		if from != "" {
			m.Header.Set(peer.HeaderUnheard, string(from))
		}
		ctx, cancel := context.WithTimeout(d.p.Context(), time.Second)
		_, err := d.p.Caller.RequestVia(ctx, nc, m)
		cancel()
		if err == nil {
			reached = append(reached, id)
		}
	}
	return reached
}

// missingAgain returns the members of missing that were missing at the
// last check too (before), leaving missing as it is.
func missingAgain(before map[peer.ID]bool, missing []peer.ID) []peer.ID {
	var again []peer.ID
	for _, id := range missing {
		if before[id] {
			again = append(again, id)
		}
	}
	return again
}
