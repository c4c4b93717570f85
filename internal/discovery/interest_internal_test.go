package discovery

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/appnet-go/appnet/internal/embedded"
	"github.com/appnet-go/appnet/internal/peer"
	"github.com/appnet-go/appnet/internal/testnet"
)

// A member counts as missing twice only when the last check missed it
// too, and the check's own list is left whole for the next one.
func TestMissingAgain(t *testing.T) {
	var before map[peer.ID]bool
	for i, tc := range []struct {
		missing, again []peer.ID
	}{
		{[]peer.ID{"a", "b"}, nil},
		{[]peer.ID{"b", "c"}, []peer.ID{"b"}},
		{[]peer.ID{"b", "c"}, []peer.ID{"b", "c"}},
		{nil, nil},
		{[]peer.ID{"a"}, nil},
	} {
		missing := slices.Clone(tc.missing)
		again := missingAgain(before, missing)
		if !slices.Equal(again, tc.again) {
			t.Errorf("check %d: missing again %v, want %v", i, again, tc.again)
		}
		if !slices.Equal(missing, tc.missing) {
			t.Errorf("check %d: the list became %v", i, missing)
		}
		before = setOf(missing)
	}
}

// A leaf that attaches to its hub again waits reattachAtMost before it
// may again, then twice as long at each attachment that did not end the
// trouble, each pause up to a quarter longer, never more than
// maxReattachPause (and its quarter); once its server hears every member,
// the pause is reattachAtMost again (and its quarter), from its last
// attachment. A claim inside the pause fails and changes nothing.
func TestReattachingBacksOff(t *testing.T) {
	var g reattachGate
	t0 := time.Unix(1_000_000, 0)
	if !g.may(t0) {
		t.Fatal("a leaf that never attached again may not")
	}
	at, least := t0, reattachAtMost
	for i := range 8 {
		if !g.claim(at) {
			t.Fatalf("attachment %d: refused %v after the last", i+1, at.Sub(g.last()))
		}
		most := least + least/4
		if g.may(at.Add(least-time.Millisecond)) || g.claim(at.Add(least-time.Millisecond)) {
			t.Fatalf("attachment %d: may attach again %v later, want %v at least", i+1, least-time.Millisecond, least)
		}
		if !g.may(at.Add(most)) {
			t.Fatalf("attachment %d: may not attach again %v later, want at most %v", i+1, most, most)
		}
		at = at.Add(most)
		least = min(2*least, maxReattachPause)
	}
	if !g.claim(at) {
		t.Fatal("refused after the longest pause")
	}
	g.settle() // checkInterest: every member heard
	if g.may(at.Add(reattachAtMost-time.Millisecond)) || !g.may(at.Add(reattachAtMost+reattachAtMost/4)) {
		t.Fatalf("once every member is heard, the pause is not %v to %v", reattachAtMost, reattachAtMost+reattachAtMost/4)
	}
	at = at.Add(reattachAtMost + reattachAtMost/4)
	if !g.claim(at) {
		t.Fatal("refused after the trouble ended")
	}
	if g.may(at.Add(reattachAtMost-time.Millisecond)) || !g.may(at.Add(reattachAtMost+reattachAtMost/4)) {
		t.Fatalf("after the trouble ended, the next pause is not %v to %v", reattachAtMost, reattachAtMost+reattachAtMost/4)
	}
}

// Of the goroutines that claim an attachment again at one moment (the
// loop's and the one a member's complaint starts), one gets it.
func TestOneReattachClaimWins(t *testing.T) {
	var g reattachGate
	now := time.Now()
	var won atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if g.claim(now) {
				won.Add(1)
			}
		})
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Fatalf("%d claims won, want 1", won.Load())
	}
}

// A leaf whose server does not pass on a member's replies (peer.Info.Inbox
// has no interest there) takes it for unheard, and tells it: the member
// attaches to its hub again, which sends all of its interest anew.
func TestALeafDeafToAMembersRepliesTellsIt(t *testing.T) {
	t.Parallel()
	host, hub, member, _ := hubWithLeaf(t)
	_, leafD := joined(t, host, testnet.Ports(t), hub.HubAddr())
	attachedTo(t, leafD, hub.ID(), 10*time.Second)
	_, before := member.Server().Attachment()

	info := infoOf(t, member)
	if info.Inbox == "" || !leafD.p.Server().Interest(info.Inbox+"x") {
		t.Fatalf("the member's info names reply inbox %q, which the leaf's server does not pass on", info.Inbox)
	}
	info.Inbox = "_INBOX.lost." // as if the leaf's server had lost it
	leafD.view.join(info)

	deadline := time.Now().Add(interestSettled + 3*interestEvery + embedded.ReattachPause + 5*time.Second)
	for {
		if _, now := member.Server().Attachment(); now != 0 && now != before {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the member was not told that a leaf does not hear its replies: it never attached again")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A member whose interest the hub holds is heard by the leaf's server once
// the hub answered a call made after the hub had it: the hub sends both
// over the leaf's one connection, in order. A member nobody subscribes for
// stays unheard, and a hub whose call subject the leaf does not hear
// leaves the members as they are.
func TestInterestTheHubHeldIsHeardAfterARoundTrip(t *testing.T) {
	t.Parallel()
	_, hub, _, leafD := hubWithLeaf(t)
	nc, err := nats.Connect(hub.Server().ClientURL(), hub.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()

	for i := range 20 {
		late := peer.ID(fmt.Sprintf("late-%d", i))
		leafD.view.join(peer.Info{ID: late, Role: peer.RoleLeaf})
		if _, err := nc.SubscribeSync(peer.CallSubject(late, peer.ConnInfo)); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil { // the hub holds it now
			t.Fatal(err)
		}
		unheard, ok := leafD.stillUnheard(hub.ID(), []peer.ID{late})
		if !ok || len(unheard) != 0 {
			t.Fatalf("round %d: after the hub's answer, unheard %v (answered: %v), want none", i, unheard, ok)
		}
	}

	lost := peer.ID("lost")
	leafD.view.join(peer.Info{ID: lost, Role: peer.RoleLeaf})
	if unheard, ok := leafD.stillUnheard(hub.ID(), []peer.ID{lost}); !ok || !slices.Equal(unheard, []peer.ID{lost}) {
		t.Fatalf("a member nobody subscribes for: unheard %v (answered: %v), want [%s]", unheard, ok, lost)
	}
	if unheard, ok := leafD.stillUnheard("no-such-hub", []peer.ID{lost}); !ok || !slices.Equal(unheard, []peer.ID{lost}) {
		t.Fatalf("a hub nobody hears: unheard %v (answered: %v), want [%s]", unheard, ok, lost)
	}
}
