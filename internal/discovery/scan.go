package discovery

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/appnet-go/appnet/internal/embedded"
	"github.com/appnet-go/appnet/internal/peer"
)

// ErrTargets is wrapped by errors about the hosts to scan.
var ErrTargets = errors.New("invalid scan target")

// MaxHosts is the most hosts a scan takes unless the caller allows more:
// a /16.
const MaxHosts = 1 << 16

// Hit is a port where an appnet peer answered a probe.
type Hit struct {
	Host string
	Port int
	// ID is the peer's ID, from the server name in its NATS greeting.
	ID peer.ID
	// Guarded says the server demands credentials (a secret) or TLS of
	// its clients: a peer with a secret joins no network that does not.
	Guarded bool
	// Hub says the server is a hub (its cluster is appnet's).
	Hub bool
}

// Progress reports how far a scan has got.
type Progress struct {
	Done, Total, Hits int
}

// Scanner probes hosts × ports for appnet peers.
type Scanner struct {
	// Workers is how many probes run at once; 0 or less means one.
	Workers int
	// Timeout bounds each probe: the dial and the wait for the greeting.
	Timeout time.Duration
	// Skip, if set, names addresses ("host:port") not to probe.
	Skip func(hostPort string) bool
	// OnProgress, if set, is called after each probe.
	OnProgress func(Progress)
	// OnHit, if set, is called with each peer found, as soon as it is.
	OnHit func(Hit)
	// Allow, when not empty, confines the scan to these blocks
	// ([peer.Config.ScanAllow]): a scan of any host outside them fails
	// before any probe.
	Allow []netip.Prefix
	// OnSilent, if set, is called with each address that did not answer
	// within Timeout: connected tells a listener that accepted and said
	// nothing from a dial that got no answer at all (no such host, or a
	// filtered port).
	OnSilent func(hostPort string, connected bool)
	// OnMisnamed, if set, is called with each address where a server
	// greeted as the peer of another address: an ID names the host and
	// port its server listens on, so such a server claims an identity
	// that is not its own. The hit is dropped either way.
	OnMisnamed func(hostPort string, claimed peer.ID)
}

// checkAllowed refuses hosts outside allow, when allow is not empty.
func checkAllowed(hosts []string, allow []netip.Prefix) error {
	if len(allow) == 0 {
		return nil
	}
	for _, h := range hosts {
		a, err := netip.ParseAddr(h)
		if err != nil || !slices.ContainsFunc(allow, func(p netip.Prefix) bool { return p.Contains(a.Unmap()) }) {
			return fmt.Errorf("%w: refusing to probe %s: outside NET_SCAN_ALLOW=%v", ErrTargets, h, allow)
		}
	}
	return nil
}

