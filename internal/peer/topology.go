package peer

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Roles a peer's server plays in the network (Info.Role).
const (
	RoleHub  = "hub"
	RoleLeaf = "leaf"
)

// AsLeaf starts the peer's server as a leaf: no cluster listener, and a
// leaf node connection to the hubs that discovery names. Without it a
// peer's server starts as a hub, ready to route.
func AsLeaf() Option { return func(c *Config) { c.leaf = true } }

// topology is what a peer knows of its place in the network beyond its
// own server: the hubs, its values, and who wants to hear of a change.
type topology struct {
	restarting atomic.Bool // during SetRole: the connection's loss is expected
	// members names the peers of the network (discovery's view), whose
	// servers Sync waits for; nil: the servers routed to.
	members atomic.Pointer[func() []string]
	// unheard is told of each call to info that says its caller's server
	// does not hear this peer (HeaderUnheard); nil: nobody listens.
	unheard  atomic.Pointer[func(from string)]
	mu       sync.Mutex
	hubs     []HubAddr
	values   map[string]string
	onChange []func()
}

func (p *Peer) role() string {
	if p.srv == nil || !p.srv.Hub() {
		return RoleLeaf
	}
	return RoleHub
}

func (p *Peer) leafURL() string {
	if p.srv == nil {
		return ""
	}
	return p.srv.LeafURL()
}

func (p *Peer) leaves() []string {
	if p.srv == nil {
		return nil
	}
	return p.srv.Leaves()
}

// knownHubs returns the hubs discovery set, or this peer alone when it is
// a hub that knows of no other.
func (p *Peer) knownHubs() []HubAddr {
	p.topo.mu.Lock()
	hubs := slices.Clone(p.topo.hubs)
	p.topo.mu.Unlock()
	if hubs == nil {
		hubs = []HubAddr{}
	}
	if p.role() == RoleHub && !slices.ContainsFunc(hubs, func(h HubAddr) bool { return h.ID == p.id }) {
		hubs = append(hubs, p.HubAddr())
	}
	return hubs
}

// Started returns when the peer started: of two peers, the older is the
// one elected hub first.
func (p *Peer) Started() time.Time { return p.started }

// friendly is the peer's FriendlyID, its hub flag as configured now.
func (p *Peer) friendly() FriendlyID {
	f := p.self
	f.Hub = p.Config().Hub
	return f
}

// HubAddr returns where this peer's server accepts routes and leaf
// nodes; both are empty for a leaf.
func (p *Peer) HubAddr() HubAddr {
	return HubAddr{ID: p.id, Cluster: p.clusterURL(), Leaf: p.leafURL(), Fixed: p.Config().Hub}
}

// SetKnownHubs records the network's hubs as discovery knows them, for
// Info (a newcomer attaches to them).
func (p *Peer) SetKnownHubs(hubs []HubAddr) {
	p.topo.mu.Lock()
	defer p.topo.mu.Unlock()
	p.topo.hubs = slices.Clone(hubs)
}

