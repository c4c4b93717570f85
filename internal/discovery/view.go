package discovery

import (
	"hash/fnv"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/appnet-go/appnet/internal/peer"
)

// Kind says what happened to a peer.
type Kind int

// The kinds of [Change].
const (
	// Joined: a peer entered the network (or this peer's view of it).
	Joined Kind = iota + 1
	// Left: a peer closed gracefully.
	Left
	// Failed: a peer stopped answering: it crashed, or its host or link
	// went away.
	Failed
	// Updated: a peer's Info changed (its values, role, connections).
	Updated
	// Resync: the watcher fell behind and missed changes; Peers holds the
	// whole current view (through the watch's filters), which replaces
	// whatever the watcher knew.
	Resync
)

func (k Kind) String() string {
	switch k {
	case Joined:
		return "joined"
	case Left:
		return "left"
	case Failed:
		return "failed"
	case Updated:
		return "updated"
	case Resync:
		return "resync"
	}
	return "unknown"
}

// MarshalText writes the kind's name, for JSON.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Change is one change of the membership view.
type Change struct {
	Kind Kind      `json:"kind"`
	ID   peer.ID   `json:"id"`
	Info peer.Info `json:"info"`
	// Peers is the whole view, for a Resync only.
	Peers Peers `json:"peers,omitzero"`
}

// view is the membership view of one peer: every other peer it knows of,
// kept current by changes, and the watchers told of each.
type view struct {
	mu       sync.Mutex
	self     peer.ID
	members  map[peer.ID]peer.Info
	learned  map[peer.ID]time.Time // when each member's info last came, changed or not
	stood    map[peer.ID]time.Time // when each member's info last changed (joined, or updated)
	heard    map[peer.ID]time.Time // the same, as news said or as an answer asked at this time said
	attached map[peer.ID]time.Time // when each leaf's info last named another hub
	gone     map[peer.ID]removal   // the members news said went, lately
	watchers map[*watcher]struct{}
	// changed is closed and replaced on every change, for Wait and a
	// hub's topology loop; count counts them.
	changed   chan struct{}
	count     uint64
	changedAt time.Time // the last change
	// reshaped is too, at the changes that can change a leaf's role or
	// its hubs (waitReshaped); selfStarted is when this peer started.
	reshaped    chan struct{}
	selfStarted time.Time
	// sum is the digest's sum over the members, kept as they change.
	sum uint64
	// hubIDs are the members whose role is hub, kept as they change: the
	// topology asks for the hubs at every change, of views that hold
	// every peer of the network.
	hubIDs map[peer.ID]struct{}
	// encoded holds members' infos as JSON, made when a sync answer
	// first needs them: a hub answers syncs in a mass start, while its
	// view changes with every join, and each answer needs every member.
	encoded map[peer.ID][]byte
}

// changes returns how many changes the view has had.
func (v *view) changes() uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.count
}

func newView(self peer.ID) *view {
	return &view{self: self, members: map[peer.ID]peer.Info{},
		learned: map[peer.ID]time.Time{}, stood: map[peer.ID]time.Time{}, heard: map[peer.ID]time.Time{},
		attached: map[peer.ID]time.Time{}, gone: map[peer.ID]removal{},
		watchers: map[*watcher]struct{}{}, changed: make(chan struct{}), reshaped: make(chan struct{}), hubIDs: map[peer.ID]struct{}{},
		encoded: map[peer.ID][]byte{}}
}

// snapshot returns a copy of the members.
func (v *view) snapshot() map[peer.ID]peer.Info {
	v.mu.Lock()
	defer v.mu.Unlock()
	return maps.Clone(v.members)
}

// appendJSON appends the members' infos to b as JSON, each after a
// comma, and returns b and the change count they are as of. Each member
// is encoded once per change of it.
func (v *view) appendJSON(b []byte) ([]byte, uint64, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for id, info := range v.members {
		data, err := v.encode(id, info)
		if err != nil {
			return nil, 0, err
		}
		b = append(append(b, ','), data...)
	}
	return b, v.count, nil
}

// appendMissing appends to b, as JSON array elements, the infos of the
// members whose memberHash have lacks, and returns b and the hashes of
// have that are members' (a delta sync answer, see
// peer.MemberSnapshot).
func (v *view) appendMissing(b []byte, have map[uint64]bool) ([]byte, map[uint64]bool, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	held := make(map[uint64]bool, len(have))
	for id, info := range v.members {
		if h := memberHash(info); have[h] {
			held[h] = true
			continue
		}
		data, err := v.encode(id, info)
		if err != nil {
			return nil, nil, err
		}
		if b[len(b)-1] != '[' {
			b = append(b, ',')
		}
		b = append(b, data...)
	}
	return b, held, nil
}