// Scan probes every port of every host and returns the peers that
// answered, ordered by host then port. Hosts outside Allow, when it is
// set, make it fail before any probe. Only a NATS server of the appnet
// cluster whose server name is a peer ID counts: any other listener (a web
// server, a silent socket) is dropped after at most Timeout. Scan stops
// early, returning what it found, when ctx ends.
func (s Scanner) Scan(ctx context.Context, hosts []string, ports []int) ([]Hit, error) {
	if err := checkAllowed(hosts, s.Allow); err != nil {
		return nil, err
	}
	workers := max(s.Workers, 1)
	total := len(hosts) * len(ports)
	jobs := make(chan string)
	results := make(chan *Hit)
	var wg sync.WaitGroup
	for range min(workers, max(total, 1)) {
		wg.Go(func() {
			for addr := range jobs {
				results <- s.probe(ctx, addr)
			}
		})
	}
	go func() {
		defer close(jobs)
		for _, h := range hosts {
			for _, p := range ports {
				addr := net.JoinHostPort(h, strconv.Itoa(p))
				if s.Skip != nil && s.Skip(addr) {
					continue
				}
				select {
				case jobs <- addr:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()

	var hits []Hit
	done := 0
	for h := range results {
		done++
		if h != nil {
			hits = append(hits, *h)
			if s.OnHit != nil {
				s.OnHit(*h)
			}
		}
		if s.OnProgress != nil {
			s.OnProgress(Progress{Done: done, Total: total, Hits: len(hits)})
		}
	}
	sortHits(hits)
	return hits, ctx.Err()
}

// maxGreeting bounds the NATS greeting a probe reads: room for the
// connect_urls of a few thousand members.
const maxGreeting = 64 << 10

// probe dials addr and reads the NATS greeting, "INFO {json}\r\n".
func (s Scanner) probe(ctx context.Context, addr string) *Hit {
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		s.silent(addr, false, err)
		return nil
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	_ = conn.SetReadDeadline(deadline)
	// A greeting is a few hundred bytes, plus about 25 per other member
	// of an open cluster (connect_urls); a listener that sends more than
	// maxGreeting without a line end is not NATS.
	line, err := bufio.NewReader(io.LimitReader(conn, maxGreeting)).ReadBytes('\n')
	if err != nil {
		s.silent(addr, true, err)
		return nil
	}
	rest, ok := strings.CutPrefix(string(line), "INFO ")
	if !ok {
		return nil
	}
	var info struct {
		Name         string `json:"server_name"`
		Cluster      string `json:"cluster"`
		AuthRequired bool   `json:"auth_required"`
		TLSRequired  bool   `json:"tls_required"`
	}
	// A hub's cluster is appnet's; a leaf's is named after itself.
	if json.Unmarshal([]byte(strings.TrimSpace(rest)), &info) != nil ||
		info.Cluster != embedded.DefaultClusterName && info.Cluster != info.Name {
		return nil
	}
	id, err := peer.ParseID(info.Name)
	if err != nil || string(id) != info.Name { // a peer's server is named by its ID as peers subscribe with it
		return nil
	}
	host, port, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(port)
	if !names(id, host, n) {
		if s.OnMisnamed != nil {
			s.OnMisnamed(addr, id)
		}
		return nil
	}
	return &Hit{Host: host, Port: n, ID: id, Guarded: info.AuthRequired || info.TLSRequired, Hub: info.Cluster == embedded.DefaultClusterName}
}

// names reports whether id is the ID of a peer listening on host:port.
func names(id peer.ID, host string, port int) bool {
	a, err := id.Decode()
	if err != nil || a.Port != port {
		return false
	}
	want, err1 := netip.ParseAddr(a.Host)
	got, err2 := netip.ParseAddr(host)
	return err1 == nil && err2 == nil && want.Unmap() == got.Unmap()
}

// silent reports addr to OnSilent when err is a timeout.
func (s Scanner) silent(addr string, connected bool, err error) {
	var ne net.Error
	if s.OnSilent != nil && (errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded)) {
		s.OnSilent(addr, connected)
	}
}

// ParseTargets turns a NET_SCAN value, a comma-separated list of IP
// addresses and CIDR blocks, into the hosts to scan, without duplicates.
// A block larger than maxHosts (0 means [MaxHosts]) or an entry that is
// neither is an error wrapping [ErrTargets] that names it.
func ParseTargets(list string, maxHosts int) ([]string, error) {
	if maxHosts <= 0 {
		maxHosts = MaxHosts
	}
	var hosts []string
	seen := map[string]bool{}
	add := func(a netip.Addr) {
		if s := a.String(); !seen[s] {
			seen[s] = true
			hosts = append(hosts, s)
		}
	}
	for _, entry := range strings.Split(list, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		if a, err := netip.ParseAddr(entry); err == nil {
			add(a)
			continue
		}
		prefix, err := netip.ParsePrefix(entry)
		if err != nil || !prefix.Addr().Is4() {
			return nil, fmt.Errorf("%w %q: want an IPv4 address or CIDR block such as 127.0.0.0/27", ErrTargets, entry)
		}
		prefix = prefix.Masked()
		size := 1 << (32 - prefix.Bits())
		if size > maxHosts {
			return nil, fmt.Errorf("%w %q: %d addresses, more than the %d allowed", ErrTargets, entry, size, maxHosts)
		}
		a := prefix.Addr()
		for range size {
			if len(seen) >= maxHosts {
				return nil, fmt.Errorf("%w %q: more than %d hosts in all", ErrTargets, list, maxHosts)
			}
			if size <= 2 || (a != prefix.Addr() && !isBroadcast(a, prefix)) {
				add(a)
			}
			a = a.Next()
		}
	}
	return hosts, nil
}

func isBroadcast(a netip.Addr, p netip.Prefix) bool {
	return !p.Contains(a.Next())
}

func sortHits(hits []Hit) {
	slices.SortFunc(hits, func(a, b Hit) int { return compareAddr(a.Host, a.Port, b.Host, b.Port) })
}

// compareAddr orders host:port pairs by address, then port.
func compareAddr(ah string, ap int, bh string, bp int) int {
	aa, _ := netip.ParseAddr(ah)
	ba, _ := netip.ParseAddr(bh)
	if c := aa.Compare(ba); c != 0 {
		return c
	}
	return cmp.Compare(ap, bp)
}
