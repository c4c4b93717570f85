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
// changes nothing; with other hubs the leaf reconnects. During a
// Reattach's pause the hubs are kept for its end. A hub refuses.
func (s *Server) SetHubs(leafURLs []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.Hub {
		return errors.New("embedded: a hub has no hubs of its own; it routes to them")
	}
	urls, err := parseHubs(leafURLs)
	if err != nil {
		return err
	}
	if time.Now().Before(s.pausedUntil) {
		s.wantHubs = slices.Clone(leafURLs)
		return nil
	}
	return s.pointAt(urls, false)
}

// parseHubs parses leaf node URLs, without credentials, in host order.
func parseHubs(leafURLs []string) ([]*url.URL, error) {
	urls, err := parseURLs(leafURLs)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(urls, func(a, b *url.URL) int { return compareStrings(a.Host, b.Host) })
	return urls, nil
}

// parseURLs parses leaf node URLs, without credentials, in their order.
func parseURLs(leafURLs []string) ([]*url.URL, error) {
	urls := make([]*url.URL, 0, len(leafURLs))
	for _, raw := range leafURLs {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("embedded: leaf node URL %q: want nats://host:port", raw)
		}
		u.User = nil
		urls = append(urls, u)
	}
	return urls, nil
}

// pointAt makes urls the leaf's remotes, through a configuration reload
// when they changed: dialled in their order if ordered, else in an order
// nats-server draws (which spreads a hub's leaves over the others when it
// fails). s.mu is held.
func (s *Server) pointAt(urls []*url.URL, ordered bool) error {
	if sameRemotes(s.opts.LeafNode.Remotes, urls) {
		return nil
	}
	next := s.opts.Clone()
	next.LeafNode.Remotes = nil
	if len(urls) > 0 {
		next.LeafNode.Remotes = hubRemotes(urls, s.cfg.SystemLeaf, ordered)
	}
	s.cfg.secure(next) // the remote's credentials and TLS
	if err := s.ns.ReloadOptions(next); err != nil {
		return fmt.Errorf("embedded: pointing the leaf at its hubs: %w", err)
	}
	s.opts = next
	return nil
}

// sameSet reports whether a and b hold the same strings, in any order.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
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

// Reattach drops a leaf's connection to its hub and attaches again after
// ReattachPause (or when ctx ends), to the hubs it was pointed at or those
// SetHubs named meanwhile; the hub then tells it all the network's
// interest anew. It returns once the leaf dialled again.
//
// The pause is for the other leaves of the hub. nats-server (2.15) takes a
// closed connection's subscriptions out of the account first and then
// tells each leaf connection, one at a time; a leaf attaching meanwhile
// loads the account without them, and should the same subscriptions come
// back before the hub reached that leaf (by a new connection, or from
// another hub), the late removal takes them from the newcomer for good.
// Leaves that attached again within 250 ms lost one another that way in
// mass starts, and set still more of them off.
func (s *Server) Reattach(ctx context.Context) error { return s.reattach(ctx, nil) }

// MoveTo moves a leaf to the hubs at leafURLs as Reattach does (with its
// pause): it dials them in their order, the first first.
func (s *Server) MoveTo(ctx context.Context, leafURLs []string) error {
	if len(leafURLs) == 0 {
		return errors.New("embedded: moving a leaf to no hub")
	}
	if _, err := parseHubs(leafURLs); err != nil {
		return err
	}
	return s.reattach(ctx, leafURLs)
}

// reattach is Reattach; to the hubs at to, in their order, if given.
func (s *Server) reattach(ctx context.Context, to []string) error {
	s.mu.Lock()
	if s.cfg.Hub || len(s.opts.LeafNode.Remotes) == 0 {
		s.mu.Unlock()
		return nil
	}
	hubs := slices.Clone(to)
	if hubs == nil {
		for _, u := range s.opts.LeafNode.Remotes[0].URLs {
			hubs = append(hubs, withoutUser(u))
		}
	}
	err := s.pointAt(nil, false)
	if err == nil {
		s.pausedUntil, s.wantHubs = time.Now().Add(ReattachPause), hubs
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	select {
	case <-time.After(ReattachPause):
	case <-ctx.Done():
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pausedUntil = time.Time{}
	if s.cfg.Hub || s.closed {
		return nil // it changed role or closed meanwhile
	}
	if to != nil && sameSet(s.wantHubs, hubs) { // not pointed elsewhere meanwhile
		urls, err := parseURLs(to)
		if err != nil {
			return err
		}
		return s.pointAt(urls, true)
	}
	urls, err := parseHubs(s.wantHubs)
	if err != nil {
		return err
	}
	return s.pointAt(urls, false)
}

// ReattachPause is how long Reattach leaves a leaf detached: long enough
// for a hub busy with a mass start to have told its other leaves that the
// leaf's subscriptions went.
const ReattachPause = time.Second

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