// encode returns a member's info as JSON, encoded once per change of it.
// v.mu is held.
func (v *view) encode(id peer.ID, info peer.Info) ([]byte, error) {
	if data, ok := v.encoded[id]; ok {
		return data, nil
	}
	data, err := peer.Encode(info)
	if err == nil {
		v.encoded[id] = data
	}
	return data, err
}

// hubs returns the members whose role is hub, without looking at the
// rest.
func (v *view) hubs() []peer.Info {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]peer.Info, 0, len(v.hubIDs))
	for id := range v.hubIDs {
		out = append(out, v.members[id])
	}
	return out
}

// set makes info the member of its ID. v.mu is held.
func (v *view) set(info peer.Info) {
	if old, known := v.members[info.ID]; !known || (info.Role == peer.RoleLeaf && !slices.Equal(old.Leaves, info.Leaves)) {
		v.attached[info.ID] = time.Now()
	}
	v.members[info.ID] = info
	delete(v.encoded, info.ID)
	if info.Role == peer.RoleHub {
		v.hubIDs[info.ID] = struct{}{}
	} else {
		delete(v.hubIDs, info.ID)
	}
}

// oldest returns the k oldest members that are neither hubs nor hubs by
// configuration (which an election passes over when they run as leaves),
// oldest first, without copying the rest: it runs at every change.
func (v *view) oldest(k int) []peer.Info {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []peer.Info
	for _, info := range v.members {
		if info.Role != peer.RoleHub && !info.Hub {
			out = keepOldest(out, info, k)
		}
	}
	return out
}

// keepOldest adds info to oldest, which is sorted oldest first, and keeps
// at most k.
func keepOldest(oldest []peer.Info, info peer.Info, k int) []peer.Info {
	i, _ := slices.BinarySearchFunc(oldest, info, byAge)
	if i >= k {
		return oldest
	}
	oldest = slices.Insert(oldest, i, info)
	return oldest[:min(len(oldest), k)]
}

// ids returns the IDs of the members q matches, without copying them.
func (v *view) ids(q query) []peer.ID {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []peer.ID
	for id, info := range v.members {
		if q.match(info) {
			out = append(out, id)
		}
	}
	return out
}

// get returns one member.
func (v *view) get(id peer.ID) (peer.Info, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	info, ok := v.members[id]
	return info, ok
}

// server is what the interest check needs of a member with a server.
type server struct {
	id    peer.ID
	inbox string
}

// servers returns the members that run a server of their own (not the
// clients of another peer's) and whose info has stood unchanged since
// before, leaves that are moving left out: those that named another hub
// after before (their interest is still on its way through the new one),
// and, for movingFor, those whose info names no hub of the view (theirs
// went, and their news of the next one has yet to come).
func (v *view) servers(before time.Time) []server {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]server, 0, len(v.members))
	for id, info := range v.members {
		if info.Role != peer.RoleHub && info.Role != peer.RoleLeaf || !v.stood[id].Before(before) {
			continue // a client of another peer's server, or changed lately
		}
		if info.Role == peer.RoleLeaf && (!v.attached[id].Before(before) || v.hubless(id, info)) {
			continue // moving
		}
		inbox := info.Inbox
		if strings.HasPrefix(inbox, peer.OwnPrefix(id)) {
			inbox = "" // under its own subject: heard with its calls
		}
		out = append(out, server{id, inbox})
	}
	return out
}

// movingFor is how long a leaf whose info names no hub of the view is
// taken for one on its way to another hub: past it, the check asks about
// it, and if it is not heard it is told, and attaches and says where.
const movingFor = 10 * time.Second

// hubless reports whether a leaf's info has named no hub of the view
// for less than movingFor: it named none when it came, or the hub it
// names went. v.mu is held.
func (v *view) hubless(id peer.ID, leaf peer.Info) bool {
	since := v.attached[id]
	for _, hub := range leaf.Leaves {
		if _, ok := v.hubIDs[peer.ID(hub)]; ok {
			return false
		}
		if r, went := v.gone[peer.ID(hub)]; went && r.at.After(since) {
			since = r.at
		}
	}
	return time.Since(since) < movingFor
}

// claiming returns the leaves whose info names hub as theirs.
func (v *view) claiming(hub peer.ID) []peer.ID {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []peer.ID
	for id, info := range v.members {
		if info.Role == peer.RoleLeaf && slices.Contains(info.Leaves, string(hub)) {
			out = append(out, id)
		}
	}
	return out
}

