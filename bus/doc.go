// Package bus is the facade of appnet: what a program imports to let peers
// on a network find each other and call each other's functions as if they
// were local. appnet is a Go re-implementation, on NATS, of the Python
// library app-net (https://pypi.org/project/app-net/): Connect is its
// @net.connect, NewEvent and Subscribe its @net.event and @net.subscribe,
// Peers its net.peers(), and the default peer, [peer.FromContext] inside a
// handler, its net.Peer().
//
// The shared "coding contract" of an application registers its functions
// at package level with [Connect]; every process that imports it serves
// them. [Peers] finds the other peers (on this host with [OnHost]);
// [Connection.Call] runs a function here, and [Connection.On] runs it on
// another peer, with the same result either way. [Flag] registers a
// caller-side handler for a flag that a function may answer with.
//
// Each process has a default peer, [Default], started from the NET_*
// environment the first time it is needed; [New] and [Start] make more,
// for tests or for programs that want several.
//
// bus only wires together the packages that own the work: peer (identity,
// registry, calls), discovery (the network, its hubs and the view of it),
// embedded (the NATS server) and flags.
package bus
