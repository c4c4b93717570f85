package bus

import (
	"context"

	"github.com/appnet-go/appnet/internal/discovery"
)

// Change is one change of a peer's view of the network, as a struct:
//
//	Kind  Kind    // what happened: Joined, Left, Failed, Updated or Resync
//	ID    ID      // the peer that changed
//	Info  Info    // its Info as it is now (as it was last, for Left and Failed)
//	Peers Network // the whole view, for a Resync only
//
// A Resync comes first, and instead of the changes a watcher that fell
// behind missed.
type Change = discovery.Change

// Kind says what happened to the peer of a [Change].
type Kind = discovery.Kind

// The kinds of Change.
const (
	Joined  = discovery.Joined
	Left    = discovery.Left
	Failed  = discovery.Failed
	Updated = discovery.Updated
	Resync  = discovery.Resync
)

// Watch delivers the changes of the peer's view of the network that match
// opts (the filters of Peers: its own group by default) until ctx ends,
// then closes the channel. The first change is a Resync with the current
// view; changes of one peer arrive in order; a watcher that falls behind
// gets a Resync instead of what it missed.
func (p *Peer) Watch(ctx context.Context, opts ...PeersOption) (<-chan Change, error) {
	return p.disc.Watch(ctx, peersOptions(opts)...)
}

// Wait returns the first peer that matches opts (its own group by
// default; Serving and Value narrow further) and answers a call through
// the network, waiting until one does or ctx ends. A peer already present
// counts as soon as it answers. Once Wait returns, what this peer sends
// reaches the peer returned: an event emitted then is heard by every
// subscription it had made before it joined or set the values matched.
func (p *Peer) Wait(ctx context.Context, opts ...PeersOption) (Info, error) {
	return p.disc.Wait(ctx, peersOptions(opts)...)
}

// WaitN returns the peers that match opts and answer once at least n do
// (see Wait), or, when ctx ends first, those that came and an error
// naming how many answered.
func (p *Peer) WaitN(ctx context.Context, n int, opts ...PeersOption) (Network, error) {
	return p.disc.WaitN(ctx, n, peersOptions(opts)...)
}

// SetValue sets one of the peer's values: it shows in its Info
// (Info.Values), reaches every peer that watches the network as an
// Updated change, and may be looked for with [Value]. At most 32 keys of
// [A-Za-z0-9_.-]; anything else wraps [ErrInvalidValue].
func (p *Peer) SetValue(key, value string) error { return p.p.SetValue(key, value) }

// DeleteValue removes one of the peer's values; a key it does not have is
// no error.
func (p *Peer) DeleteValue(key string) { p.p.DeleteValue(key) }

// Values returns a copy of the peer's values, nil when it has none.
func (p *Peer) Values() map[string]string { return p.p.Values() }

// Watch is [Peer.Watch] on the default peer.
func Watch(ctx context.Context, opts ...PeersOption) (<-chan Change, error) {
	p, err := Default()
	if err != nil {
		return nil, err
	}
	return p.Watch(ctx, opts...)
}

// Wait is [Peer.Wait] on the default peer.
func Wait(ctx context.Context, opts ...PeersOption) (Info, error) {
	p, err := Default()
	if err != nil {
		return Info{}, err
	}
	return p.Wait(ctx, opts...)
}

// WaitN is [Peer.WaitN] on the default peer.
func WaitN(ctx context.Context, n int, opts ...PeersOption) (Network, error) {
	p, err := Default()
	if err != nil {
		return Network{}, err
	}
	return p.WaitN(ctx, n, opts...)
}

// SetValue sets one of the default peer's values (see [Peer.SetValue]).
func SetValue(key, value string) error {
	p, err := Default()
	if err != nil {
		return err
	}
	return p.SetValue(key, value)
}