// loads counts the leaves of the view by the hub their info names.
func (v *view) loads() map[peer.ID]int {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := map[peer.ID]int{}
	for _, info := range v.members {
		if info.Role == peer.RoleLeaf && len(info.Leaves) > 0 {
			out[peer.ID(info.Leaves[0])]++
		}
	}
	return out
}

// learnedAt returns when the member last joined or updated (zero if
// unknown).
func (v *view) learnedAt(id peer.ID) time.Time {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.learned[id]
}

// stoodSince returns when id's info last changed: it has stood unchanged
// since then, however often it came again.
func (v *view) stoodSince(id peer.ID) time.Time {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.stood[id]
}

// wait returns a channel closed at the next change.
func (v *view) wait() <-chan struct{} {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.changed
}

// waitReshaped returns a channel closed at the next change that can
// change a leaf's role or its hubs: one of a hub (joined, updated, gone,
// or become one or no longer one), every removal, and the join of a peer
// that started before this one (the oldest members are the candidates to
// replace a hub). A leaf's topology loop waits for these only: in a mass
// start, the joins of younger peers woke every leaf's loop for nothing,
// and an idle process pays a dozen context switches for each wake-up.
func (v *view) waitReshaped() <-chan struct{} {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.reshaped
}

// hubOrCandidate reports whether info is of a hub, or of a peer that is
// one by configuration (a leaf only until it can be).
func hubOrCandidate(info peer.Info) bool { return info.Role == peer.RoleHub || info.Hub }

// join records info as present: a Joined change for a new member, an
// Updated one for a known member whose info differs, none otherwise.
// It reports whether the view changed.
func (v *view) join(info peer.Info) bool { return v.add(info, time.Now(), time.Time{}) }

// add is join, for news of the member heard at heard, or for a sync's
// answer asked at heard: unless goneSince is zero, a member removed at or
// after goneSince is not brought back, unless it started again since.
func (v *view) add(info peer.Info, heard, goneSince time.Time) bool {
	if info.ID == v.self || info.ID == "" {
		return false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	old, known := v.members[info.ID]
	if r, went := v.gone[info.ID]; !known && went && !goneSince.IsZero() &&
		!r.at.Before(goneSince) && !info.Started.After(r.started) {
		return false // the answer was made before its hub heard
	}
	delete(v.gone, info.ID) // back, or here all along
	v.learned[info.ID] = time.Now()
	if known && sameInfo(old, info) {
		v.set(info) // the newer connections, quietly
		return false
	}
	v.set(info)
	v.stood[info.ID] = time.Now()
	if heard.After(v.heard[info.ID]) {
		v.heard[info.ID] = heard
	}
	v.sum += memberHash(info)
	kind := Joined
	if known {
		kind = Updated
		v.sum -= memberHash(old)
	}
	v.notify(Change{Kind: kind, ID: info.ID, Info: info}, old)
	return true
}

// sameInfo compares two infos, ignoring what changes without the peer
// doing anything: its dropped-event count, and its server's connections
// and the hubs it knows, which move whenever the network does. An update
// is what the peer itself changed: values, connections, role.
func sameInfo(a, b peer.Info) bool {
	for _, i := range []*peer.Info{&a, &b} {
		i.EventsDropped, i.Routes, i.Leaves, i.Hubs = 0, nil, nil, nil
	}
	return reflect.DeepEqual(a, b)
}

// remove drops a member, with a Left or Failed change; it reports whether
// the member was known.
func (v *view) remove(id peer.ID, kind Kind) bool { return v.drop(id, kind, true) }

// drop is remove; news says the member went, rather than a sync's answer
// without it: only news keeps an answer from bringing it back (replace).
func (v *view) drop(id peer.ID, kind Kind, news bool) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	old, ok := v.members[id]
	if !ok {
		return false
	}
	for gid, r := range v.gone {
		if time.Since(r.at) > goneFor {
			delete(v.gone, gid)
		}
	}
	if news {
		v.gone[id] = removal{at: time.Now(), started: old.Started}
	}
	delete(v.members, id)
	delete(v.learned, id)
	delete(v.stood, id)
	delete(v.heard, id)
	delete(v.attached, id)
	delete(v.hubIDs, id)
	delete(v.encoded, id)
	v.sum -= memberHash(old)
	v.notify(Change{Kind: kind, ID: id, Info: old}, old)
	return true
}

