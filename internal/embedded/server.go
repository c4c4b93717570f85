package embedded

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/appnet-go/appnet/internal/ratelog"
	"github.com/nats-io/nats-server/v2/server"
)

// DefaultClusterName is the NATS cluster name that every appnet peer joins.
// Discovery recognises a peer by it.
const DefaultClusterName = "appnet"

// ErrRangeFull is returned by [Start] when no port of the range could be
// bound.
var ErrRangeFull = errors.New("no free port in range")

// ErrHostNotLocal is returned by [Start] when the host is not an address
// of this machine, so no port of any range can be bound on it.
var ErrHostNotLocal = errors.New("not an address of this machine")

// Config says where and how to start the server.
type Config struct {
	// Host is the address to bind and advertise, for clients and routes.
	Host string
	// PortStart is the first port tried for the client listener.
	PortStart int
	// PortRange is how many ports after PortStart are tried too: the server
	// binds the first free port of PortStart..PortStart+PortRange.
	PortRange int
	// Name returns the server name to use when the server binds port. Empty
	// names are left to NATS.
	Name func(port int) string
	// Secret, if set, is required of every client (as its token) and of
	// every route (as its password); the system account's password is
	// derived from it ([SystemPassword]).
	Secret string
	// TLS, if set, is required on the client and cluster ports (it must
	// carry a certificate, ClientCAs and RootCAs). Routes are verified both
	// ways; clients present a certificate only with VerifyClients, and
	// otherwise authenticate with the secret, inside TLS. In-process
	// clients skip the handshake.
	TLS *tls.Config
	// VerifyClients requires every client to present a certificate that
	// TLS.ClientCAs signed.
	VerifyClients bool
	// MaxPayload is the largest message the server accepts, in bytes; a
	// client that sends a larger one gets an error and is disconnected.
	// 0 means the NATS default, 1 MiB.
	MaxPayload int
	// MaxPending bounds, in bytes, what the server holds for one client
	// that reads slower than others write to it. Past three quarters of
	// it, further messages for that client are dropped at once (not
	// queued, and the writers not slowed down), so a flood cannot grow the
	// backlog to the point where NATS closes the client as a slow
	// consumer. 0 means the NATS default, 64 MiB.
	MaxPending int
	// Logger receives the server's warnings and errors (and its notices
	// and debug lines at LevelServer); nil discards them. Lines caused by one client or
	// route are written at most once per kind every ten seconds, with a
	// count of the rest.
	Logger *slog.Logger
	// Hub starts the server as a hub: it routes to the other hubs and
	// accepts the other servers as leaf nodes. Otherwise it is a leaf: no
	// cluster listener, and one leaf node connection to the hubs that
	// [Server.SetHubs] names (and a second one, for the system account,
	// with SystemLeaf).
	Hub bool
	// SystemLeaf makes a leaf join its hubs' system account too, through
	// a second leaf node connection, so that a monitor on any server sees
	// every server of the network (nats server list); without it, it sees
	// the hubs and the server it asks.
	SystemLeaf bool
}

// routeUser is the user name routes authenticate as; the secret is the
// password.
const routeUser = "appnet"

// tlsTimeout bounds a TLS handshake, in seconds.
const tlsTimeout = 2

