// Package events owns appnet's events: named values that a peer emits
// and that every peer subscribed to them hears, on NATS subjects.
//
// An event E emitted by peer ID of group G is published on
// net.event.<G>.<role>.<ID>.<E>, role "hub" or "peer"; the subject names
// the emitter and the event, so events carry no headers unless the
// emitter asks for them ([WithHeaders]). [Emit] never
// waits for subscribers; fan-out, interest and cleanup of dead subscribers
// come from NATS. [Subscribe] turns its filters (groups, hubs only,
// peers) into subscription subjects, delivers per emitter in emit order,
// and reports what goes wrong (undecodable values, handler panics, events
// dropped for a slow handler) through an error hook instead of stopping.
//
// Delivery is at most once, as on core NATS: an event emitted while nobody
// listens, or dropped because a subscriber fell behind, is gone (drops are
// counted and reported, never silent).
//
// An event's subject names its emitter, group and role, and nothing checks
// that claim: NATS delivers a message's subject, headers and payload, but
// not which connection published it, so a subscriber cannot ignore forged
// events by itself; and a server could refuse them only with a credential
// per peer whose permissions allow publishing under that peer's ID alone,
// which a secret shared by every peer cannot provide. On a NATS deployment
// with one such credential per peer, the subject is the truth.
package events
