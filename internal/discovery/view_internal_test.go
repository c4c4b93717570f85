package discovery

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/peer"
)

// The view's members, encoded one by one for sync answers, decode as the
// snapshot they are, and a member that changes is encoded anew; the hub
// set follows the members' roles.
func TestViewEncodesAndTracksHubs(t *testing.T) {
	v := newView("self")
	info := func(i int, role string, value string) peer.Info {
		return peer.Info{ID: peer.ID(fmt.Sprintf("p%d", i)), Started: time.Unix(int64(i), 0).UTC(),
			Role: role, Values: map[string]string{"v": value}}
	}
	for i := range 5 {
		role := peer.RoleLeaf
		if i < 2 {
			role = peer.RoleHub
		}
		v.join(info(i, role, "a"))
	}
	decode := func() map[peer.ID]peer.Info {
		t.Helper()
		b, _, err := v.appendJSON([]byte(`{"members":[{"id":"self"}`))
		if err != nil {
			t.Fatal(err)
		}
		snap, err := peer.Decode[peer.MemberSnapshot](append(b, "]}"...))
		if err != nil {
			t.Fatalf("%v: %s", err, b)
		}
		out := map[peer.ID]peer.Info{}
		for _, m := range snap.Members {
			out[m.ID] = m
		}
		return out
	}
	check := func(step string) {
		t.Helper()
		got, want := decode(), v.snapshot()
		want["self"] = peer.Info{ID: "self"}
		if !maps.EqualFunc(got, want, func(a, b peer.Info) bool { return fmt.Sprint(a) == fmt.Sprint(b) }) {
			t.Errorf("%s: encoded %v, want %v", step, got, want)
		}
		var hubs []peer.ID
		for _, h := range v.hubs() {
			hubs = append(hubs, h.ID)
		}
		slices.Sort(hubs)
		var wantHubs []peer.ID
		for id, m := range want {
			if m.Role == peer.RoleHub {
				wantHubs = append(wantHubs, id)
			}
		}
		slices.Sort(wantHubs)
		if !slices.Equal(hubs, wantHubs) {
			t.Errorf("%s: hubs %v, want %v", step, hubs, wantHubs)
		}
	}
	check("joined")
	v.join(info(3, peer.RoleLeaf, "b")) // a change of values
	v.join(info(1, peer.RoleLeaf, "a")) // a hub becomes a leaf
	v.join(info(4, peer.RoleHub, "a"))  // a leaf becomes a hub
	check("updated")
	v.remove("p0", Left)
	v.remove("p4", Failed)
	check("removed")
}

// A member's info that comes again unchanged (a sync, a digest's repair,
// a Refresh) leaves the time it has stood since; a change starts it anew,
// and a member that goes and comes back stands from its return.
func TestAnInfoStandsUntilItChanges(t *testing.T) {
	v := newView("self")
	hub := peer.Info{ID: "h", Role: peer.RoleHub, Leaves: []string{"a"}}
	v.join(hub)
	first := v.stoodSince("h")
	if first.IsZero() {
		t.Fatal("a member that joined stands since no time")
	}
	time.Sleep(2 * time.Millisecond)
	hub.Leaves = []string{"a", "b"} // its connections: no change of its own
	v.join(hub)
	if got := v.stoodSince("h"); !got.Equal(first) {
		t.Fatalf("an info that came again unchanged stands since %v, want %v", got, first)
	}
	if !v.learnedAt("h").After(first) {
		t.Fatal("an info that came again was not learned anew")
	}
	hub.Values = map[string]string{"k": "v"}
	v.join(hub)
	if got := v.stoodSince("h"); !got.After(first) {
		t.Fatalf("an updated info stands since %v, want after %v", got, first)
	}
	v.remove("h", Failed)
	if got := v.stoodSince("h"); !got.IsZero() {
		t.Fatalf("a member that failed stands since %v", got)
	}
}

