package bus

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/appnet-go/appnet/internal/events"
)

// Event is a declared event: [Event.Emit] sends a value, cleaned for
// transit by the event's transform if it has one, to every subscriber,
// and [Event.Subscribe] hears the values other peers emit. Both act from
// the default peer; [Event.Via] binds them to another.
type Event[T any] struct {
	d   *decl[T]
	via *Peer
}

// decl is what an Event and the copies Via makes of it share.
type decl[T any] struct {
	name      string
	transform Transform[T]
	opts      []events.EmitOption
	err       error
	emitters  sync.Map // *peer.Peer -> *events.Emitter, until the peer closes
}

// Transform turns a value an event emits into what travels, for example
// to clean or shorten it.
type Transform[T any] func(T) (any, error)

// EventOption changes what an event sends.
type EventOption struct{ o events.EmitOption }

// WithHeaders adds the Net-Emitter and Net-Event headers to every event,
// for tools that show headers but not subjects. Subscribers never need
// them (the subject names both), and they cost: nats.go encodes them on
// every publish and decodes them on every delivery, which roughly halves
// the rate of small events.
func WithHeaders() EventOption { return EventOption{events.WithHeaders()} }

// NewEvent declares an event. transform, if not nil, turns each emitted
// value into what travels. A bad name does not panic: it is logged, and
// returned by every Emit and Subscribe (an error wrapping
// [ErrInvalidName]) before any peer starts.
func NewEvent[T any](name string, transform Transform[T], opts ...EventOption) *Event[T] {
	d := &decl[T]{name: name, transform: transform, err: events.ValidateName(name)}
	for _, o := range opts {
		d.opts = append(d.opts, o.o)
	}
	if d.err != nil {
		slog.Error("appnet: event not declared", "err", d.err)
	}
	return &Event[T]{d: d}
}

// Name returns the event's name.
func (e *Event[T]) Name() string { return e.d.name }

// Via returns the event bound to p: its Emit sends from p and its
// Subscribe listens on p, instead of the default peer's. The bound event
// shares everything else with e; a program that emits often from one peer
// keeps it rather than call Via for each value.
func (e *Event[T]) Via(p *Peer) *Event[T] { return &Event[T]{d: e.d, via: p} }

// from returns the peer the event acts from, once its name is known good:
// a bad name starts nothing.
func (e *Event[T]) from() (*Peer, error) {
	if e.d.err != nil {
		return nil, e.d.err
	}
	if e.via != nil {
		return e.via, nil
	}
	return Default()
}

// Emit sends v to every subscriber. It never waits for subscribers: only a
// bad name, a value that does not encode (or transform) or a closed peer
// is an error.
func (e *Event[T]) Emit(v T) error {
	p, err := e.from()
	if err != nil {
		return err
	}
	var value any = v
	if e.d.transform != nil {
		if value, err = e.d.transform(v); err != nil {
			return fmt.Errorf("event %q: transform: %w", e.d.name, err)
		}
	}
	em, ok := e.d.emitters.Load(p.p)
	if !ok {
		fresh, err := events.NewEmitter(p.p, e.d.name, e.d.opts...)
		if err != nil {
			return err
		}
		var loaded bool
		if em, loaded = e.d.emitters.LoadOrStore(p.p, fresh); !loaded {
			lp := p.p
			context.AfterFunc(lp.Context(), func() { e.d.emitters.Delete(lp) })
		}
	}
	return em.(*events.Emitter).Emit(value)
}

// Delivery is one event as a subscriber receives it.
type Delivery[T any] struct {
	// From is the emitter's ID, as the event's subject names it. Whoever
	// may publish on the network can name any peer there: NATS does not
	// tell a subscriber which connection published a message, so From is
	// a claim, not a proof.
	From ID
	// Event is the event name.
	Event string
	// Value is the emitted value, decoded.
	Value T
}

// Subscription is a live subscription to an event; Close ends it.
type Subscription struct{ s *events.Subscription }

// Close ends the subscription. It is idempotent.
func (s *Subscription) Close() error { return s.s.Close() }

// Dropped returns how many events were dropped because the handler, or
// the peer's connection, fell behind.
func (s *Subscription) Dropped() int64 { return s.s.Dropped() }

// Subscribe calls handler with every value of the event that the peers
// opts choose emit (default: the peers of the subscribing peer's group),
// one at a time and, per emitter, in emit order. It returns once the
// peers routed to the subscribing peer have learnt of the subscription
// (up to a second), so that events emitted after that reach it. Delivery
// is at most once, as on core NATS: events emitted while nobody listens,
// or dropped because the handler fell behind (counted and reported
// through [OnError]), are gone.
func (e *Event[T]) Subscribe(handler func(context.Context, Delivery[T]), opts ...SubscribeOption) (*Subscription, error) {
	p, err := e.from()
	if err != nil {
		return nil, err
	}
	s, err := events.Subscribe(p.p, e.d.name, func(ctx context.Context, d events.Delivery[T]) {
		handler(ctx, Delivery[T]{From: d.From, Event: d.Event, Value: d.Value})
	}, subscribeOptions(opts)...)
	if err != nil {
		return nil, err
	}
	return &Subscription{s}, nil
}

// Subscribe is [Event.Subscribe] for an event not declared in this
// program: it calls handler with every value of the event named event,
// on the default peer.
func Subscribe[T any](event string, handler func(context.Context, Delivery[T]), opts ...SubscribeOption) (*Subscription, error) {
	e := &Event[T]{d: &decl[T]{name: event, err: events.ValidateName(event)}}
	return e.Subscribe(handler, opts...)
}