// replace makes members, a view as it was at asked, the whole view, as
// changes: what is new joins, what differs updates, and what is missing
// is reported as failed (it went while this peer was not listening),
// unless it joined or changed, by news or by an earlier answer, after
// asked or less than snapshotLag before (an answer counts from when it
// was asked): its join may have yet to reach the hub that answered (in a
// mass start, a join can reach a leaf through one hub before the other
// hub, which answers the leaf's sync, has it). An info that came again
// unchanged does not count: a Refresh just before a hub died had its
// leaves keep it after their syncs, until the digests (hub kills of 9 and
// 12 s at 200 peers, against 3 s); nor did a peer that joined 3 s before
// the hub died need to keep it.
//
// Likewise, a member that news said went after asked, or less than
// snapshotLag before, is not brought back by the answer, unless it
// started again since: the hub answered before it heard that the member
// went. (After a hub kill at 200 peers, a moving leaf whose sync crossed
// the failure's news got the dead hub back, for the digests to remove 7
// to 8 s later; that was the whole network's time to whole.)
func (v *view) replace(members map[peer.ID]peer.Info, asked time.Time) {
	for _, info := range members {
		v.add(info, asked, asked.Add(-snapshotLag))
	}
	v.mu.Lock()
	var gone []peer.ID
	for id := range v.members {
		if _, ok := members[id]; !ok && v.heard[id].Before(asked.Add(-snapshotLag)) {
			gone = append(gone, id)
		}
	}
	v.mu.Unlock()
	for _, id := range gone {
		v.drop(id, Failed, false)
	}
}

// snapshotLag is how long before a sync a member must have last joined
// or changed for its absence from the answer to count as a failure, or
// have gone for its presence to bring it back.
const snapshotLag = 3 * time.Second

// A removal is when a member went, and when the info it went with says
// it started. The view keeps them for goneFor.
type removal struct{ at, started time.Time }

const goneFor = time.Minute

// notify hands a change to every watcher whose filter the member matches
// (before or after), and wakes the waiters. v.mu is held.
func (v *view) notify(c Change, old peer.Info) {
	for w := range v.watchers {
		if w.q.match(c.Info) || (old.ID != "" && w.q.match(old)) {
			w.push(c)
		}
	}
	close(v.changed)
	v.changed = make(chan struct{})
	if c.Kind == Left || c.Kind == Failed || hubOrCandidate(c.Info) || hubOrCandidate(old) ||
		c.Kind == Joined && !c.Info.Started.After(v.selfStarted) {
		close(v.reshaped)
		v.reshaped = make(chan struct{})
	}
	v.count++
	v.changedAt = time.Now()
}

// lastChange returns when the view last changed.
func (v *view) lastChange() time.Time {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.changedAt
}

// digest is what a hub's digest says of a view with self (when not nil):
// how many peers, and the sum of their memberHash (mod 2^64, in hex),
// which the view keeps as it changes: a digest costs no walk of the view.
func (v *view) digest(self *peer.Info) (int, string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	n, sum := len(v.members), v.sum
	if self != nil {
		n, sum = n+1, sum+memberHash(*self)
	}
	return n, strconv.FormatUint(sum, 16)
}

// syncAsk describes the view with self for a sync request: its digest,
// and the memberHash of each member and of self, which the digest sums.
func (v *view) syncAsk(self peer.Info) peer.MemberSyncAsk {
	v.mu.Lock()
	defer v.mu.Unlock()
	have := make([]string, 0, len(v.members)+1)
	for _, info := range v.members {
		have = append(have, strconv.FormatUint(memberHash(info), 16))
	}
	own := memberHash(self)
	have = append(have, strconv.FormatUint(own, 16))
	return peer.MemberSyncAsk{Peers: len(v.members) + 1, Sum: strconv.FormatUint(v.sum+own, 16), Have: have}
}

// parseHashes reads hashes in hex, as syncAsk writes them; it skips what
// is not one.
func parseHashes(hexes []string) map[uint64]bool {
	out := make(map[uint64]bool, len(hexes))
	for _, h := range hexes {
		if x, err := strconv.ParseUint(h, 16, 64); err == nil {
			out[x] = true
		}
	}
	return out
}

// memberHash is FNV-1a 64 over what a digest compares of a member: its ID,
// role, leaf node URL and values.
func memberHash(info peer.Info) uint64 {
	h := fnv.New64a()
	h.Write([]byte(string(info.ID) + "|" + info.Role + "|" + info.Leaf + "|"))
	for _, k := range slices.Sorted(maps.Keys(info.Values)) {
		h.Write([]byte(k + "=" + info.Values[k] + ","))
	}
	return h.Sum64()
}

func compareIDs(a, b peer.ID) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
