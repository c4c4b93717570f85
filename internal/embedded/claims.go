package embedded

import (
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
)

// DuplicateNames returns, sorted, the server names that two servers of
// the cluster answer to, as this server's routes see them: a routed
// server named like this one (nats-server refuses only the routes others
// dial to it with its own name, not the ones it dials itself), or two
// routed servers with one name. A peer's server name is its ID, so each is
// an identity claimed twice.
func (s *Server) DuplicateNames() []string {
	rz, err := s.ns.Routez(nil)
	if err != nil {
		return nil
	}
	own := s.ns.Name()
	servers := map[string][]string{} // name -> server IDs
	var dup []string
	for _, r := range rz.Routes {
		if r.RemoteName == own && !slices.Contains(dup, own) {
			dup = append(dup, own)
		}
		if ids := servers[r.RemoteName]; !slices.Contains(ids, r.RemoteID) {
			servers[r.RemoteName] = append(ids, r.RemoteID)
		}
	}
	for name, ids := range servers {
		if len(ids) > 1 && !slices.Contains(dup, name) {
			dup = append(dup, name)
		}
	}
	slices.Sort(dup)
	return dup
}

// Subscribers describes the connections that subscribe to a subject that
// begins with prefix, a literal one (a wildcard subscription, such as a
// monitor's "net.>", does not count): the clients of this server other
// than the one whose client ID is except, and the routed servers whose
// clients do. Subjects that belong to one party alone thus tell who else
// listens to them.
func (s *Server) Subscribers(prefix string, except uint64) []string {
	var out []string
	if cz, err := s.ns.Connz(&server.ConnzOptions{Subscriptions: true, Limit: 1 << 16}); err == nil {
		for _, c := range cz.Conns {
			if c.Cid == except {
				continue
			}
			if sub := firstWithPrefix(c.Subs, prefix); sub != "" {
				out = append(out, fmt.Sprintf("client %q at %s:%d (cid %d) subscribes to %s", c.Name, c.IP, c.Port, c.Cid, sub))
			}
		}
	}
	if rz, err := s.ns.Routez(&server.RoutezOptions{Subscriptions: true}); err == nil {
		for _, r := range rz.Routes {
			if sub := firstWithPrefix(r.Subs, prefix); sub != "" {
				out = append(out, fmt.Sprintf("a client of server %q (route from %s:%d) subscribes to %s", r.RemoteName, r.IP, r.Port, sub))
			}
		}
	}
	return out
}

func firstWithPrefix(subjects []string, prefix string) string {
	for _, sub := range subjects {
		if strings.HasPrefix(sub, prefix) {
			return sub
		}
	}
	return ""
}
