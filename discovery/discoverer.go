package discovery

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/appnet-go/appnet/internal/ratelog"
	"github.com/appnet-go/appnet/peer"
	"github.com/nats-io/nats.go"
)

// Peers is what a discovery found: every peer by ID,
// and the IDs of each group's peers, ordered by host and port.
type Peers struct {
	Peers  map[peer.ID]peer.Info `json:"peers"`
	Groups map[string][]peer.ID  `json:"groups"`
}

// Group returns the IDs of the group's peers, ordered by host and port.
func (ps Peers) Group(name string) []peer.ID { return ps.Groups[name] }

// IDs returns every peer's ID, ordered by host and port.
func (ps Peers) IDs() []peer.ID {
	ids := slices.Collect(maps.Keys(ps.Peers))
	slices.SortFunc(ids, func(a, b peer.ID) int {
		x, y := ps.Peers[a], ps.Peers[b]
		return compareAddr(x.Host, x.Port, y.Host, y.Port)
	})
	return ids
}

// Option narrows or refreshes a [Discoverer.Peers] query.
type Option func(*query)

type query struct {
	groups    []string
	allGroups bool
	hubsOnly  bool
	onHost    bool
	refresh   bool
}

// Groups keeps the peers of the named groups. Without Groups or
// [AllGroups], only the asking peer's own group is kept.
func Groups(names ...string) Option {
	return func(q *query) { q.groups = append(q.groups, names...) }
}

// AllGroups keeps the peers of every group.
func AllGroups() Option { return func(q *query) { q.allGroups = true } }

// HubsOnly keeps hubs only.
func HubsOnly() Option { return func(q *query) { q.hubsOnly = true } }

// OnHost scans this peer's own host only: every port of its range.
func OnHost() Option { return func(q *query) { q.onHost = true } }

// Refresh scans again instead of answering from the cache.
func Refresh() Option { return func(q *query) { q.refresh = true } }

// Discoverer finds peers for one peer, routes that peer's server to them,
// and caches what it found. It is safe for concurrent use.
type Discoverer struct {
	p *peer.Peer

	mu    sync.Mutex                     // guards the cache, never held across I/O
	cache map[bool]map[peer.ID]peer.Info // found peers, by scope (on host or not)
	// cacheRoutes is the server's route count when the cache was filled.
	cacheRoutes map[bool]int

	scanning chan struct{}        // one token: serialises scans, guards the fields below
	routed   map[string]peer.ID   // cluster URL -> peer, for routes this discoverer added
	silent   map[string]time.Time // host:port -> not probed again until then

	warnMu sync.Mutex
	warned map[string]bool // peers already said to refuse our credentials, or to claim another's ID

	limited *ratelog.Logger // for what answers on the scanned ports make us say
}

// New returns a Discoverer for p.
func New(p *peer.Peer) *Discoverer {
	return &Discoverer{
		p:           p,
		cache:       map[bool]map[peer.ID]peer.Info{},
		cacheRoutes: map[bool]int{},
		routed:      map[string]peer.ID{},
		silent:      map[string]time.Time{},
		warned:      map[string]bool{},
		limited:     ratelog.New(p.Logger(), 0),
		scanning:    make(chan struct{}, 1),
	}
}

// Mesh scans p's own host and routes p to every peer there: what a peer
// does when it starts, so peers on one host form one cluster without
// anyone asking for peers.
// A client of a NATS deployment (Config.NATSURL) has nothing to mesh.
func (d *Discoverer) Mesh(ctx context.Context) error {
	if d.p.Config().External() {
		return nil
	}
	_, err := d.Peers(ctx, OnHost(), Refresh())
	return err
}

// Peers returns the peers other than p, scanning (and routing to new
// peers) when nothing is cached for the scope yet, when a route to p's
// server came or went since, or when [Refresh] is given.
// The scope is p's own host with [OnHost]; else the hosts in NET_SCAN
// (Config.Scan); else the kernel's neighbour table and p's host. A client
// of a NATS deployment (Config.NATSURL) asks the deployment instead: every
// peer connected to it, or those on p's host with [OnHost].
func (d *Discoverer) Peers(ctx context.Context, opts ...Option) (Peers, error) {
	var q query
	for _, o := range opts {
		o(&q)
	}
	if found, ok := d.cached(q); ok {
		return d.filter(found, q), nil
	}
	select {
	case d.scanning <- struct{}{}:
		defer func() { <-d.scanning }()
	case <-ctx.Done():
		return Peers{}, fmt.Errorf("waiting for another scan to end: %w", ctx.Err())
	}
	if found, ok := d.cached(q); ok {
		return d.filter(found, q), nil // another caller's scan filled it meanwhile
	}
	found, err := d.discover(ctx, q.onHost)
	if err != nil {
		return Peers{}, err
	}
	d.mu.Lock()
	d.cache[q.onHost] = found
	d.cacheRoutes[q.onHost] = d.routes()
	d.mu.Unlock()
	return d.filter(found, q), nil
}