// secure applies every authentication and TLS setting of cfg to opts, so
// that one place says who may connect: the client port (the secret as
// token, or the system user; TLS, client certificates when
// VerifyClients), the cluster port (the secret as password, TLS verified
// both ways), and, when opts has them, the leaf node listener and remotes,
// as routes are (the secret as the user appnet's password, or the system
// user for the system account's remote; TLS verified both ways). See
// [Config.accounts] for who gets which account. Call it after adding a
// listener or remote; the URLs of remotes get the credentials.
func (cfg Config) secure(opts *server.Options) {
	sysPass := cfg.accounts(opts)
	for _, r := range opts.LeafNode.Remotes {
		for _, u := range r.URLs {
			switch {
			case r.LocalAccount == SystemAccount:
				u.User = url.UserPassword(leafSystemUser, sysPass)
			case cfg.Secret != "":
				u.User = url.UserPassword(routeUser, cfg.Secret)
			default:
				u.User = nil
			}
		}
	}
	if cfg.Secret != "" {
		opts.Cluster.Username, opts.Cluster.Password = routeUser, cfg.Secret
	}
	if cfg.TLS == nil {
		return
	}
	client := cfg.TLS.Clone()
	if !cfg.VerifyClients {
		client.ClientAuth = tls.NoClientCert
	}
	opts.TLS, opts.TLSVerify, opts.TLSConfig, opts.TLSTimeout = true, cfg.VerifyClients, client, tlsTimeout
	opts.Cluster.TLSConfig, opts.Cluster.TLSTimeout = cfg.serverToServer(), tlsTimeout
	if opts.LeafNode.Port != 0 {
		opts.LeafNode.TLSConfig, opts.LeafNode.TLSTimeout = cfg.serverToServer(), tlsTimeout
	}
	for _, r := range opts.LeafNode.Remotes {
		r.TLS, r.TLSConfig, r.TLSTimeout = true, cfg.serverToServer(), tlsTimeout
	}
}

// serverToServer is the TLS of a connection between two servers (a route,
// a leaf node connection): each presents its certificate and verifies the
// other's, whichever dialled.
func (cfg Config) serverToServer() *tls.Config {
	t := cfg.TLS.Clone()
	t.ClientAuth = tls.RequireAndVerifyClientCert
	return t
}

// Server is a running embedded nats-server. Its role (hub or leaf) can
// change at run time ([Server.SetHub]): the server then restarts on the
// same port, and in-process clients connected through [Server.InProcessConn]
// reconnect to the new one.
type Server struct {
	cfg     Config
	port    int
	log     *slog.Logger
	limited *ratelog.Logger // the lines of the server about one connection
	news    leafNews        // told of the server's leaf node connections, by its notices

	mu   sync.Mutex // guards ns, opts, leafURL and the reloads that change opts
	ns   *server.Server
	opts *server.Options
	// leafURL is where a hub accepts leaf nodes; "" for a leaf.
	leafURL string
	closed  bool
	// While a leaf pauses between two attachments (Reattach), the hubs
	// SetHubs is given wait in wantHubs until pausedUntil.
	pausedUntil time.Time
	wantHubs    []string
}

// Start binds the first free port of cfg's range on cfg.Host and returns
// once the client and cluster listeners accept connections. A port that any
// program holds is skipped; when every port is taken the error wraps
// [ErrRangeFull] and names the range and why each port was refused.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	var s *Server
	err := firstFree(ctx, cfg.Host, cfg.PortStart, cfg.PortRange, func(port int) (err error) {
		s, err = startOn(ctx, cfg, port)
		return err
	})
	return s, err
}

// firstFree calls try with each port of host's range start..start+extra
// until it succeeds. It stops early on a context error, and when host is
// not an address of this machine ([ErrHostNotLocal]); when every port is
// refused the error wraps [ErrRangeFull] and says why each was.
func firstFree(ctx context.Context, host string, start, extra int, try func(port int) error) error {
	if host == "" {
		return errors.New("embedded: empty host")
	}
	last := start + extra
	if start < 1 || extra < 0 || last > 65535 {
		return fmt.Errorf("embedded: port range %d..%d is outside 1..65535", start, last)
	}
	var refused []string
	for port := start; port <= last; port++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := try(port)
		if err == nil {
			return nil
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		if errors.Is(err, syscall.EADDRNOTAVAIL) {
			return fmt.Errorf("embedded: host %s: %w", host, ErrHostNotLocal)
		}
		refused = append(refused, fmt.Sprintf("%d: %v", port, err))
	}
	return fmt.Errorf("%w %s:%d..%d (%v)", ErrRangeFull, host, start, last, refused)
}

// A Hold keeps one port of a range for a peer that runs no server of its
// own (it is a client of a NATS deployment): the port makes the peer's ID
// unique on its host, as a server's port does. It closes every connection
// it accepts at once, so that a scan learns at once that no server is
// there.
type Hold struct {
	l    net.Listener
	done chan struct{}
}