// The interest check passes over a leaf that is moving: one whose info
// names a hub the view no longer holds, and one that named another hub
// lately, whose interest is still on its way through it. A leaf that
// stayed is checked, and so is a mover once it has stood at its new hub.
func TestTheInterestCheckPassesOverMovingLeaves(t *testing.T) {
	v := newView("self")
	v.join(peer.Info{ID: "a", Role: peer.RoleHub})
	v.join(peer.Info{ID: "b", Role: peer.RoleHub})
	v.join(peer.Info{ID: "stays", Role: peer.RoleLeaf, Leaves: []string{"b"}})
	v.join(peer.Info{ID: "moves", Role: peer.RoleLeaf, Leaves: []string{"a"}})
	checked := func(before time.Time) []peer.ID {
		var ids []peer.ID
		for _, s := range v.servers(before) {
			ids = append(ids, s.id)
		}
		slices.Sort(ids)
		return ids
	}
	time.Sleep(2 * time.Millisecond)
	if got, want := checked(time.Now()), []peer.ID{"a", "b", "moves", "stays"}; !slices.Equal(got, want) {
		t.Fatalf("settled: checked %v, want %v", got, want)
	}
	v.remove("a", Failed)
	if got, want := checked(time.Now()), []peer.ID{"b", "stays"}; !slices.Equal(got, want) {
		t.Fatalf("its hub failed: checked %v, want %v", got, want)
	}
	before := time.Now()
	time.Sleep(2 * time.Millisecond)
	v.join(peer.Info{ID: "moves", Role: peer.RoleLeaf, Leaves: []string{"b"}})
	if got, want := checked(before), []peer.ID{"b", "stays"}; !slices.Equal(got, want) {
		t.Fatalf("attached elsewhere: checked %v, want %v", got, want)
	}
	if !v.stoodSince("moves").Before(before) {
		t.Fatal("a leaf that moved stands anew: its info did not change")
	}
	time.Sleep(2 * time.Millisecond)
	if got, want := checked(time.Now()), []peer.ID{"b", "moves", "stays"}; !slices.Equal(got, want) {
		t.Fatalf("stood at its new hub: checked %v, want %v", got, want)
	}
	// A leaf whose news of its next hub never came is checked again once
	// it has been hubless for movingFor.
	v.join(peer.Info{ID: "stale", Role: peer.RoleLeaf, Leaves: []string{"b"}})
	v.remove("b", Failed)
	if got, want := checked(time.Now()), []peer.ID{}; !slices.Equal(got, want) {
		t.Fatalf("its hub failed just now: checked %v, want %v", got, want)
	}
	v.mu.Lock()
	v.gone["b"] = removal{at: time.Now().Add(-movingFor - time.Second)}
	for _, id := range []peer.ID{"stays", "moves", "stale"} {
		v.stood[id], v.attached[id] = time.Now().Add(-time.Minute), time.Now().Add(-time.Minute)
	}
	v.mu.Unlock()
	if got, want := checked(time.Now()), []peer.ID{"moves", "stale", "stays"}; !slices.Equal(got, want) {
		t.Fatalf("hubless for longer than movingFor: checked %v, want %v", got, want)
	}
}

// A sync answered before the hub heard that a member went does not bring
// the member back; a member that started again since, or an answer asked
// for long after it went, does.
func TestASyncDoesNotBringBackAMemberThatWent(t *testing.T) {
	v := newView("self")
	started := time.Unix(100, 0).UTC()
	hub := peer.Info{ID: "a", Role: peer.RoleHub, Started: started}
	leaf := peer.Info{ID: "l", Role: peer.RoleLeaf, Started: started}
	v.join(hub)
	v.join(leaf)
	asked := time.Now()
	v.remove("a", Failed) // the news came while the sync was on its way
	v.replace(map[peer.ID]peer.Info{"a": hub, "l": leaf}, asked)
	if _, back := v.get("a"); back {
		t.Fatal("a sync asked before the member failed brought it back")
	}
	again := hub
	again.Started = started.Add(time.Second)
	v.replace(map[peer.ID]peer.Info{"a": again, "l": leaf}, asked)
	if _, back := v.get("a"); !back {
		t.Fatal("a member that started again since it failed was not taken")
	}
	v.remove("a", Failed)
	v.replace(map[peer.ID]peer.Info{"a": again, "l": leaf}, time.Now().Add(snapshotLag+time.Second))
	if _, back := v.get("a"); !back {
		t.Fatal("a sync asked long after the member failed did not bring it back")
	}
}

// A sync's answer without a member that this view has known unchanged
// for long removes it, even if its info came again lately (a Refresh just
// before it died); a member that joined lately stays, its join perhaps
// still on its way to the hub that answered.
func TestASyncRemovesAMemberKnownForLongThoughHeardLately(t *testing.T) {
	v := newView("self")
	old := peer.Info{ID: "old", Role: peer.RoleHub, Started: time.Unix(100, 0).UTC()}
	v.join(old)
	v.mu.Lock()
	v.stood["old"], v.heard["old"] = time.Now().Add(-time.Minute), time.Now().Add(-time.Minute)
	v.mu.Unlock()
	v.join(old) // a Refresh's answer, unchanged
	v.join(peer.Info{ID: "new", Role: peer.RoleLeaf, Started: time.Unix(200, 0).UTC()})
	v.replace(map[peer.ID]peer.Info{}, time.Now())
	if _, kept := v.get("old"); kept {
		t.Error("a member known for long and missing from the answer was kept because it was heard lately")
	}
	if _, kept := v.get("new"); !kept {
		t.Error("a member that joined lately was removed by an answer that may predate its join")
	}
}

