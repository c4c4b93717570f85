package discovery

import (
	"maps"
	"reflect"
	"sync"

	"github.com/appnet-go/appnet/peer"
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
	watchers map[*watcher]struct{}
	// changed is closed and replaced on every change, for Wait and the
	// topology loop.
	changed chan struct{}
}

func newView(self peer.ID) *view {
	return &view{self: self, members: map[peer.ID]peer.Info{}, watchers: map[*watcher]struct{}{}, changed: make(chan struct{})}
}

// snapshot returns a copy of the members.
func (v *view) snapshot() map[peer.ID]peer.Info {
	v.mu.Lock()
	defer v.mu.Unlock()
	return maps.Clone(v.members)
}

// get returns one member.
func (v *view) get(id peer.ID) (peer.Info, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	info, ok := v.members[id]
	return info, ok
}

// wait returns a channel closed at the next change.
func (v *view) wait() <-chan struct{} {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.changed
}

// join records info as present: a Joined change for a new member, an
// Updated one for a known member whose info differs, none otherwise.
// It reports whether the view changed.
func (v *view) join(info peer.Info) bool {
	if info.ID == v.self || info.ID == "" {
		return false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	old, known := v.members[info.ID]
	if known && sameInfo(old, info) {
		v.members[info.ID] = info // the newer connections, quietly
		return false
	}
	v.members[info.ID] = info
	kind := Joined
	if known {
		kind = Updated
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
func (v *view) remove(id peer.ID, kind Kind) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	old, ok := v.members[id]
	if !ok {
		return false
	}
	delete(v.members, id)
	v.notify(Change{Kind: kind, ID: id, Info: old}, old)
	return true
}

// replace makes members the whole view, as changes: what is new joins,
// what differs updates, what is missing is reported as failed (it was not
// in the network's view: it went while this peer was not listening).
func (v *view) replace(members map[peer.ID]peer.Info) {
	for _, info := range members {
		v.join(info)
	}
	v.mu.Lock()
	var gone []peer.ID
	for id := range v.members {
		if _, ok := members[id]; !ok {
			gone = append(gone, id)
		}
	}
	v.mu.Unlock()
	for _, id := range gone {
		v.remove(id, Failed)
	}
}

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
}