// HoldPort holds the first free port of host's range start..start+extra,
// with the errors of [Start].
func HoldPort(ctx context.Context, host string, start, extra int) (*Hold, error) {
	var l net.Listener
	err := firstFree(ctx, host, start, extra, func(port int) (err error) {
		l, err = net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		return err
	})
	if err != nil {
		return nil, err
	}
	h := &Hold{l: l, done: make(chan struct{})}
	go h.refuse()
	return h, nil
}

func (h *Hold) refuse() {
	defer close(h.done)
	for {
		c, err := h.l.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			time.Sleep(10 * time.Millisecond) // out of file descriptors, say: try again
			continue
		}
		c.Close()
	}
}

// Port returns the port held.
func (h *Hold) Port() int { return h.l.Addr().(*net.TCPAddr).Port }

// Close releases the port.
func (h *Hold) Close() {
	h.l.Close()
	<-h.done
}

// startOn starts a server whose client listener is host:port, or says why
// it could not.
func startOn(ctx context.Context, cfg Config, port int) (*Server, error) {
	// A cheap probe first: most refusals end here without building a server.
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(port))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	l.Close()
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "nats-server")
	s := &Server{cfg: cfg, port: port, log: log, limited: ratelog.New(log, 0)}
	if err := s.launch(ctx, nil); err != nil {
		return nil, err
	}
	return s, nil
}

// noCompression turns off the s2 compression NATS negotiates on routes
// and leaf node connections by default: on a LAN it buys nothing, and
// NATS's automatic mode picks its slowest level when a busy machine
// makes the first round trip slow (a mass start of 100 peers on 2 cores
// spent an eighth of its CPU compressing).
var noCompression = server.CompressionOpts{Mode: server.CompressionOff}

// launch starts the NATS server of s's role on s's port, with the leaf
// node remotes given (a leaf's hubs), and makes it the current one. s.mu
// is held, or s is not shared yet.
func (s *Server) launch(ctx context.Context, remotes []*server.RemoteLeafOpts) error {
	opts := s.options()
	opts.LeafNode.Remotes = remotes
	ns, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("embedded: configuring nats-server: %w", err)
	}
	bind(opts, ns)
	ns.Start() // binds the client listener before it returns
	if ns.Addr() == nil {
		ns.Shutdown()
		ns.WaitForShutdown()
		return errors.New("taken while starting")
	}
	// Logging starts once the port is ours: a port another peer took
	// between the probe and the bind is not worth an error line.
	// Debug lines cost a format each: only for a logger that keeps them.
	ns.SetLoggerV2(logAdapter{s.log, s.limited, &s.news}, s.log.Enabled(context.Background(), LevelServer), false, false)
	leafURL := ""
	if s.cfg.Hub {
		if leafURL, err = awaitListeners(ctx, ns, s.cfg.Host); err != nil {
			ns.Shutdown()
			ns.WaitForShutdown()
			return err
		}
	}
	s.ns, s.opts, s.leafURL = ns, opts, leafURL
	return nil
}