// SetRole restarts the peer's server as a hub or as a leaf, on the same
// port, and returns once the peer's connection is back with every
// subscription. Calls in flight through the server fail; the ID does not
// change. A peer that is a client of a NATS deployment has no server and
// refuses. If the server cannot restart (its port was taken meanwhile),
// the peer closes and the error says why.
func (p *Peer) SetRole(ctx context.Context, hub bool) error {
	if p.srv == nil {
		return fmt.Errorf("%w: a client of a NATS deployment has no server to make a %s", ErrConfig, RoleHub)
	}
	if p.srv.Hub() == hub {
		return nil
	}
	p.topo.restarting.Store(true)
	defer p.topo.restarting.Store(false)
	if err := p.srv.SetHub(ctx, hub); err != nil {
		p.log.Error("appnet: the peer's server could not restart; the peer stops", "err", err)
		go p.Close()
		return err
	}
	p.log.Debug("appnet: the peer's server changed role", "role", p.role())
	// The in-process connection reconnects within milliseconds; a flush
	// proves it is back and has sent its subscriptions again.
	for {
		fctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		err := p.nc.FlushWithContext(fctx)
		cancel()
		if err == nil {
			return nil // the caller tells the network, once it can hear
		}
		if ctx.Err() != nil {
			return fmt.Errorf("reconnecting to the restarted server: %w", ctx.Err())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Limits of a peer's values: they travel in every Info.
const (
	MaxValues      = 32
	MaxValueKeyLen = 64
	MaxValueLen    = 256
)

var valueKeyRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// ErrInvalidValue is wrapped by every refusal of a value or its key.
var ErrInvalidValue = errors.New("invalid value")

// ValidateValue checks a key and its value against the limits.
func ValidateValue(key, value string) error {
	switch {
	case len(key) == 0 || len(key) > MaxValueKeyLen:
		return fmt.Errorf("%w: key of %d bytes: want 1 to %d", ErrInvalidValue, len(key), MaxValueKeyLen)
	case !valueKeyRE.MatchString(key):
		return fmt.Errorf("%w: key %q: want letters, digits, '_', '.' or '-'", ErrInvalidValue, short(key))
	case len(value) > MaxValueLen:
		return fmt.Errorf("%w: value of %q is %d bytes: want at most %d", ErrInvalidValue, key, len(value), MaxValueLen)
	case !utf8.ValidString(value):
		return fmt.Errorf("%w: value of %q is not valid UTF-8", ErrInvalidValue, key)
	}
	return nil
}

// SetValue sets one of the peer's values: it shows in Info, in the micro
// metadata, and reaches every peer that watches the network as an update.
// At most MaxValues keys of [A-Za-z0-9_.-], up to MaxValueKeyLen bytes,
// and values of up to MaxValueLen bytes; anything else wraps
// [ErrInvalidValue].
func (p *Peer) SetValue(key, value string) error {
	if err := ValidateValue(key, value); err != nil {
		return err
	}
	p.topo.mu.Lock()
	if _, ok := p.topo.values[key]; !ok && len(p.topo.values) >= MaxValues {
		p.topo.mu.Unlock()
		return fmt.Errorf("%w: %q would be value %d: want at most %d", ErrInvalidValue, key, MaxValues+1, MaxValues)
	}
	if old, ok := p.topo.values[key]; ok && old == value {
		p.topo.mu.Unlock()
		return nil
	}
	if p.topo.values == nil {
		p.topo.values = map[string]string{}
	}
	p.topo.values[key] = value
	p.topo.mu.Unlock()
	p.changed()
	return nil
}

// DeleteValue removes one of the peer's values; a key it does not have is
// no error.
func (p *Peer) DeleteValue(key string) {
	p.topo.mu.Lock()
	_, ok := p.topo.values[key]
	delete(p.topo.values, key)
	p.topo.mu.Unlock()
	if ok {
		p.changed()
	}
}

// Values returns a copy of the peer's values, nil when it has none.
func (p *Peer) Values() map[string]string { return p.values() }

// values returns a copy of the peer's values, nil when it has none.
func (p *Peer) values() map[string]string {
	p.topo.mu.Lock()
	defer p.topo.mu.Unlock()
	if len(p.topo.values) == 0 {
		return nil
	}
	return maps.Clone(p.topo.values)
}

// SetMembers tells the peer how to name the peers of its network, for
// [Peer.Sync]: with hubs and leaf nodes, the servers a peer's messages
// reach are every member's, not those its own server routes to.
func (p *Peer) SetMembers(fn func() []string) { p.topo.members.Store(&fn) }

// OnUnheard calls fn, from the goroutine that takes the calls, with the
// caller of each call to info that says its server does not hear this
// peer (HeaderUnheard). Discovery uses it to send the peer's interest
// anew. fn must return at once.
func (p *Peer) OnUnheard(fn func(from string)) { p.topo.unheard.Store(&fn) }

// OnChange calls fn whenever what the peer's Info says of it changes by
// its own doing: a value, its role, its runtime settings. Discovery uses
// it to tell the network.
func (p *Peer) OnChange(fn func()) {
	p.topo.mu.Lock()
	defer p.topo.mu.Unlock()
	p.topo.onChange = append(p.topo.onChange, fn)
}

func (p *Peer) changed() {
	p.topo.mu.Lock()
	fns := slices.Clone(p.topo.onChange)
	p.topo.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}
