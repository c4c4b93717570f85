// Package bus lets the processes of an application on a network find each
// other and call each other's functions as if they were local, and emit
// and hear events, over NATS: each process runs a peer, which embeds a
// NATS server and meshes it with the servers of the other peers. bus is
// the only package a program imports. appnet is a Go re-implementation of
// the Python library app-net (https://pypi.org/project/app-net/), whose
// wire contract it keeps.
//
// The shared contract of an application registers its functions at
// package level with [Connect]; every process that imports it serves
// them. [Peers] finds the other peers (on this host with [OnHost]);
// [Connection.Call] runs a function here, [Connection.On] runs it on
// another peer and [Connection.OnGroup] on one or every peer of a group,
// with the same result either way. [Flag] registers a caller-side handler
// for a flag that a function may answer with ([Raise]). [NewEvent]
// declares an event that [Event.Emit] sends and [Event.Subscribe] hears.
// [Peer.Watch] and [Peer.Wait] follow who joins and leaves.
//
// Each process has a default peer, [Default], started from the NET_*
// environment the first time it is needed; [Configure] sets its options.
// [Start] and [Attach] make more, for tests or for programs that want
// several. Whatever acts from the default peer acts from another one
// through Via: c.On(id).Via(p).Call, c.OnGroup(g).Via(p).All,
// ev.Via(p).Emit, ev.Via(p).Subscribe. Inside a connection's handler,
// [FromContext] returns the peer that serves the call.
//
// Names (of connections, flags, events and groups) are checked before any
// peer starts; an error about one matches [ErrInvalidName]. [Peer.Conn] is
// the one way down to NATS itself.
package bus
