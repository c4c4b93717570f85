// Package events owns appnet's events: the seed's @net.event and
// @net.subscribe on NATS subjects.
//
// An event E emitted by peer ID of group G is published on
// net.event.<G>.<role>.<ID>.<E>, role "hub" or "peer", with the emitter and
// the event name in the Net-Emitter and Net-Event headers. [Emit] never
// waits for subscribers; fan-out, interest and cleanup of dead subscribers
// come from NATS. [Subscribe] turns the seed's filters (groups, hubs only,
// peers) into subscription subjects, delivers per emitter in emit order,
// and reports what goes wrong (undecodable values, handler panics, events
// dropped for a slow handler) through an error hook instead of stopping.
//
// Delivery is at most once, as on core NATS: an event emitted while nobody
// listens, or dropped because a subscriber fell behind, is gone (drops are
// counted and reported, never silent).
package events
