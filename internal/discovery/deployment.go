package discovery

import (
	"context"
	"time"

	"github.com/appnet-go/appnet/internal/peer"
	"github.com/nats-io/nats.go"
)

// quietAfter is how long asking a deployment waits for one more answer
// after the latest.
const quietAfter = 50 * time.Millisecond

// ask finds the peers of a NATS deployment, for a peer that is its client
// (Config.NATSURL): there is nothing to scan or route, since the
// deployment connects every peer, so one request on net.discover reaches
// them all. Nobody knows how many will answer: the wait ends ScanTimeout
// after the request when no other peer has, else quietAfter after the
// latest answer of another peer, and in any case after 4 × ScanTimeout.
// onHost keeps the peers on this peer's host.
func (d *Discoverer) ask(ctx context.Context, onHost bool) map[peer.ID]peer.Info {
	cfg := d.p.Config()
	ctx, cancel := context.WithTimeout(ctx, 4*cfg.ScanTimeout)
	defer cancel()
	quiet := time.AfterFunc(cfg.ScanTimeout, cancel)
	defer quiet.Stop()
	found := map[peer.ID]peer.Info{}
	_ = d.p.Gather(ctx, &nats.Msg{Subject: peer.DiscoverSubject}, func(m *nats.Msg) bool {
		info, err := peer.Decode[peer.Info](m.Data)
		if err != nil || info.ID == d.p.ID() || !consistent(info) {
			return true // ourselves (the first answer, which proves nothing), or a stranger on the subject
		}
		quiet.Reset(min(quietAfter, cfg.ScanTimeout))
		if !onHost || info.Host == cfg.Host {
			found[info.ID] = info
		}
		return true
	})
	return found
}

// consistent reports whether an answer's ID is in the form peers
// subscribe with and says what its other fields say.
func consistent(info peer.Info) bool {
	id, err := peer.ParseID(string(info.ID))
	a, _ := id.Decode()
	return err == nil && id == info.ID && a.Host == info.Host && a.Port == info.Port && a.Group == info.Group
}
