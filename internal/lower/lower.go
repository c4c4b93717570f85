// Package lower gives the module's own commands and tests the lower layer
// under a bus.Peer (the *peer.Peer it wraps), which bus does not export:
// the benchmarks measure raw calls and the server, the CLI and the
// integration tests speak the wire contract. Package bus registers the
// accessor when it is initialised.
package lower

import "github.com/appnet-go/appnet/internal/peer"

// Of is set by package bus: it returns the *peer.Peer under a *bus.Peer.
var Of func(busPeer any) *peer.Peer

// Peer returns the *peer.Peer under p, a *bus.Peer.
func Peer(p any) *peer.Peer { return Of(p) }