// A member that this view has only from a sync's answer asked long
// before is removed by a later answer without it (a peer that joined 3 s
// before a hub died kept the hub after its next sync); one that an answer
// brought just before stays, the hub answering now perhaps lagging.
func TestASyncRemovesAMemberKnownOnlyFromAnEarlierAnswer(t *testing.T) {
	v := newView("self")
	hub := peer.Info{ID: "a", Role: peer.RoleHub, Started: time.Unix(100, 0).UTC()}
	other := peer.Info{ID: "b", Role: peer.RoleHub, Started: time.Unix(101, 0).UTC()}
	v.replace(map[peer.ID]peer.Info{"a": hub, "b": other}, time.Now().Add(-snapshotLag-time.Second))
	v.replace(map[peer.ID]peer.Info{"b": other}, time.Now())
	if _, kept := v.get("a"); kept {
		t.Error("a member known only from an answer asked long before was kept, missing from a later one")
	}
	// An answer of a hub that lags, asked right after the one that
	// brought the member, does not remove it: its join may be on its way.
	v.replace(map[peer.ID]peer.Info{"a": hub, "b": other}, time.Now())
	v.replace(map[peer.ID]peer.Info{"b": other}, time.Now())
	if _, kept := v.get("a"); !kept {
		t.Error("a member an answer brought just before was removed by another answer")
	}
}

// News that a member went keeps an answer made before from bringing it
// back, but not the member's own news that it is here; and an answer's
// own removal keeps nothing out.
func TestOnlyNewsOfAMemberThatWentKeepsItOut(t *testing.T) {
	v := newView("self")
	m := peer.Info{ID: "m", Role: peer.RoleLeaf, Started: time.Unix(100, 0).UTC()}
	v.join(m)
	v.remove("m", Failed) // reported failed by mistake
	v.join(m)             // it says it is here
	if _, back := v.get("m"); !back {
		t.Fatal("a member's own join did not bring it back after news that it failed")
	}
	v.mu.Lock()
	v.heard["m"] = time.Now().Add(-time.Minute)
	v.mu.Unlock()
	v.replace(map[peer.ID]peer.Info{}, time.Now()) // a hub's answer without it
	v.replace(map[peer.ID]peer.Info{"m": m}, time.Now())
	if _, back := v.get("m"); !back {
		t.Fatal("an answer's removal kept the next answer from bringing the member back")
	}
}

// A leaf's topology loop wakes for the changes that can change its role
// or its hubs, not for every other leaf that joins or changes.
func TestALeafWakesOnlyForChangesThatReshape(t *testing.T) {
	v := newView("self")
	v.selfStarted = time.Unix(0, 0).UTC()
	info := func(id string, role string, hub bool, started int64) peer.Info {
		return peer.Info{ID: peer.ID(id), FriendlyID: peer.FriendlyID{Hub: hub}, Started: time.Unix(started, 0).UTC(), Role: role}
	}
	steps := []struct {
		what     string
		change   func()
		reshapes bool
	}{
		{"a leaf joins", func() { v.join(info("l1", peer.RoleLeaf, false, 1)) }, false},
		{"a leaf changes", func() {
			v.join(peer.Info{ID: "l1", Started: time.Unix(1, 0).UTC(), Role: peer.RoleLeaf, Values: map[string]string{"k": "v"}})
		}, false},
		{"a hub joins", func() { v.join(info("h1", peer.RoleHub, false, 2)) }, true},
		{"a hub by configuration joins as a leaf", func() { v.join(info("c1", peer.RoleLeaf, true, 3)) }, true},
		{"a leaf becomes a hub", func() { v.join(info("l1", peer.RoleHub, false, 1)) }, true},
		{"another leaf joins", func() { v.join(info("l2", peer.RoleLeaf, false, 4)) }, false},
		{"a leaf older than this peer joins", func() { v.join(info("o1", peer.RoleLeaf, false, -1)) }, true},
		{"a leaf fails", func() { v.drop("l2", Failed, true) }, true},
		{"a hub leaves", func() { v.drop("h1", Left, true) }, true},
	}
	for _, s := range steps {
		changed, reshaped := v.wait(), v.waitReshaped()
		s.change()
		select {
		case <-changed:
		default:
			t.Fatalf("%s: the view did not change", s.what)
		}
		select {
		case <-reshaped:
			if !s.reshapes {
				t.Errorf("%s: woke a leaf's loop", s.what)
			}
		default:
			if s.reshapes {
				t.Errorf("%s: did not wake a leaf's loop", s.what)
			}
		}
	}
}
