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
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/appnet-go/appnet/internal/embedded"

	"github.com/appnet-go/appnet/internal/peer"
	"github.com/appnet-go/appnet/internal/ratelog"
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
	serving   string
	values    map[string]string
	host      string // the asking peer's, for onHost
}

// match reports whether info passes the query's filters. The groups are
// resolved ([Discoverer.query]).
func (q query) match(info peer.Info) bool {
	switch {
	case q.hubsOnly && !info.Hub,
		!q.allGroups && !slices.Contains(q.groups, info.Group),
		q.onHost && info.Host != q.host,
		q.serving != "" && !slices.Contains(info.Connections, q.serving):
		return false
	}
	for k, v := range q.values {
		if got, ok := info.Values[k]; !ok || got != v {
			return false
		}
	}
	return true
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

// Refresh asks the network again instead of answering from the view.
func Refresh() Option { return func(q *query) { q.refresh = true } }

// Serving keeps the peers that serve the connection.
func Serving(connection string) Option { return func(q *query) { q.serving = connection } }

// Value keeps the peers whose value key is value ([peer.Peer.SetValue]).
func Value(key, value string) Option {
	return func(q *query) {
		if q.values == nil {
			q.values = map[string]string{}
		}
		q.values[key] = value
	}
}

// query applies opts and resolves the defaults: the asking peer's own
// group when no group is named.
func (d *Discoverer) query(opts []Option) query {
	var q query
	for _, o := range opts {
		o(&q)
	}
	if len(q.groups) == 0 && !q.allGroups {
		q.groups = []string{d.p.Config().Group}
	}
	q.host = d.p.Config().Host
	return q
}

// Discoverer keeps one peer's view of the network and its place in it:
// it joins the peer to the network ([Discoverer.Join]), keeps the view
// current from the changes the network publishes, elects and replaces
// hubs, and answers [Discoverer.Peers], [Discoverer.Watch] and
// [Discoverer.Wait] from the view. It is safe for concurrent use.
type Discoverer struct {
	p    *peer.Peer
	view *view
	net  network

	scanning  chan struct{} // one token: serialises refreshes
	refreshed answerCache   // the answers of the refreshes, under scanning

	ownMu sync.Mutex
	own   peer.Info // this peer's Info, as of ownAt (see ownInfo)
	ownAt time.Time

	digestMu   sync.Mutex
	digestMiss map[peer.ID]int         // digests in a row that differed, by hub
	busySince  time.Time               // digests have been left uncounted since, the view changing
	hubDigests map[peer.ID]heardDigest // the last digest of each hub

	claimMu      sync.Mutex
	grantedAt    time.Time   // when this hub last let a starting peer be a hub (claim.go)
	grantedTo    peer.ID     // that peer, until it joins
	knowsNetwork atomic.Bool // it started the network, or loaded its view

	warnMu      sync.Mutex
	warned      map[string]bool // peers already said to refuse our credentials, or to claim another's ID
	badMemberAt time.Time

	limited *ratelog.Logger // for what answers on the scanned ports make us say
}

// New returns a Discoverer for p.
func New(p *peer.Peer) *Discoverer {
	v := newView(p.ID())
	v.selfStarted = p.Started()
	return &Discoverer{
		p:          p,
		view:       v,
		warned:     map[string]bool{},
		digestMiss: map[peer.ID]int{},
		hubDigests: map[peer.ID]heardDigest{},
		limited:    ratelog.New(p.Logger(), 0),
		scanning:   make(chan struct{}, 1),
	}
}

// Peers returns the peers other than p that match opts, from p's view of
// the network, at once. With [Refresh] it first asks every peer of the
// view for its info (one request, one answer each) and probes the scope
// for peers outside the network: p's host with [OnHost], else the hosts
// of NET_SCAN (Config.Scan), else the kernel's neighbour table and p's
// host; what it finds is in the answer, and a hub routes to the network
// of a peer found outside. A client of a NATS deployment (Config.NATSURL)
// asks the deployment instead.
func (d *Discoverer) Peers(ctx context.Context, opts ...Option) (Peers, error) {
	q := d.query(opts)
	if !q.refresh {
		return d.filter(d.view.snapshot(), q), nil
	}
	select {
	case d.scanning <- struct{}{}:
		defer func() { <-d.scanning }()
	case <-ctx.Done():
		return Peers{}, fmt.Errorf("waiting for another refresh to end: %w", ctx.Err())
	}
	if d.p.Config().External() {
		asked := time.Now()
		found := d.ask(ctx, false)
		if err := ctx.Err(); err != nil {
			return Peers{}, err
		}
		d.view.replace(found, asked)
		return d.filter(found, q), nil
	}
	// The probes of the ports outside the view run while the view
	// answers: neither waits for the other. The probes skip the view as
	// it was before the answers, so a peer that only the answers add may
	// be asked as well; what it says of itself then is the fresher.
	var outside map[peer.ID]peer.Info
	var err error
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		outside, err = d.scanUnknown(ctx, q.onHost, nil)
	}()
	for _, info := range d.gatherView(ctx) {
		d.view.join(info)
	}
	<-scanned
	if err != nil {
		return Peers{}, err
	}
	found := d.view.snapshot()
	for id, info := range outside {
		found[id] = info
		if d.sameNetwork(info) {
			d.view.join(info) // its join is on its way
		}
	}
	if len(outside) > 0 {
		select {
		case d.net.outside <- outside: // the loop merges with their networks
		default:
		}
	}
	return d.filter(found, q), nil
}

