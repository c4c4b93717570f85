package events

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/appnet-go/appnet/internal/names"
	"github.com/appnet-go/appnet/internal/peer"
	"github.com/appnet-go/appnet/internal/ratelog"
	"github.com/nats-io/nats.go"
)

// The wire contract of events.
const (
	// RoleHub and RolePeer are the role token of an event subject.
	RoleHub  = "hub"
	RolePeer = "peer"
	// HeaderEmitter carries the emitter's peer ID, when the emitter asks
	// for headers ([WithHeaders]); the subject says the same.
	HeaderEmitter = "Net-Emitter"
	// HeaderEvent carries the event name, when the emitter asks for
	// headers; the subject says the same.
	HeaderEvent = "Net-Event"
)

// ErrInvalidEvent is wrapped by errors about a malformed event name.
var ErrInvalidEvent = names.Sentinel("invalid event name")

// MaxNameLen bounds an event name, so that its subject stays well inside
// the NATS control line (4 KiB); a longer one would make the server drop
// the peer's connection.
const MaxNameLen = 1024

// ValidateName returns an error wrapping [ErrInvalidEvent] unless name is
// dot-separated tokens without whitespace, '*' or '>', at most MaxNameLen
// bytes long.
func ValidateName(name string) error {
	if len(name) > MaxNameLen {
		return fmt.Errorf("%w: %d bytes, more than %d", ErrInvalidEvent, len(name), MaxNameLen)
	}
	if !validName(name) {
		return fmt.Errorf("%w %q: want dot-separated tokens without whitespace, '*' or '>'", ErrInvalidEvent, name)
	}
	return nil
}

// validName checks the tokens of an event name without a regexp.
func validName(name string) bool {
	dot := true // at the start of a token
	for _, r := range name {
		switch {
		case r == '.':
			if dot {
				return false // empty token
			}
			dot = true
		case r == '*' || r == '>' || unicode.IsSpace(r) || r == utf8.RuneError:
			return false
		default:
			dot = false
		}
	}
	return !dot
}

// Subject returns the subject an event is emitted on:
// net.event.<group>.<role>.<id>.<event>.
func Subject(group string, hub bool, id peer.ID, event string) string {
	return prefix(group, role(hub), string(id)) + event
}

func prefix(group, role, id string) string {
	return peer.SubjectRoot + ".event." + group + "." + role + "." + id + "."
}

func role(hub bool) string {
	if hub {
		return RoleHub
	}
	return RolePeer
}

// Emit publishes value as event from p to every subscriber: JSON on the
// event's subject, which names the emitter and the event; no headers
// unless [WithHeaders] asks for them. It never waits for, and never fails
// because of, a subscriber; only a bad name, a value that does not encode
// or a closed peer is an error. An [Emitter] does the same without
// checking the name each time.
func Emit(p *peer.Peer, event string, value any, opts ...EmitOption) error {
	e, err := NewEmitter(p, event, opts...)
	if err != nil {
		return err
	}
	return e.Emit(value)
}

// EmitOption changes what an [Emitter] sends.
type EmitOption func(*Emitter)

// WithHeaders adds the Net-Emitter and Net-Event headers to every event,
// for tools that show headers but not subjects. Subscribers never need
// them (the subject names both), and they cost: nats.go encodes them on
// every publish and decodes them on every delivery, which roughly halves
// the rate of small events.
func WithHeaders() EmitOption {
	return func(e *Emitter) {
		e.header = nats.Header{HeaderEmitter: []string{string(e.p.ID())}, HeaderEvent: []string{e.event}}
	}
}

// Emitter emits one event from one peer, with the subject (and headers)
// made once. It is safe for concurrent use.
type Emitter struct {
	p       *peer.Peer
	event   string
	subject string
	header  nats.Header // nil unless WithHeaders; shared by every message: nats.go only reads it
}

// NewEmitter checks the event name and prepares emitting it from p.
func NewEmitter(p *peer.Peer, event string, opts ...EmitOption) (*Emitter, error) {
	if err := ValidateName(event); err != nil {
		return nil, err
	}
	cfg := p.Config()
	e := &Emitter{p: p, event: event, subject: Subject(cfg.Group, cfg.Hub, p.ID(), event)}
	for _, o := range opts {
		o(e)
	}
	return e, nil
}

