package bus

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/appnet-go/appnet/internal/events"
)

// Event is a declared event: [Event.Emit] sends a
// value, cleaned for transit by the event's transform if it has one, to
// every subscriber.
type Event[T any] struct {
	name      string
	transform func(T) (any, error)
	opts      []events.EmitOption
	err       error
	emitters  sync.Map // *peer.Peer -> *events.Emitter, until the peer closes
}

// NewEvent declares an event. transform, if not nil, turns each emitted
// value into what travels, for example to clean or shorten it. opts
// change what is sent (see [events.WithHeaders]). A bad name does not
// panic: it is logged and returned by every Emit.
func NewEvent[T any](name string, transform func(T) (any, error), opts ...events.EmitOption) *Event[T] {
	e := &Event[T]{name: name, transform: transform, opts: opts, err: events.ValidateName(name)}
	if e.err != nil {
		slog.Error("appnet: event not declared", "err", e.err)
	}
	return e
}

// Name returns the event's name.
func (e *Event[T]) Name() string { return e.name }

// Emit sends v from the default peer. It never waits for subscribers.
func (e *Event[T]) Emit(v T) error {
	p, err := Default()
	if err != nil {
		return err
	}
	return e.EmitFrom(p, v)
}

// EmitFrom sends v from p.
func (e *Event[T]) EmitFrom(p *Peer, v T) error {
	if e.err != nil {
		return e.err
	}
	var value any = v
	if e.transform != nil {
		var err error
		if value, err = e.transform(v); err != nil {
			return fmt.Errorf("event %q: transform: %w", e.name, err)
		}
	}
	em, ok := e.emitters.Load(p.Peer)
	if !ok {
		fresh, err := events.NewEmitter(p.Peer, e.name, e.opts...)
		if err != nil {
			return err
		}
		var loaded bool
		if em, loaded = e.emitters.LoadOrStore(p.Peer, fresh); !loaded {
			context.AfterFunc(p.Context(), func() { e.emitters.Delete(p.Peer) })
		}
	}
	return em.(*events.Emitter).Emit(value)
}

// Subscribe calls handler with every event named event that the chosen
// peers emit (options from package events: Groups, HubsOnly, Peers,
// OnHost, OnError; default: the peers of the default peer's group). See
// [events.Subscribe].
func Subscribe[T any](event string, handler func(context.Context, events.Delivery[T]), opts ...events.Option) (*events.Subscription, error) {
	p, err := Default()
	if err != nil {
		return nil, err
	}
	return events.Subscribe(p.Peer, event, handler, opts...)
}
