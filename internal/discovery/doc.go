// Package discovery owns how peers find each other, form one network, and
// keep a view of it.
//
// A [Scanner] probes hosts × ports with a bounded number of workers and
// keeps the ports where an appnet peer greets it (a NATS server whose
// server name is the peer ID of the address probed); any other listener
// is dropped after a short timeout.
//
// The network's shape: hubs (peers with NET_IS_HUB, or, without any, the
// first [AutoHubs] peers, replaced when one goes) route to each other, and
// every other peer's server is a leaf node of them, so a peer holds one
// server-to-server connection whatever the network's size.
// [FindNetwork] finds the network a starting peer joins (its host, then
// NET_SCAN) and says whether the peer is to be a hub; peers that start
// together elect the oldest.
//
// A [Discoverer] keeps one peer's view: [Discoverer.Join] attaches the peer
// to the hubs, loads the view from a hub and announces the peer; from then
// on the view follows the changes the network publishes (net.member.*:
// join, update, leave, and the failures the hubs find by watching their
// connections), hubs publish a digest of their view for anti-entropy,
// and hubs look for other networks to merge with every NET_SCAN_INTERVAL.
// Nobody polls. [Discoverer.Peers], [Discoverer.Watch], [Discoverer.Wait]
// and [Discoverer.WaitN] answer from the view. A peer that is a client of
// a NATS deployment asks the deployment instead (one request).
//
// Files: scan.go (probes), bootstrap.go (finding the network), network.go
// (joining, the membership messages), view.go and watch.go (the view and
// its watchers), topology.go (roles, routes, leaf nodes, merges),
// failure.go (failure detection), digest.go (anti-entropy).
package discovery