// gatherView asks every peer of the network for its info with one request
// on net.discover, and returns the answers that came before every peer of
// the view answered, or 4 × ScanTimeout passed.
func (d *Discoverer) gatherView(ctx context.Context) map[peer.ID]peer.Info {
	expect := d.view.snapshot()
	ctx, cancel := context.WithTimeout(ctx, 4*d.p.Config().ScanTimeout)
	defer cancel()
	out := map[peer.ID]peer.Info{}
	if len(expect) == 0 {
		return out
	}
	answered := 0
	defer d.refreshed.done()
	_ = d.p.Gather(ctx, &nats.Msg{Subject: peer.DiscoverSubject}, func(m *nats.Msg) bool {
		info, ok := d.refreshed.decode(m.Data)
		if !ok || info.ID == d.p.ID() {
			return true
		}
		if _, ok := out[info.ID]; !ok {
			out[info.ID] = info
			if _, ok := expect[info.ID]; ok {
				answered++
			}
		}
		return answered < len(expect)
	})
	return out
}

// filter applies a query's filters to what was found.
func (d *Discoverer) filter(found map[peer.ID]peer.Info, q query) Peers {
	out := Peers{Peers: map[peer.ID]peer.Info{}, Groups: map[string][]peer.ID{}}
	for id, info := range found {
		if q.match(info) {
			out.Peers[id] = info
		}
	}
	for _, id := range out.IDs() {
		g := out.Peers[id].Group
		out.Groups[g] = append(out.Groups[g], id)
	}
	return out
}

// older reports whether a started before b (ties broken by ID).
func older(a, b peer.Info) bool {
	if !a.Started.Equal(b.Started) {
		return a.Started.Before(b.Started)
	}
	return a.ID < b.ID
}

// sameNetwork reports whether the peer of info is attached to a hub of
// this peer's network.
func (d *Discoverer) sameNetwork(info peer.Info) bool {
	hubs := map[peer.ID]bool{}
	for _, h := range d.hubs() {
		hubs[h.ID] = true
	}
	return slices.ContainsFunc(info.Hubs, func(h peer.HubAddr) bool { return hubs[h.ID] })
}

// IDs returns the IDs of the peers of the view that match opts, in no
// order, without the cost of Peers: for a choice on a hot path (a group
// call picking its member). Refresh is ignored.
func (d *Discoverer) IDs(opts ...Option) []peer.ID { return d.view.ids(d.query(opts)) }

// Known returns how many peers of group the view holds.
func (d *Discoverer) Known(group string) int { return len(d.view.ids(query{groups: []string{group}})) }

// dialable reports whether a server URL that another peer told this one
// (a hub's route or leaf node URL) is one this peer's server may dial:
// nats://<IP address>:<port>, without credentials, and inside
// NET_SCAN_ALLOW when it is set. A peer's info must not make a hub dial
// anywhere it is told.
func dialable(cfg peer.Config, raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "nats" || u.User != nil || u.Port() == "" {
		return false
	}
	ip, err := netip.ParseAddr(u.Hostname())
	if err != nil {
		return false
	}
	allow, err := cfg.ScanAllowed()
	return err == nil && (len(allow) == 0 || slices.ContainsFunc(allow, func(p netip.Prefix) bool { return p.Contains(ip.Unmap()) }))
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

// dialOwn connects to the server at host:port for a question its own peer
// answers: no reconnection, and replies under _LOCAL., which need no
// interest anywhere else in the network. opts are the client's
// credentials ([peer.Peer.ClientOptions]).
func dialOwn(host string, port int, timeout time.Duration, opts []nats.Option) (*nats.Conn, error) {
	return nats.Connect("nats://"+net.JoinHostPort(host, strconv.Itoa(port)), append(slices.Clone(opts),
		nats.Name("appnet discovery"), nats.Timeout(timeout), nats.NoReconnect(),
		nats.CustomInboxPrefix(embedded.LocalInbox))...)
}

// FetchInfo asks the peer of a hit for its info over a short-lived
// connection to the peer's own server, without joining its cluster. opts
// are the client's credentials ([peer.Peer.ClientOptions]).
func FetchInfo(ctx context.Context, h Hit, timeout time.Duration, opts ...nats.Option) (peer.Info, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	nc, err := dialOwn(h.Host, h.Port, timeout, opts)
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