// options builds the server options of s's role.
func (s *Server) options() *server.Options {
	cfg := s.cfg
	name := ""
	if cfg.Name != nil {
		name = cfg.Name(s.port)
	}
	opts := &server.Options{
		ServerName: name,
		Host:       cfg.Host,
		Port:       s.port,
		NoLog:      true,
		NoSigs:     true,
		// A leaf node or client connection that vanishes without
		// closing (a cut cable, a frozen host) is dropped after about
		// 3 × 2s, not the NATS default of 4 minutes, so its subjects lose
		// their interest and calls to it fail fast again. Routes have a
		// pace of their own (routePing).
		PingInterval: 2 * time.Second,
		MaxPingsOut:  3,
		MaxPayload:   int32(cfg.MaxPayload),
		MaxPending:   int64(cfg.MaxPending),
		// Shed a flood for a slow reader (the peer's own connection
		// above all) instead of stalling the writers until NATS closes
		// the reader as a slow consumer: a reader that is closed loses
		// everything in flight and, until it reconnects, its
		// subscriptions.
		NoFastProducerStall: true,
		LeafNode: server.LeafNodeOpts{
			// A leaf whose hub went away tries the next one soon: the
			// network is whole again within a second or so.
			ReconnectInterval: leafReconnect,
			Compression:       noCompression,
		},
	}
	if cfg.Hub {
		opts.Cluster = server.ClusterOpts{
			Name: DefaultClusterName,
			Host: cfg.Host,
			Port: server.RANDOM_PORT,
			// Gossip must tell other servers the address we listen on, not
			// the source address of our outgoing routes (on loopback, a
			// route from 127.0.0.2 leaves from 127.0.0.1). Port 0 stands
			// for the port the listener gets.
			Advertise: net.JoinHostPort(cfg.Host, "0"),
			// appnet uses one account, and NATS pins an account's traffic
			// to one connection of a route pool: the default pool of 3
			// would hold two idle connections (and ~220 KB) per pair.
			PoolSize:    1,
			Compression: noCompression,
			// A route carries the whole network's interest, and opening
			// it again sends all of it again: it is not dropped for a few
			// seconds of silence from a hub busy with a mass start. At 2s
			// (the other connections' pace, below), the route between two
			// hubs of a 200-peer start on two cores was reopened 180-244
			// times in 4 minutes (a stale route, then both hubs dialling
			// at once, duplicates closed again and again), each hub's
			// server without the other's interest all along. A hub that
			// freezes loses its leaves within about 6s (their own pings);
			// the other hubs drop its route within about 30s.
			PingInterval: routePing,
			MaxPingsOut:  3,
			// Routes carry neither the interest nor the messages of
			// subjects local to one server.
			Permissions: &server.RoutePermissions{
				Import: &server.SubjectPermission{Deny: slices.Clone(localSubjects)},
				Export: &server.SubjectPermission{Deny: slices.Clone(localSubjects)},
			},
			// The greeting lists the cluster's other client URLs
			// (connect_urls), so that a client given one URL fails over
			// to another server when this one stops: only on an open
			// network (see below).
		}
		opts.LeafNode.Host, opts.LeafNode.Port = cfg.Host, server.RANDOM_PORT
		opts.LeafNode.Advertise = net.JoinHostPort(cfg.Host, "0")
		opts.LeafNode.NoAdvertise = true
	} else {
		// A leaf's cluster name must differ from its hubs' (NATS refuses
		// a leaf node of the hub's own cluster) and from every other
		// leaf's (a hub does not pass a message between two leaf nodes of
		// one cluster): its own server name is both.
		opts.Cluster.Name = leafClusterName(name, s.port)
	}
	// nats-server sends connect_urls in its greeting, before the client
	// has authenticated (and, with TLS, before the handshake), and has no
	// setting to send them only after. A peer that checks who connects
	// must not hand its members' addresses to whoever does, so it lists
	// none; its clients fail over when given several URLs, or the
	// addresses net.discover answers once they are in.
	opts.Cluster.NoAdvertise = cfg.Secret != "" || cfg.TLS != nil
	cfg.secure(opts)
	return opts
}

// leafClusterName is a leaf's cluster name: its server name, without the
// characters NATS refuses there.
func leafClusterName(name string, port int) string {
	if name == "" {
		return "appnet-leaf-" + strconv.Itoa(port)
	}
	return strings.ReplaceAll(name, " ", "_")
}

// routePing is how often a hub pings the hubs it has a route to.
const routePing = 10 * time.Second

// leafReconnect is how long a leaf waits before it dials its hubs again.
const leafReconnect = 250 * time.Millisecond

