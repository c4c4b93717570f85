// Package embedded owns the NATS server that every appnet peer runs inside
// its own process.
//
// [Start] binds the server's client port to the first free port of a range
// on one host (skipping ports held by other peers or by any other program),
// opens a cluster listener on a random port of the same host so that peers
// can join one NATS cluster through routes, and returns once both listeners
// accept connections. [Server.AddRoutes] and [Server.RemoveRoutes] change the
// routes at run time; NATS gossip completes the mesh from there.
// [HoldPort] keeps a port of a range without a server, for a peer that is
// a client of a NATS deployment instead. Who may connect (the secret as
// token and route password, TLS, client certificates) is set in one place
// for every listener, from [Config]'s Secret, TLS and VerifyClients.
// Every server has a system account beside the global one, for NATS's own
// monitoring (nats server list): the user [SystemUser] with
// [SystemPassword] opens it, and a leaf reaches it on its hubs through a
// second leaf node connection that carries requests and their answers but
// not the servers' periodic broadcasts.
// [Server.DuplicateNames] and [Server.Subscribers] show what the server
// sees of others claiming a name or a subject.
//
// The package knows nothing about peers, connections or groups: it is the
// transport that the peer package builds on.
package embedded