// cached returns the cached peers of the query's scope, unless the query
// asks for a refresh or the cache is stale: a route came or went since it
// was filled (a peer joined the cluster and routed to us, or left it).
func (d *Discoverer) cached(q query) (map[peer.ID]peer.Info, bool) {
	if q.refresh {
		return nil, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	found, ok := d.cache[q.onHost]
	return found, ok && d.cacheRoutes[q.onHost] == d.routes()
}

// routes is how many routes the peer's server has; 0 for a client of a
// deployment, whose cache lasts until a refresh.
func (d *Discoverer) routes() int {
	if srv := d.p.Server(); srv != nil {
		return srv.NATS().NumRoutes()
	}
	return 0
}

// filter applies a query's filters to what was found.
func (d *Discoverer) filter(found map[peer.ID]peer.Info, q query) Peers {
	groups := q.groups
	if len(groups) == 0 && !q.allGroups {
		groups = []string{d.p.Config().Group}
	}
	out := Peers{Peers: map[peer.ID]peer.Info{}, Groups: map[string][]peer.ID{}}
	for id, info := range found {
		if q.hubsOnly && !info.Hub {
			continue
		}
		if !q.allGroups && !slices.Contains(groups, info.Group) {
			continue
		}
		out.Peers[id] = info
	}
	for _, id := range out.IDs() {
		g := out.Peers[id].Group
		out.Groups[g] = append(out.Groups[g], id)
	}
	return out
}

// How long an address that did not answer a probe is left out of later
// scans: a listener that accepted and never greeted is not a peer and
// seldom becomes one; a dial that got no answer (no such host, a cut
// link) is retried sooner, so a peer behind a healed link rejoins.
const (
	silentListenerFor = 30 * time.Second
	silentHostFor     = 5 * time.Second
)

// discover finds the peers of the scope: the ones already in this peer's
// cluster answer one scatter-gather request; the other addresses of the
// scope are probed (minus listeners that recently stayed silent), and new
// peers are routed to. Routes this discoverer added to peers no longer
// found are dropped. The scanning token is held.
func (d *Discoverer) discover(ctx context.Context, onHost bool) (map[peer.ID]peer.Info, error) {
	cfg := d.p.Config()
	if cfg.External() {
		found := d.ask(ctx, onHost)
		return found, ctx.Err()
	}
	hosts, err := d.targets(onHost)
	if err != nil {
		return nil, err
	}
	inScope := make(map[string]bool, len(hosts))
	for _, h := range hosts {
		inScope[h] = true
	}
	found := map[peer.ID]peer.Info{}
	known := map[string]bool{net.JoinHostPort(cfg.Host, strconv.Itoa(d.p.Server().Port())): true}
	for id, info := range d.gather(ctx) {
		if inScope[info.Host] {
			found[id] = info
			known[net.JoinHostPort(info.Host, strconv.Itoa(info.Port))] = true
		}
	}
	now := time.Now()
	for addr, until := range d.silent {
		if now.After(until) {
			delete(d.silent, addr) // expired: the map stays as small as the silent set
		}
	}
	var silentMu sync.Mutex
	allow, err := cfg.ScanAllowed()
	if err != nil {
		return nil, err
	}
	scanner := Scanner{
		Workers: cfg.ThreadLimit,
		Timeout: cfg.ScanTimeout,
		Allow:   allow,
		Skip: func(addr string) bool {
			silentMu.Lock()
			defer silentMu.Unlock()
			return known[addr] || now.Before(d.silent[addr])
		},
		OnSilent: func(addr string, connected bool) {
			until := now.Add(silentHostFor)
			if connected {
				until = now.Add(silentListenerFor)
			}
			silentMu.Lock()
			d.silent[addr] = until
			silentMu.Unlock()
		},
		OnMisnamed: d.misnamed,
	}
	hits, err := scanner.Scan(ctx, hosts, cfg.Ports())
	if err != nil {
		return nil, err
	}
	clientOpts := d.p.ClientOptions()
	var fresh []peer.Info
	var mu sync.Mutex
	var wg sync.WaitGroup
	limit := make(chan struct{}, max(cfg.ThreadLimit, 1))
	for _, h := range hits {
		wg.Go(func() {
			limit <- struct{}{}
			defer func() { <-limit }()
			info, err := FetchInfo(ctx, h, 4*cfg.ScanTimeout, clientOpts...)
			if err != nil {
				d.refused(h, err)
				return
			}
			if err := checkCluster(info, h); err != nil {
				d.limited.Warn("appnet: discovery: a peer's info is not usable; it is left out", "addr", net.JoinHostPort(h.Host, strconv.Itoa(h.Port)), "err", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			found[info.ID] = info
			fresh = append(fresh, info)
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		// A scan cut short proves nothing about who has gone.
		return nil, err
	}
	answered := map[peer.ID]bool{}
	for _, h := range hits {
		answered[h.ID] = true // greeted the probe, even if info came too late
	}
	if err := d.route(ctx, fresh, found, answered, inScope); err != nil {
		return nil, err
	}
	d.checkIdentity()
	return found, nil
}

// checkIdentity reports, once each and as errors, the impostors of this
// peer's identity that its server can see (see [peer.Peer.Impostors]):
// after every scan, so at start, at each join and at each rescan.
func (d *Discoverer) checkIdentity() {
	for _, what := range d.p.Impostors() {
		d.warnMu.Lock()
		seen := d.warned[what]
		d.warned[what] = true
		d.warnMu.Unlock()
		if !seen {
			d.p.Logger().Error("appnet: another party claims a peer's identity: calls to the peer may reach it and events may be forged in its name", "peer", d.p.ID(), "claim", what)
		}
	}
}

// gather asks every peer of the cluster for its info with one request and
// returns the answers of the servers this one has routes to. It waits for
// as many answers as there are routed servers, or 4 × ScanTimeout.
func (d *Discoverer) gather(ctx context.Context) map[peer.ID]peer.Info {
	ctx, cancel := context.WithTimeout(ctx, 4*d.p.Config().ScanTimeout)
	defer cancel()
	return d.p.RoutedPeers(ctx)
}

// checkCluster refuses a cluster URL this peer's server should not dial:
// it must be nats://<the host the peer answered on>:<port>.
func checkCluster(info peer.Info, h Hit) error {
	u, err := url.Parse(info.Cluster)
	if err != nil || u.Scheme != "nats" || u.Hostname() != h.Host || u.Port() == "" || u.User != nil {
		return fmt.Errorf("cluster URL %q: want nats://%s:<port>", info.Cluster, h.Host)
	}
	return nil
}

// misnamed reports, once per address and ID, a server that greets with
// an ID that names another address: it is not listed, nor routed to. One
// that claims this very peer's ID is an error: calls to this peer could
// reach it.
func (d *Discoverer) misnamed(addr string, claimed peer.ID) {
	d.warnMu.Lock()
	defer d.warnMu.Unlock()
	key := addr + " " + string(claimed)
	if d.warned[key] {
		return
	}
	d.warned[key] = true
	at := ""
	if a, err := claimed.Decode(); err == nil {
		at = a.String()
	}
	if claimed == d.p.ID() {
		d.p.Logger().Error("appnet: discovery: a server claims this peer's ID: it is not routed to, but if it joins the cluster another way, calls to this peer may reach it",
			"addr", addr, "claimed", claimed)
		return
	}
	d.p.Logger().Warn("appnet: discovery: a server greets with the ID of a peer at another address (an impostor, or a peer behind an address translation); it is not listed",
		"addr", addr, "claimed", claimed, "claimed_addr", at)
}

// refused notes a peer that greeted the probe but would not talk: a peer
// that wants another secret or certificate, or a server that cannot prove
// it holds this peer's (no TLS, a certificate the secret's CA did not
// sign), is said once, as a warning;
// anything else (a peer going away mid-scan) at debug level.
func (d *Discoverer) refused(h Hit, err error) {
	addr := net.JoinHostPort(h.Host, strconv.Itoa(h.Port))
	if !isAuthError(err) {
		d.p.Logger().Debug("appnet: discovery: peer did not answer info", "addr", addr, "err", err)
		return
	}
	d.warnMu.Lock()
	defer d.warnMu.Unlock()
	if d.warned[string(h.ID)] {
		return
	}
	d.warned[string(h.ID)] = true
	d.p.Logger().Warn("appnet: discovery: a server that greets as a peer does not share this peer's credentials (NET_SECRET, NET_TLS_*): it refused them, or could not prove it holds them; it is not listed",
		"peer", h.ID, "addr", addr, "err", err)
}

// isAuthError reports whether err is a refusal of credentials.
func isAuthError(err error) bool {
	if errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) || errors.Is(err, nats.ErrSecureConnRequired) || errors.Is(err, nats.ErrSecureConnWanted) {
		return true
	}
	var certErr *tls.CertificateVerificationError
	msg := strings.ToLower(err.Error())
	return errors.As(err, &certErr) || strings.Contains(msg, "authorization") || strings.Contains(msg, "tls") || strings.Contains(msg, "certificate")
}

// FetchInfo asks the peer of a hit for its info over a short-lived
// connection to the peer's own server, without joining its cluster. opts
// are the client's credentials ([peer.Peer.ClientOptions]).
func FetchInfo(ctx context.Context, h Hit, timeout time.Duration, opts ...nats.Option) (peer.Info, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	nc, err := nats.Connect("nats://"+net.JoinHostPort(h.Host, strconv.Itoa(h.Port)), append(opts,
		nats.Name("appnet discovery"), nats.Timeout(timeout), nats.NoReconnect())...)
	if err != nil {
		return peer.Info{}, fmt.Errorf("connecting to peer %s at %s:%d: %w", h.ID, h.Host, h.Port, err)
	}
	defer nc.Close()
	out, err := peer.NewCaller(nc, peer.NewRegistry(), timeout).Call(ctx, h.ID, peer.ConnInfo, nil)
	if err != nil {
		return peer.Info{}, err
	}
	return decodeInfo(h, out)
}

func decodeInfo(h Hit, out []byte) (peer.Info, error) {
	info, err := peer.Decode[peer.Info](out)
	if err == nil && info.ID != h.ID {
		err = fmt.Errorf("peer %s answered info as %s", h.ID, info.ID)
	}
	return info, err
}

// route routes this peer's server to the fresh peers and waits (up to two
// seconds) until each answers through the cluster; then it drops the
// routes this discoverer added earlier to peers that have gone.
//
// Two peers that find each other at the same moment (they started
// together) must not both add a route: NATS closes both as duplicates and
// redials only a second later. So the younger peer routes to the older at
// once, and the older waits a moment for that route before adding its own.
// A peer joining a running one is the younger, so it joins at once.
//
// A route is dropped only when its peer was restarted (found again at
// another cluster URL: the old one would be redialled forever), or when
// the peer lies inside what this scan covered, neither answered the probe
// nor is still connected.
func (d *Discoverer) route(ctx context.Context, fresh []peer.Info, found map[peer.ID]peer.Info, answered map[peer.ID]bool, inScope map[string]bool) error {
	srv := d.p.Server()
	connected := map[string]bool{}
	for _, name := range srv.RemoteNames() {
		connected[name] = true
	}
	var gone []string
	for url, id := range d.routed {
		info, ok := found[id]
		restarted := ok && info.Cluster != url
		if !restarted && (ok || answered[id] || connected[string(id)] || !inScope[hostOf(id)]) {
			continue
		}
		gone = append(gone, url)
		delete(d.routed, url)
	}
	if len(gone) > 0 {
		if err := srv.RemoveRoutes(gone...); err != nil {
			return err
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	self := d.p.Info()
	var now, later []peer.Info
	for _, info := range fresh {
		switch {
		case connected[string(info.ID)]:
			// It routed to us already.
		case older(info, self):
			now = append(now, info)
		default:
			later = append(later, info)
		}
	}
	if err := d.addRoutes(now); err != nil {
		return err
	}
	if len(later) > 0 {
		if err := d.addRoutes(d.awaitInbound(ctx, later)); err != nil {
			return err
		}
	}
	var wg sync.WaitGroup
	for _, info := range fresh {
		wg.Go(func() { d.waitCallable(ctx, info.ID) })
	}
	wg.Wait()
	return nil
}

// inboundWait is how long the older of two peers that found each other
// waits for the younger's route before adding its own.
const inboundWait = 150 * time.Millisecond

// older reports whether a started before b (ties broken by ID), that is,
// whether b should route to a.
func older(a, b peer.Info) bool {
	if !a.Started.Equal(b.Started) {
		return a.Started.Before(b.Started)
	}
	return a.ID < b.ID
}

// awaitInbound waits up to inboundWait for routes from the peers and
// returns those that did not route to us.
func (d *Discoverer) awaitInbound(ctx context.Context, peers []peer.Info) []peer.Info {
	deadline := time.Now().Add(inboundWait)
	for {
		connected := map[string]bool{}
		for _, name := range d.p.Server().RemoteNames() {
			connected[name] = true
		}
		missing := slices.DeleteFunc(slices.Clone(peers), func(info peer.Info) bool { return connected[string(info.ID)] })
		if len(missing) == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return missing
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// addRoutes adds explicit routes to the peers and remembers them.
func (d *Discoverer) addRoutes(peers []peer.Info) error {
	if len(peers) == 0 {
		return nil
	}
	urls := make([]string, 0, len(peers))
	for _, info := range peers {
		urls = append(urls, info.Cluster)
		d.routed[info.Cluster] = info.ID
	}
	return d.p.Server().AddRoutes(urls...)
}

// hostOf returns the host an ID names, or "".
func hostOf(id peer.ID) string {
	a, err := id.Decode()
	if err != nil {
		return ""
	}
	return a.Host
}

// waitCallable polls until id answers through the cluster or ctx ends.
func (d *Discoverer) waitCallable(ctx context.Context, id peer.ID) {
	for {
		// Through this peer's own server and the route, on purpose: a call
		// could also go straight to the other server.
		callCtx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		_, err := d.p.Conn().RequestWithContext(callCtx, peer.CallSubject(id, peer.ConnInfo), nil)
		cancel()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			d.p.Logger().Warn("appnet: discovery: routed peer does not answer through the cluster yet", "to", id, "err", err)
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// targets returns the hosts a scan of the scope covers.
func (d *Discoverer) targets(onHost bool) ([]string, error) {
	return Targets(d.p.Config(), onHost)
}

// Targets returns the hosts a discovery for cfg scans: cfg.Host alone when
// onHost; else the hosts of cfg.Scan (NET_SCAN); else the kernel's
// neighbour table and cfg.Host.
func Targets(cfg peer.Config, onHost bool) ([]string, error) {
	if onHost {
		return []string{cfg.Host}, nil
	}
	if cfg.Scan != "" {
		return ParseTargets(cfg.Scan, cfg.ScanMaxHosts)
	}
	hosts, err := Neighbours()
	if err != nil {
		return nil, err
	}
	if !slices.Contains(hosts, cfg.Host) {
		hosts = append([]string{cfg.Host}, hosts...)
	}
	return hosts, nil
}

// Neighbours returns the IPv4 addresses in the kernel's neighbour table:
// /proc/net/arp on Linux, else the output of `arp -a`.
func Neighbours() ([]string, error) {
	if data, err := os.ReadFile("/proc/net/arp"); err == nil {
		return parseProcARP(data), nil
	}
	out, err := exec.Command("arp", "-a").Output()
	if err != nil {
		return nil, fmt.Errorf("reading the neighbour table: %w", err)
	}
	return parseARP(out), nil
}

// parseProcARP reads /proc/net/arp, keeping complete entries (flags 0x2).
func parseProcARP(data []byte) []string {
	var hosts []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Scan() // header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 3 && f[2] != "0x0" && net.ParseIP(f[0]).To4() != nil && !slices.Contains(hosts, f[0]) {
			hosts = append(hosts, f[0])
		}
	}
	return hosts
}

var arpLine = regexp.MustCompile(`\((\d+\.\d+\.\d+\.\d+)\)`)

// parseARP reads `arp -a` output: "host (1.2.3.4) at ...".
func parseARP(out []byte) []string {
	var hosts []string
	for _, m := range arpLine.FindAllSubmatch(out, -1) {
		if h := string(m[1]); !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// Known returns how many peers of group the cache holds, whatever the
// scope they were found in.
func (d *Discoverer) Known(group string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	seen := map[peer.ID]bool{}
	for _, found := range d.cache {
		for id, info := range found {
			if info.Group == group {
				seen[id] = true
			}
		}
	}
	return len(seen)
}
