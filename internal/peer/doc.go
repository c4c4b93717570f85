// Package peer owns what one appnet peer is: its identity ([ID]), its
// registry of connections and flags ([Registry]), how it serves calls from
// other peers over NATS ([Peer]) and how it calls them ([Caller]).
//
// A peer embeds a nats-server (package embedded) and talks to it through an
// in-process connection; with Config.NATSURL it is instead a client of a
// NATS deployment, holding a port of its range for its ID. Calls are NATS request-reply on
// net.peer.<ID>.call.<connection>; the wire contract (subjects, headers,
// error codes) is spelled out in wire.go and in the README's subject map.
// Every peer also answers the NATS micro protocol ($SRV.PING, $SRV.INFO,
// $SRV.STATS) as an instance of a service named after its group, so the
// standard nats CLI lists and inspects it.
package peer