// Emit publishes value (see [Emit]).
func (e *Emitter) Emit(value any) error {
	data, err := peer.Encode(value)
	if err != nil {
		return fmt.Errorf("event %q: %w", e.event, err)
	}
	if e.header == nil {
		err = e.p.Conn().Publish(e.subject, data)
	} else {
		err = e.p.Conn().PublishMsg(&nats.Msg{Subject: e.subject, Data: data, Header: e.header})
	}
	if err != nil {
		return fmt.Errorf("emitting %q: %w", e.event, err)
	}
	return nil
}

// Delivery is one event as a subscriber receives it.
type Delivery[T any] struct {
	// From is the emitter's ID, as the event's subject names it. Whoever
	// may publish on the mesh can name any peer there: NATS does not tell
	// a subscriber which connection published a message, so From is a
	// claim, not a proof (see the package documentation).
	From peer.ID
	// Event is the event name.
	Event string
	// Value is the emitted value, decoded.
	Value T
}

// Option chooses the emitters a subscription hears.
type Option func(*options)

type options struct {
	groups   []string
	hubsOnly bool
	peers    []peer.ID
	onHost   bool
	onError  func(error)
	buffer   int
}

// Groups hears the peers of the named groups (default: the subscriber's own group).
func Groups(names ...string) Option {
	return func(o *options) { o.groups = append(o.groups, names...) }
}

// HubsOnly hears hubs only.
func HubsOnly() Option { return func(o *options) { o.hubsOnly = true } }

// Peers hears the given peers only.
func Peers(ids ...peer.ID) Option { return func(o *options) { o.peers = append(o.peers, ids...) } }

// OnHost hears peers on the subscriber's own host only. The host is not a
// subject token, so this one filter runs in the subscriber.
func OnHost() Option { return func(o *options) { o.onHost = true } }

// OnError receives what goes wrong in a subscription: a value that does
// not decode, a handler panic, events dropped because the handler was too
// slow. Without it, errors are logged through the peer's logger.
func OnError(fn func(error)) Option { return func(o *options) { o.onError = fn } }

// Buffer bounds how many events may wait for the handler (default: the
// NATS client's 512K messages / 64 MiB). Beyond it NATS drops events for
// this subscription, and the drops are counted and reported.
func Buffer(events int) Option { return func(o *options) { o.buffer = events } }

// Subscription is a live subscription to an event; Close ends it.
type Subscription struct {
	subs    []*nats.Subscription
	unwatch []func()
	remove  func()
	p       *peer.Peer
	limited *ratelog.Logger // nil with OnError
	once    sync.Once
}

// Subscribe calls handler with every event named event emitted by the
// peers the options choose, one at a time and, per emitter, in emit order.
// It returns once every peer routed to p has learnt of the subscription
// (up to a second), so events emitted after that reach it; for a client
// of a NATS deployment, once the server it is connected to has.
// Each filter is a subscription subject: groups and hubs-only are subject
// tokens, peers are whole prefixes. Delivery is at most once, as core NATS
// is: events emitted while nobody listens, or dropped because the handler
// fell behind (counted and reported through OnError and info), are gone.
func Subscribe[T any](p *peer.Peer, event string, handler func(context.Context, Delivery[T]), opts ...Option) (*Subscription, error) {
	if err := ValidateName(event); err != nil {
		return nil, err
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	subjects, err := o.subjects(p, event)
	if err != nil {
		return nil, err
	}
	s := &Subscription{p: p}
	report := o.onError
	if report == nil {
		// Emitters are remote: one line per bad event would let them
		// flood the log.
		s.limited = ratelog.New(p.Logger(), 0)
		report = func(err error) { s.limited.Warn("appnet: subscription", "event", event, "err", err) }
	}
	host := p.Config().Host
	var one sync.Mutex // one delivery at a time, across this subscription's subjects
	deliver := func(m *nats.Msg) {
		one.Lock()
		defer one.Unlock()
		from, name := emitterOf(m, event)
		if o.onHost {
			if a, err := from.Decode(); err != nil || a.Host != host {
				return
			}
		}
		value, err := peer.Decode[T](m.Data)
		if err != nil {
			report(fmt.Errorf("event %q from %s: %w", name, from, err))
			return
		}
		defer func() {
			if r := recover(); r != nil {
				report(fmt.Errorf("event %q from %s: handler panicked: %v", name, from, r))
			}
		}()
		handler(p.Context(), Delivery[T]{From: from, Event: name, Value: value})
	}
	for _, subject := range subjects {
		sub, err := p.Conn().Subscribe(subject, deliver)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("subscribing to %s: %w", subject, err)
		}
		s.subs = append(s.subs, sub)
		if o.buffer > 0 {
			_ = sub.SetPendingLimits(o.buffer, -1)
		}
		s.unwatch = append(s.unwatch, p.OnSlowConsumer(sub, func(why error) {
			if errors.Is(why, peer.ErrConnectionLost) {
				report(fmt.Errorf("event %q on %s: %w: %w", event, subject, ErrDropped, why))
				return
			}
			report(fmt.Errorf("event %q: %w: %d events dropped so far on %s", event, ErrDropped, p.Dropped(sub), subject))
		}))
	}
	s.remove = p.Registry().AddSubscription(event, s.Dropped)
	if err := p.Conn().Flush(); err != nil {
		s.Close()
		return nil, err
	}
	// Return once the rest of the cluster knows of the subscription, so
	// that an event emitted anywhere after Subscribe returns reaches it.
	ctx, cancel := context.WithTimeout(p.Context(), time.Second)
	p.Sync(ctx)
	cancel()
	return s, nil
}

