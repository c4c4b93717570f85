package embedded

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// SetHubs points a leaf at the hubs' leaf node URLs: one leaf node
// connection to one of them, and the others as fail-over (and one more
// for the system account, see hubRemotes). An empty list
// detaches the leaf. Calling it again with the same hubs, in any order,
// changes nothing; with other hubs the leaf reconnects. A hub refuses.
func (s *Server) SetHubs(leafURLs []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.Hub {
		return errors.New("embedded: a hub has no hubs of its own; it routes to them")
	}
	urls := make([]*url.URL, 0, len(leafURLs))
	for _, raw := range leafURLs {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return fmt.Errorf("embedded: leaf node URL %q: want nats://host:port", raw)
		}
		u.User = nil
		urls = append(urls, u)
	}
	slices.SortFunc(urls, func(a, b *url.URL) int { return compareStrings(a.Host, b.Host) })
	if sameRemotes(s.opts.LeafNode.Remotes, urls) {
		return nil
	}
	next := s.opts.Clone()
	next.LeafNode.Remotes = nil
	if len(urls) > 0 {
		next.LeafNode.Remotes = hubRemotes(urls, s.cfg.SystemLeaf)
	}
	s.cfg.secure(next) // the remote's credentials and TLS
	if err := s.ns.ReloadOptions(next); err != nil {
		return fmt.Errorf("embedded: pointing the leaf at its hubs: %w", err)
	}
	s.opts = next
	return nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// sameRemotes reports whether the remotes configured (see hubRemotes) go
// to exactly urls.
func sameRemotes(remotes []*server.RemoteLeafOpts, urls []*url.URL) bool {
	if len(urls) == 0 {
		return len(remotes) == 0
	}
	if len(remotes) == 0 || len(remotes[0].URLs) != len(urls) {
		return false
	}
	for i, u := range remotes[0].URLs {
		if u.Host != urls[i].Host {
			return false
		}
	}
	return true
}

// Hubs returns the leaf node URLs a leaf is pointed at, without
// credentials.
func (s *Server) Hubs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	if len(s.opts.LeafNode.Remotes) > 0 { // the system account's remote goes to the same hubs
		for _, u := range s.opts.LeafNode.Remotes[0].URLs {
			out = append(out, withoutUser(u))
		}
	}
	return out
}

// Leaves returns the names of the servers connected to this one as leaf
// nodes, for a hub; for a leaf, the name of the hub it is attached to (at
// most one). Sorted. The system account's leaf node connections, which
// follow these, are not counted.
func (s *Server) Leaves() []string {
	lz, err := s.NATS().Leafz(globalLeaves)
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(lz.Leafs))
	for _, l := range lz.Leafs {
		names = append(names, l.Name)
	}
	slices.Sort(names)
	return names
}

// Attachment returns, for a leaf, the name of the hub it is connected to
// and a number that changes with every new connection; "" and 0 while
// detached. A hub has none.
func (s *Server) Attachment() (hub string, conn uint64) {
	if s.Hub() {
		return "", 0
	}
	lz, err := s.NATS().Leafz(globalLeaves)
	if err != nil || len(lz.Leafs) == 0 {
		return "", 0
	}
	return lz.Leafs[0].Name, lz.Leafs[0].ID
}

// SetHub changes the server's role: it shuts the server down and starts
// it again on the same port as a hub (hub true) or as a leaf. Clients
// connected through [Server.InProcessConn] reconnect on their own; other
// clients and connections see the server go and come back. A leaf that
// becomes a hub has no routes yet, and a hub that becomes a leaf no hubs:
// the caller adds them. Should the port be taken meanwhile, the error says
// so and the server is gone.
func (s *Server) SetHub(ctx context.Context, hub bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("embedded: server closed")
	}
	if s.cfg.Hub == hub {
		return nil
	}
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
	s.cfg.Hub = hub
	// The port was ours a moment ago; a peer that starts at this instant
	// may probe it, so try a few times before giving up.
	var err error
	for try := range 20 {
		if err = s.launch(ctx, nil); err == nil {
			return nil
		}
		if ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(try+1) * 5 * time.Millisecond)
	}
	s.closed = true
	return fmt.Errorf("embedded: restarting on port %d as a %s: %w", s.port, roleName(hub), err)
}

func roleName(hub bool) string {
	if hub {
		return "hub"
	}
	return "leaf"
}

// Interest reports whether the server knows of a subscription matching
// subject: one of its own clients', or one its hubs or routes told it of.
func (s *Server) Interest(subject string) bool {
	return s.NATS().GlobalAccount().SubscriptionInterest(subject)
}

// Reattach drops a leaf's connection to its hub, which the leaf dials
// again at once; the hub then tells it all the network's interest anew.
func (s *Server) Reattach() error {
	_, conn := s.Attachment()
	if conn == 0 {
		return nil
	}
	return s.NATS().DisconnectClientByID(conn)
}

// LocalPrefix starts the subjects that never leave the server they are
// published on: neither leaf node connections nor routes carry their
// interest or their messages. A client that talks to one server (a
// caller's direct connection to its target's server, a scan's question)
// takes its reply inbox there, so that its subscription is not one more
// that every server of the network learns of.
const LocalPrefix = "_LOCAL."

// LocalInbox is the inbox prefix (nats.CustomInboxPrefix) of a client
// whose requests are answered on the server it talks to.
const LocalInbox = LocalPrefix + "INBOX"

// localSubjects are the subjects under LocalPrefix, as permissions name
// them.
var localSubjects = []string{LocalPrefix + ">"}