// awaitListeners waits until a hub's cluster and leaf node listeners
// accept connections (they open in goroutines of their own, within
// microseconds: no 25 ms polling of ReadyForConnections) and returns the
// leaf node URL.
func awaitListeners(ctx context.Context, ns *server.Server, host string) (string, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		if ns.ClusterAddr() != nil {
			if v, err := ns.Varz(nil); err == nil && v.LeafNode.Port != 0 {
				return "nats://" + net.JoinHostPort(host, strconv.Itoa(v.LeafNode.Port)), nil
			}
		}
		if err := ctx.Err(); err != nil {
			return "", err
		}
		if time.Now().After(deadline) {
			return "", errors.New("embedded: cluster and leaf node listeners did not open within 5s")
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// NATS returns the current underlying server, for monitoring. It changes
// when the role does ([Server.SetHub]).
func (s *Server) NATS() *server.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ns
}

// InProcessConn connects in-process to the current server; as a
// [nats.InProcessConnProvider] it lets a client reconnect across a role
// change.
func (s *Server) InProcessConn() (net.Conn, error) { return s.NATS().InProcessConn() }

// Port returns the client port the server bound.
func (s *Server) Port() int { return s.port }

// Hub reports whether the server is a hub.
func (s *Server) Hub() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg.Hub
}

// ClientURL returns the URL clients connect to.
func (s *Server) ClientURL() string {
	return "nats://" + net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.port))
}

// ClusterURL returns the URL other hubs route to; "" for a leaf.
func (s *Server) ClusterURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clusterURL()
}

func (s *Server) clusterURL() string {
	if !s.cfg.Hub {
		return ""
	}
	return "nats://" + s.ns.ClusterAddr().String()
}

// LeafURL returns the URL where a hub accepts leaf nodes; "" for a leaf.
func (s *Server) LeafURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leafURL
}

// AddRoutes adds explicit routes to the given cluster URLs, skipping ones
// already configured and this server's own. NATS gossip then connects this
// server to every server those know. A leaf has no routes: it refuses.
func (s *Server) AddRoutes(urls ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.cfg.Hub {
		return errors.New("embedded: a leaf has no routes; make it a hub first")
	}
	self := s.clusterURL()
	routes := slices.Clone(s.opts.Routes)
	for _, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return fmt.Errorf("embedded: route URL %q: want nats://host:port", raw)
		}
		u.User = nil
		if u.String() == self || slices.ContainsFunc(routes, func(r *url.URL) bool { return r.Host == u.Host }) {
			continue
		}
		if s.cfg.Secret != "" {
			u.User = url.UserPassword(routeUser, s.cfg.Secret)
		}
		routes = append(routes, u)
	}
	return s.setRoutes(routes)
}

// RemoveRoutes drops explicit routes to the given cluster URLs, which
// closes those routes.
func (s *Server) RemoveRoutes(urls ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	routes := slices.DeleteFunc(slices.Clone(s.opts.Routes), func(r *url.URL) bool {
		return slices.Contains(urls, withoutUser(r))
	})
	return s.setRoutes(routes)
}

// setRoutes applies routes through a configuration reload. s.mu is held.
func (s *Server) setRoutes(routes []*url.URL) error {
	if len(routes) == len(s.opts.Routes) {
		return nil // nothing added or removed
	}
	next := s.opts.Clone()
	next.Routes = routes
	if err := s.ns.ReloadOptions(next); err != nil {
		return fmt.Errorf("embedded: applying routes: %w", err)
	}
	s.opts = next
	return nil
}

// Routes returns the cluster URLs of the explicit routes, without
// credentials.
func (s *Server) Routes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.opts.Routes))
	for i, r := range s.opts.Routes {
		out[i] = withoutUser(r)
	}
	return out
}

// withoutUser returns the URL without its credentials.
func withoutUser(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}

// RemoteNames returns the names of the servers this one has a route to,
// explicit or gossiped, sorted and without duplicates.
func (s *Server) RemoteNames() []string {
	rz, err := s.NATS().Routez(nil)
	if err != nil {
		return nil
	}
	var names []string
	for _, r := range rz.Routes {
		if !slices.Contains(names, r.RemoteName) {
			names = append(names, r.RemoteName)
		}
	}
	slices.Sort(names)
	return names
}

