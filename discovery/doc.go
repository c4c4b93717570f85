// Package discovery owns how peers find each other and form one NATS
// cluster.
//
// A [Scanner] probes hosts × ports with a bounded number of workers and
// keeps the ports where an appnet peer greets it (a NATS server of the
// appnet cluster whose server name is a peer ID); any other listener is
// dropped after a short timeout. A [Discoverer] runs scans for one peer:
// it fetches each new peer's info, routes the peer's embedded server to
// it (NATS gossip then completes the mesh), caches what it found, and
// answers [Discoverer.Peers] with all peers by ID and one list of IDs per
// group, filtered by host, group and role. For a peer that is a
// client of a NATS deployment rather than running a server, the
// deployment already connects everyone: the Discoverer asks it with one
// request instead of scanning.
package discovery
