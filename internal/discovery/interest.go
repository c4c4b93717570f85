package discovery

import (
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/appnet-go/appnet/internal/peer"
)

// A leaf's server learns from its hub which subjects the network listens
// to, and forwards only those. Should the hub's word on some member be
// lost (seen with nats-server 2.15 after mass starts with servers that
// restarted: a member in every view that some leaves' servers had no
// interest for, so that calls to it got no responders, for good; and in
// 200-peer starts without any restart, 13 to 33 leaves that lacked the
// same few early members), the leaf would never hear of it again. So a
// leaf checks, in its own server and without traffic, that it knows of
// every member's call subject; a member known for interestSettled and
// missing at two checks in a row makes it ask its hub's own server
// (at most every interestAskEvery) whether the hub reaches that member,
// and, if the hub does, attach to its hub again, which resends
// everything. Checking again 1 s after a member went missing, and 2 s
// after a hub left the view, was tried: after a hub kill of 200 peers,
// 58 leaves attached again within 4 s, their members' interest still on
// its way through a hub that reached them, and the network took 7.8 s to
// be whole again instead of 4.7–5.2 s.
//
// The question is what keeps one leaf from setting off the others: a
// member that attaches again is missing everywhere until it is back, in a
// busy network for seconds, and the hub does not reach it either. Without
// it, a 200-peer start slowed by debug output reattached 149 times and
// never became whole; with a stricter count instead, a network that lost
// interest while merging took 26 s to be whole.
const (
	interestEvery    = 5 * time.Second
	interestSettled  = 5 * time.Second
	reattachAtMost   = 30 * time.Second
	interestSampled  = 3             // members named in the warning, and asked of the hub
	interestAskEvery = interestEvery // how often the hub is asked at most
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
	for _, id := range d.view.servers(now.Add(-interestSettled)) {
		if !srv.Interest(peer.CallSubject(id, peer.ConnInfo)) {
			missing = append(missing, id)
		}
	}
	long := missingAgain(n.uninterested, missing)
	n.uninterested = setOf(missing)
	if len(long) == 0 || now.Sub(time.Unix(0, n.reattachedAt.Load())) < reattachAtMost || now.Sub(n.askedHub) < interestAskEvery {
		return
	}
	n.askedHub = now
	hub, conn := srv.Attachment()
	hubInfo, known := d.view.get(peer.ID(hub))
	if !known {
		return
	}
	sample := long[:min(len(long), interestSampled)]
	go func() { // a question over the network: not on the loop
		if !hubReaches(hubInfo, sample, d.p.ClientOptions()) {
			return // away, or gone: membership will say which
		}
		if _, now := srv.Attachment(); now != conn {
			return // attached again meanwhile
		}
		n.reattachedAt.Store(time.Now().UnixNano())
		d.p.Logger().Warn("appnet: this peer's server does not hear members of its view that its hub reaches; attaching to its hub again",
			"members", len(long), "e.g.", sample)
		if err := srv.Reattach(); err != nil {
			d.p.Logger().Warn("appnet: attaching to the hub again", "err", err)
		}
	}()
}

// hubReaches reports whether any of ids answers a call made through the
// hub's own server (a client connection of its own, with an inbox the
// network hears of).
func hubReaches(hub peer.Info, ids []peer.ID, opts []nats.Option) bool {
	nc, err := nats.Connect("nats://"+net.JoinHostPort(hub.Host, strconv.Itoa(hub.Port)),
		append(slices.Clone(opts), nats.Name("appnet interest check"), nats.Timeout(time.Second), nats.NoReconnect())...)
	if err != nil {
		return false
	}
	defer nc.Close()
	for _, id := range ids {
		if _, err := nc.Request(peer.CallSubject(id, peer.ConnInfo), nil, time.Second); err == nil {
			return true
		}
	}
	return false
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
