package bus

import (
	"github.com/appnet-go/appnet/internal/discovery"
	"github.com/appnet-go/appnet/internal/events"
)

// PeersOption narrows or refreshes what [Peer.Peers], [Peer.Watch],
// [Peer.Wait] and [Peer.WaitN] return. A [Filter] is one.
type PeersOption interface {
	peersOption() discovery.Option
}

// SubscribeOption chooses what a subscription hears and how it reports
// what goes wrong. A [Filter] is one.
type SubscribeOption interface {
	subscribeOption() events.Option
}

// Filter chooses peers by where they are and what they are. It means the
// same to a discovery (the peers [Peer.Peers] returns) and to a
// subscription (the emitters it hears), and is both a [PeersOption] and a
// [SubscribeOption].
type Filter struct {
	peers  discovery.Option
	events events.Option
}

func (f Filter) peersOption() discovery.Option  { return f.peers }
func (f Filter) subscribeOption() events.Option { return f.events }

// OnHost keeps the peers on this peer's own host. A discovery then scans
// this host only.
func OnHost() Filter { return Filter{discovery.OnHost(), events.OnHost()} }

// Groups keeps the peers of the named groups (default: the peer's own).
func Groups(names ...string) Filter {
	return Filter{discovery.Groups(names...), events.Groups(names...)}
}

// HubsOnly keeps hubs only.
func HubsOnly() Filter { return Filter{discovery.HubsOnly(), events.HubsOnly()} }

// peersOnly is a PeersOption that means nothing to a subscription.
type peersOnly discovery.Option

func (o peersOnly) peersOption() discovery.Option { return discovery.Option(o) }

// AllGroups keeps the peers of every group.
func AllGroups() PeersOption { return peersOnly(discovery.AllGroups()) }

// Refresh scans the network again instead of answering from the view.
func Refresh() PeersOption { return peersOnly(discovery.Refresh()) }

// Serving keeps the peers that serve the connection.
func Serving(connection string) PeersOption { return peersOnly(discovery.Serving(connection)) }

// Value keeps the peers whose value key is value (see [Peer.SetValue]).
func Value(key, value string) PeersOption { return peersOnly(discovery.Value(key, value)) }

// subscribeOnly is a SubscribeOption that means nothing to a discovery.
type subscribeOnly events.Option

func (o subscribeOnly) subscribeOption() events.Option { return events.Option(o) }

// ErrorHandler receives what goes wrong in a subscription: a value that
// does not decode, a handler panic, events dropped because the handler
// was too slow (an error wrapping [ErrDropped]).
type ErrorHandler func(error)

// ErrDropped is wrapped by the error a subscription reports when NATS
// dropped events because its handler fell behind.
var ErrDropped = events.ErrDropped

// Emitters hears the given peers only.
func Emitters(ids ...ID) SubscribeOption { return subscribeOnly(events.Peers(ids...)) }

// OnError sets the subscription's [ErrorHandler]. Without one, errors are
// logged through the peer's logger.
func OnError(fn ErrorHandler) SubscribeOption { return subscribeOnly(events.OnError(fn)) }

// Buffer bounds how many events (n) may wait for the handler (default:
// the NATS client's 512K messages / 64 MiB). Beyond it NATS drops events
// for this subscription, and the drops are counted and reported.
func Buffer(n int) SubscribeOption { return subscribeOnly(events.Buffer(n)) }

func peersOptions(opts []PeersOption) []discovery.Option {
	out := make([]discovery.Option, len(opts))
	for i, o := range opts {
		out[i] = o.peersOption()
	}
	return out
}

func subscribeOptions(opts []SubscribeOption) []events.Option {
	out := make([]events.Option, len(opts))
	for i, o := range opts {
		out[i] = o.subscribeOption()
	}
	return out
}