// ClosedReason says why the server closed the client connection cid
// ("Slow Consumer (Pending Bytes)", say), or "unknown".
func (s *Server) ClosedReason(cid uint64) string {
	cz, err := s.ns.Connz(&server.ConnzOptions{CID: cid, State: server.ConnClosed})
	if err != nil || len(cz.Conns) == 0 || cz.Conns[0].Reason == "" {
		return "unknown"
	}
	return cz.Conns[0].Reason
}

// Close shuts the server down and waits until its listeners and goroutines
// are gone.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
	s.limited.Stop()
}

// credentials matches the user:password@ of a URL.
var credentials = regexp.MustCompile(`([a-z][a-z0-9+.-]*://)[^/@\s]+@`)

// redact removes credentials from URLs in a server log line: the server
// logs route URLs, and a route's password is the shared secret.
func redact(msg string) string {
	if !strings.Contains(msg, "@") {
		return msg
	}
	return credentials.ReplaceAllString(msg, "${1}[redacted]@")
}

// connPrefix matches what nats-server puts before a line about one client
// or route connection: "<addr> - cid:7 - " and the client's quoted name.
var connPrefix = regexp.MustCompile(`^.* - [a-z]+id:\d+ - ("[^"]*" - )?`)

// digits matches the numbers that vary between lines of one kind.
var digits = regexp.MustCompile(`\d+`)

// perConnection reports whether a server log line is about one client or
// route connection ("<addr> - cid:7 - ..."), and if so its kind: the line
// without the connection and its numbers.
func perConnection(msg string) (kind string, ok bool) {
	if !strings.Contains(msg, " - cid:") && !strings.Contains(msg, " - rid:") {
		return "", false
	}
	return digits.ReplaceAllString(connPrefix.ReplaceAllString(msg, ""), "#"), true
}

// LevelServer is the level of nats-server's own notices and debug lines
// (client connections, route pings, its start and stop): below
// slog.LevelDebug, so that a peer's debug log (NET_DEV) shows the peer's
// calls rather than the server's internals. A logger at this level or
// lower gets them too.
const LevelServer = slog.LevelDebug - 4

// logAdapter sends nats-server's log lines to slog: warnings and errors
// that matter at their level, the rest at LevelServer. Lines about one
// connection come from what a client or a route did, so they go through
// a rate limit; a slow consumer, whose messages NATS drops or whom it
// disconnects, is a warning.
type logAdapter struct {
	l       *slog.Logger
	limited *ratelog.Logger
	news    *leafNews
}

func (a logAdapter) server(msg string) { a.l.Log(context.Background(), LevelServer, msg) }

func (a logAdapter) Noticef(f string, v ...any) {
	msg := redact(fmt.Sprintf(f, v...))
	a.news.tell(msg)
	if strings.Contains(msg, "Slow Consumer") {
		a.warn(msg)
		return
	}
	a.server(msg)
}

func (a logAdapter) Warnf(f string, v ...any)  { a.warn(redact(fmt.Sprintf(f, v...))) }
func (a logAdapter) Fatalf(f string, v ...any) { a.l.Error(redact(fmt.Sprintf(f, v...))) }

func (a logAdapter) Errorf(f string, v ...any) {
	msg := redact(fmt.Sprintf(f, v...))
	if strings.Contains(msg, "duplicate name") {
		// A second server with this one's name (a peer's ID) tried to
		// join: refused, and worth saying loudly.
		a.l.Error(msg)
		return
	}
	if _, ok := perConnection(msg); ok || strings.HasPrefix(msg, "Error trying to connect to route") {
		// A peer that has gone (discovery drops its route; until then the
		// server retries every second) or one connection's end (a scan
		// probe hangs up after the greeting): not worth a warning each.
		a.server(msg)
		return
	}
	a.l.Warn(msg)
}

// warn writes a warning, rate-limited when it is about one connection.
func (a logAdapter) warn(msg string) {
	if kind, ok := perConnection(msg); ok {
		a.limited.LogKind(slog.LevelWarn, kind, msg)
		return
	}
	a.l.Warn(msg)
}

func (a logAdapter) Debugf(f string, v ...any) { a.server(redact(fmt.Sprintf(f, v...))) }
func (a logAdapter) Tracef(string, ...any)     {}