// ErrDropped is reported when a subscriber fell behind and NATS dropped
// events for it.
var ErrDropped = errors.New("slow subscriber")

// subjects maps the options to subscription subjects.
func (o options) subjects(p *peer.Peer, event string) ([]string, error) {
	r := "*"
	if o.hubsOnly {
		r = RoleHub
	}
	var subjects []string
	if len(o.peers) > 0 {
		for _, given := range o.peers {
			id, err := peer.ParseID(string(given)) // the form emitters' subjects carry
			if err != nil {
				return nil, err
			}
			a, _ := id.Decode()
			subjects = append(subjects, prefix(a.Group, r, string(id))+event)
		}
		return dedupe(subjects), nil
	}
	groups := o.groups
	if len(groups) == 0 {
		groups = []string{p.Config().Group}
	}
	for _, g := range groups {
		if err := peer.ValidateGroup(g); err != nil {
			return nil, err
		}
		subjects = append(subjects, prefix(g, r, "*")+event)
	}
	return dedupe(subjects), nil
}

// dedupe drops repeated subjects, which would deliver an event twice.
func dedupe(subjects []string) []string {
	slices.Sort(subjects)
	return slices.Compact(subjects)
}

// emitterOf reads the emitter and the event name from a message's
// subject, net.event.<group>.<role>.<id>.<event...>, which the
// subscription matched; headers, when an emitter sends them, say the same
// for NATS tools, but a sender could make them say anything. It runs on
// every delivery, so it slices the subject rather than splitting it.
func emitterOf(m *nats.Msg, event string) (peer.ID, string) {
	rest := m.Subject
	for range 4 { // net, event, group, role
		i := strings.IndexByte(rest, '.')
		if i < 0 {
			return "", event
		}
		rest = rest[i+1:]
	}
	id, name, ok := strings.Cut(rest, ".")
	if !ok {
		return "", event
	}
	return peer.ID(id), name
}

// Dropped returns how many events were dropped because the handler, or
// the peer's connection, fell behind: by NATS in this process and by the
// peer's server. Events lost while the peer's connection was down and
// came back cannot be counted; OnError says when that happened.
func (s *Subscription) Dropped() int64 {
	var n int64
	for _, sub := range s.subs {
		n += s.p.Dropped(sub)
	}
	return n
}

// Close ends the subscription. It is idempotent.
func (s *Subscription) Close() error {
	var err error
	s.once.Do(func() {
		for _, sub := range s.subs {
			if e := sub.Unsubscribe(); e != nil && !errors.Is(e, nats.ErrConnectionClosed) {
				err = errors.Join(err, e)
			}
		}
		for _, u := range s.unwatch {
			u()
		}
		if s.remove != nil {
			s.remove()
		}
		if s.limited != nil {
			s.limited.Stop()
		}
	})
	return err
}
