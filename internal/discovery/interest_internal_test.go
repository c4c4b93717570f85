package discovery

import (
	"slices"
	"testing"
	"time"

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
// the pause is reattachAtMost again, from its last attachment.
func TestReattachingBacksOff(t *testing.T) {
	var n network
	t0 := time.Unix(1_000_000, 0)
	if !n.mayReattach(t0) {
		t.Fatal("a leaf that never attached again may not")
	}
	at, least := t0, reattachAtMost
	for i := range 8 {
		n.reattached(at)
		most := least + least/4
		if n.mayReattach(at.Add(least - time.Millisecond)) {
			t.Fatalf("attachment %d: may attach again %v later, want %v at least", i+1, least-time.Millisecond, least)
		}
		if !n.mayReattach(at.Add(most)) {
			t.Fatalf("attachment %d: may not attach again %v later, want at most %v", i+1, most, most)
		}
		at = at.Add(most)
		least = min(2*least, maxReattachPause)
	}
	n.reattached(at)
	n.troubleOver() // checkInterest: every member heard
	if !n.mayReattach(at.Add(reattachAtMost)) {
		t.Fatalf("once every member is heard, a leaf may not attach again %v after it last did", reattachAtMost)
	}
	n.reattached(at.Add(reattachAtMost))
	if n.mayReattach(at.Add(2*reattachAtMost - time.Millisecond)) {
		t.Fatalf("after the trouble ended, the next pause is shorter than %v", reattachAtMost)
	}
	if !n.mayReattach(at.Add(reattachAtMost + reattachAtMost + reattachAtMost/4)) {
		t.Fatalf("after the trouble ended, the next pause is longer than %v", reattachAtMost+reattachAtMost/4)
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
