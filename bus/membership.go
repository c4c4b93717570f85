package bus

import (
	"context"

	"github.com/appnet-go/appnet/internal/discovery"
)

// Membership types, defined in the discovery package.
type (
	// Change is one change of a peer's view of the network: a peer
	// joined, left, failed or updated its Info; or a Resync with the
	// whole view for a watcher that fell behind.
	Change = discovery.Change
	// Kind says what happened to the peer of a Change.
	Kind = discovery.Kind
)

// The kinds of Change.
const (
	Joined  = discovery.Joined
	Left    = discovery.Left
	Failed  = discovery.Failed
	Updated = discovery.Updated
	Resync  = discovery.Resync
)

// Serving keeps the peers that serve the connection.
func Serving(connection string) PeersOption { return discovery.Serving(connection) }

// Value keeps the peers whose value key is value (see Peer.SetValue).
func Value(key, value string) PeersOption { return discovery.Value(key, value) }

// Watch delivers the changes of the peer's view of the network that match
// opts (the filters of Peers: its own group by default) until ctx ends,
// then closes the channel. The first change is a Resync with the current
// view; changes of one peer arrive in order; a watcher that falls behind
// gets a Resync instead of what it missed.
func (p *Peer) Watch(ctx context.Context, opts ...PeersOption) (<-chan Change, error) {
	return p.disc.Watch(ctx, opts...)
}

// Wait returns the first peer that matches opts (its own group by
// default; Serving and Value narrow further), waiting until one joins or
// ctx ends. A peer already present counts at once.
func (p *Peer) Wait(ctx context.Context, opts ...PeersOption) (Info, error) {
	return p.disc.Wait(ctx, opts...)
}

// WaitN returns the peers that match opts once at least n are present
// (see Wait), or, when ctx ends first, those that came and an error.
func (p *Peer) WaitN(ctx context.Context, n int, opts ...PeersOption) (discovery.Peers, error) {
	return p.disc.WaitN(ctx, n, opts...)
}

// Watch is Peer.Watch on the default peer.
func Watch(ctx context.Context, opts ...PeersOption) (<-chan Change, error) {
	p, err := Default()
	if err != nil {
		return nil, err
	}
	return p.Watch(ctx, opts...)
}

// Wait is Peer.Wait on the default peer.
func Wait(ctx context.Context, opts ...PeersOption) (Info, error) {
	p, err := Default()
	if err != nil {
		return Info{}, err
	}
	return p.Wait(ctx, opts...)
}

// WaitN is Peer.WaitN on the default peer.
func WaitN(ctx context.Context, n int, opts ...PeersOption) (discovery.Peers, error) {
	p, err := Default()
	if err != nil {
		return discovery.Peers{}, err
	}
	return p.WaitN(ctx, n, opts...)
}

// SetValue sets one of the default peer's values (see Peer.SetValue).
func SetValue(key, value string) error {
	p, err := Default()
	if err != nil {
		return err
	}
	return p.SetValue(key, value)
}
