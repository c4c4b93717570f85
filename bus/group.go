package bus

import (
	"context"
	"errors"
	"math/rand/v2"

	"github.com/appnet-go/appnet/internal/discovery"
	"github.com/appnet-go/appnet/internal/peer"
)

// callGroup runs connection on one peer of group. It picks the peer at
// random among the members of its view that serve the connection and
// calls it by its ID (the direct path): a NATS queue group would hand
// every call to the member nearest the caller's server (a hub that is a
// member takes all its leaves' calls). With no such member in the view,
// or one that turns out to have gone, the call goes to the group's queue.
func (p *Peer) callGroup(ctx context.Context, group, connection string, arg []byte) ([]byte, ID, error) {
	if id, ok := p.pick(group, connection); ok {
		out, err := p.p.Call(ctx, id, connection, arg)
		if !errors.Is(err, peer.ErrUnreachable) {
			return out, id, err
		}
	}
	return p.p.CallGroup(ctx, group, connection, arg)
}

// pick returns a random member of group, other than p, that serves
// connection, or p itself when it is the only one.
func (p *Peer) pick(group, connection string) (ID, bool) {
	ids := p.disc.IDs(discovery.Groups(group), discovery.Serving(connection))
	if _, serves := p.p.Registry().Lookup(connection); serves && p.p.Config().Group == group && !p.attached {
		ids = append(ids, p.p.ID())
	}
	if len(ids) == 0 {
		return "", false
	}
	return ids[rand.IntN(len(ids))], true
}
