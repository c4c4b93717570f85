package peer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/user"
	"sync"
	"sync/atomic"
	"time"

	"github.com/appnet-go/appnet/internal/embedded"
	"github.com/appnet-go/appnet/internal/ratelog"
	"github.com/nats-io/nats.go"
)

// Version is the appnet version peers report in info and to the micro
// protocol.
const Version = "0.1.0"

// ProtocolVersion is the version of the wire contract (docs/PROTOCOL.md)
// this peer speaks, in info and in its micro metadata, so that a program
// in another language can tell what to expect. Version 2: URL-safe IDs,
// events without headers, group calls per connection, fail-over URLs.
// Version 3: the hubs' sync requests under net.hub., so that one
// subscription (net.member.*) takes every membership change; a Go peer's
// replies under its own subject (OwnPrefix), with its calls.
const ProtocolVersion = 3

// Peer is one running appnet peer: an embedded NATS server bound to the
// first free port of its range, an in-process connection to it, and the
// subscriptions that serve its registry's connections and the micro
// protocol. With [Config.NATSURL] it runs no server: it holds the port
// and is a client of that NATS deployment. It is safe for concurrent use.
type Peer struct {
	*Caller

	cfg     Config
	id      ID
	srv     *embedded.Server // nil for a client of a deployment
	hold    *embedded.Hold   // the port of a client of a deployment
	via     ID               // the peer whose server an attached peer is a client of
	nc      *nats.Conn
	inbox   string // the prefix of nc's replies (Info.Inbox), set once by serve
	reg     *Registry
	log     *slog.Logger
	limited *ratelog.Logger // for what remote input causes: at most a line per kind and interval
	started time.Time
	self    FriendlyID

	base         context.Context // ends when the peer closes; parent of handler contexts
	handlerCtx   context.Context // base carrying the peer, for FromContext
	stop         context.CancelCauseFunc
	slots        chan struct{} // one token per call being served
	builtinSlots chan struct{} // the same, for the default connections
	handlers     sync.WaitGroup
	subs         []*nats.Subscription
	groupMu      sync.Mutex
	groupSubs    map[string]*nats.Subscription // connection -> its group-call queue subscription; nil once closed
	unwatch      func()                        // ends the registry watch that feeds groupSubs
	stats        statsTable
	watched      lossWatch     // the subscriptions whose lost messages are counted and reported
	clientOpts   []nats.Option // what this peer presents as a client of other peers

	topo topology
	// live is the configuration as Reconfigure changed it (nil: cfg);
	// cfg is what the peer started with, whose fixed fields it reads.
	live   atomic.Pointer[Config]
	liveMu sync.Mutex // serialises Reconfigure

	closeOnce sync.Once
	closeMu   sync.RWMutex // guards closing against handlers.Add in dispatch
	closing   bool

	owner atomic.Value // what wraps the peer (SetOwner)
}

// FriendlyID is the human side of an ID: where the peer runs and who runs
// it.
type FriendlyID struct {
	Host       string `json:"host"`
	Port       int    `json:"port"`
	Group      string `json:"group"`
	Hub        bool   `json:"hub"`
	User       string `json:"user"`
	Executable string `json:"executable"`
}

// Info is what the info connection answers: who a peer is and what it
// serves.
type Info struct {
	ID ID `json:"id"`
	FriendlyID
	// Cluster is the URL other peers route to.
	Cluster string `json:"cluster"`
	// Version is the appnet version of the peer.
	Version string `json:"version"`
	// Protocol is the version of the wire contract the peer speaks
	// ([ProtocolVersion]); absent (0) from peers before version 2.
	Protocol int `json:"protocol"`
	// Started is when the peer started; of two peers that find each
	// other at once, the younger routes to the older.
	Started       time.Time `json:"started"`
	Connections   []string  `json:"connections"`
	Subscriptions []string  `json:"subscriptions"`
	Flags         []string  `json:"flags"`
	// Routes lists the IDs of the peers this peer's server has a route to.
	Routes []string `json:"routes"`
	// EventsDropped counts the events this process's subscriptions lost
	// because their handlers fell behind.
	EventsDropped int64 `json:"events_dropped"`
	// Role is the part the peer's server plays in the network: "hub"
	// (routes to the other hubs, accepts leaf nodes) or "leaf" (one leaf
	// node connection to a hub). A peer with Hub set is always a hub;
	// without any, the network elects a few (see the discovery package).
	Role string `json:"role"`
	// Leaf is the URL where a hub accepts leaf nodes; "" for a leaf.
	Leaf string `json:"leaf,omitempty"`
	// Leaves lists the IDs of the peers whose servers are leaf nodes of
	// this hub's server; for a leaf, the hub it is attached to.
	Leaves []string `json:"leaves"`
	// Hubs are the hubs of the network as this peer knows them: where a
	// newcomer attaches.
	Hubs []HubAddr `json:"hubs"`
	// Values are the peer's own key/value pairs ([Peer.SetValue]).
	Values map[string]string `json:"values,omitempty"`
	// Inbox is the prefix of the subjects on which the peer's connection
	// takes the replies to its requests: a leaf checks that its server
	// passes them on. A Go peer's is under its own subject,
	// net.peer.<ID>.r.<nonce>., which its one subscription there takes
	// with its calls. Absent from peers before it was added.
	Inbox string `json:"inbox,omitempty"`
}

// HubAddr says where a hub is: its ID, the URL other hubs route to and the
// URL leaves attach to.
type HubAddr struct {
	ID      ID     `json:"id"`
	Cluster string `json:"cluster"`
	Leaf    string `json:"leaf"`
	// Fixed is true for a hub by configuration (NET_IS_HUB), false for
	// one the network elected.
	Fixed bool `json:"fixed,omitempty"`
}

// Start starts a peer from cfg with opts applied on top. It returns once the
// peer serves calls; ctx bounds the start only. The error wraps
// [ErrConfig] for a bad configuration (and, with it,
// [embedded.ErrHostNotLocal] when Host is not this machine's), and
// [embedded.ErrRangeFull] when no port of the range is free.
func Start(ctx context.Context, cfg Config, opts ...Option) (*Peer, error) {
	p, err := prepare(cfg, opts)
	if err != nil {
		return nil, err
	}
	cfg = p.cfg
	var mesh meshTLS
	if cfg.External() {
		mesh.client, err = cfg.TLSConfig()
	} else {
		mesh, err = cfg.meshTLS(cfg.Host)
	}
	if err != nil {
		return nil, err
	}
	var port int
	if cfg.External() {
		p.hold, err = embedded.HoldPort(ctx, cfg.Host, cfg.PortStart, cfg.PortRange)
		if err == nil {
			port = p.hold.Port()
		}
	} else {
		p.srv, err = embedded.Start(ctx, embedded.Config{
			Host:          cfg.Host,
			PortStart:     cfg.PortStart,
			PortRange:     cfg.PortRange,
			Name:          func(port int) string { return string(NewID(cfg.Host, port, cfg.Group)) },
			Secret:        cfg.Secret.reveal(),
			TLS:           mesh.server,
			VerifyClients: mesh.verifyClients,
			MaxPayload:    cfg.MaxPayload,
			MaxPending:    cfg.MaxPending,
			Logger:        p.log,
			Hub:           !cfg.leaf,
			SystemLeaf:    cfg.SystemAccount,
		})
		if err == nil {
			port = p.srv.Port()
		}
	}
	if errors.Is(err, embedded.ErrHostNotLocal) {
		return nil, fmt.Errorf("%w: NET_HOST=%q: %w; give one of this machine's addresses, or leave it unset", ErrConfig, cfg.Host, embedded.ErrHostNotLocal)
	}
	if errors.Is(err, embedded.ErrRangeFull) {
		return nil, fmt.Errorf("starting peer: %w; other programs hold every port of the range: stop one, or give a range of your own with NET_PORT_START and NET_PORT_RANGE", err)
	}
	if err != nil {
		return nil, fmt.Errorf("starting peer: %w", err)
	}
	p.clientOpts = clientOptions(cfg.Secret, mesh.client)
	p.identify(cfg.Host, port)
	p.warnExposed()
	if cfg.External() && cfg.Scan != "" {
		p.log.Warn("appnet: NET_SCAN is ignored: a client of a NATS deployment (NET_NATS_URL) does not scan; the deployment connects every peer")
	}
	if err := p.connect(); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// prepare checks cfg with opts applied and makes the peer that Start and
// Attach go on to bind and connect.
func prepare(cfg Config, opts []Option) (*Peer, error) {
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Registry == nil {
		cfg.Registry = NewRegistry()
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
		if cfg.Dev {
			log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
	}
	return &Peer{
		cfg:          cfg,
		reg:          cfg.Registry,
		log:          log,
		started:      time.Now().UTC().Round(0),
		slots:        make(chan struct{}, cfg.MaxInFlight),
		builtinSlots: make(chan struct{}, builtinSlots),
	}, nil
}

// identify gives the peer the ID of host:port and what goes with it.
func (p *Peer) identify(host string, port int) {
	p.id = NewID(host, port, p.cfg.Group)
	p.topo.values = maps.Clone(p.cfg.Values)
	p.self = FriendlyID{Host: host, Port: port, Group: p.cfg.Group, Hub: p.cfg.Hub, User: userName(), Executable: executable()}
	p.log = p.log.With("peer", p.id)
	p.limited = ratelog.New(p.log, 0)
	p.base, p.stop = context.WithCancelCause(context.Background())
	p.handlerCtx = NewContext(p.base, p)
}

// connect opens the peer's connection, in-process to its server or to the
// deployment of Config.NATSURL, and its subscriptions.
func (p *Peer) connect() error {
	dial := p.dialEmbedded
	if p.cfg.External() {
		dial = p.dialDeployment
	}
	nc, err := dial(p.natsOptions("appnet peer " + string(p.id)))
	if err != nil {
		return err
	}
	return p.serve(nc, true)
}

// natsOptions are the options of the peer's own connection.
func (p *Peer) natsOptions(name string) []nats.Option {
	return []nats.Option{
		nats.Name(name),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if sub != nil && errors.Is(err, nats.ErrSlowConsumer) {
				if p.watched.slowConsumer(sub, err) {
					return
				}
			}
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			// A malformed message from a remote client lands here too:
			// one line per message would let it flood the log.
			p.limited.Warn("appnet: NATS connection error", "subject", subject, "err", err)
		}),
	}
}

// serve makes the peer's caller over nc and subscribes to its subjects:
// its own calls and, when member is true, its group's calls, the micro
// protocol and discovery.
func (p *Peer) serve(nc *nats.Conn, member bool) error {
	p.nc = nc
	p.Caller = NewCaller(nc, p.reg, p.cfg.CallTimeout)
	p.Caller.own = newReplies(p.id)
	p.inbox = p.Caller.own.prefix
	if p.cfg.External() {
		if err := p.Caller.WatchGone(); err != nil {
			return fmt.Errorf("subscribing to membership: %w", err)
		}
	} else {
		p.Caller.TrackGone() // the peer's discovery follows membership, and tells it
	}
	if p.cfg.Dev {
		p.Caller.log = p.log
	}
	if !p.cfg.External() {
		p.Caller.direct = newDirect(p.clientOpts, p.log)
	}
	group := p.cfg.Group
	type subscription struct {
		subject, queue string
		handler        nats.MsgHandler
	}
	subs := []subscription{{OwnPrefix(p.id) + ">", "", p.serveOwn(p.dispatch(callPrefix(p.id), false))}}
	if member {
		subs = append(subs,
			subscription{groupAllPrefix(group) + ">", "", p.dispatch(groupAllPrefix(group), true)},
			subscription{serviceSubjects, "", p.serveService},
			subscription{DiscoverSubject, "", p.serveDiscover})
	}
	for _, s := range subs {
		sub, err := nc.QueueSubscribe(s.subject, s.queue, s.handler)
		if err != nil {
			return fmt.Errorf("subscribing to %s: %w", s.subject, err)
		}
		p.subs = append(p.subs, sub)
	}
	if member {
		if err := p.serveGroupCalls(); err != nil {
			return err
		}
	}
	return nc.Flush()
}

// serveGroupCalls subscribes, in the group's queue group, to the group-call
// subject of each connection the registry holds, now and as they are
// registered: one subscription per connection rather than one wildcard,
// so that NATS hands a group call only to members that serve the
// connection, and a group whose members run different versions of an
// application never answers "no such connection" while a member serves
// it. Scatter-gather (.all.) keeps its one wildcard: there every member
// answers, and a member without the connection says so.
func (p *Peer) serveGroupCalls() error {
	p.groupMu.Lock()
	p.groupSubs = map[string]*nats.Subscription{}
	p.groupMu.Unlock()
	queued := p.dispatch(groupCallPrefix(p.cfg.Group), true)
	every := p.dispatchAs(groupCallPrefix(p.cfg.Group), true, true)
	existing, stop := p.reg.watch(func(name string) {
		if err := p.serveGroupCall(name, queued, every); err != nil {
			p.log.Warn("appnet: cannot serve group calls to a new connection", "connection", name, "err", err)
		}
	})
	p.unwatch = stop
	for _, name := range existing {
		if err := p.serveGroupCall(name, queued, every); err != nil {
			return err
		}
	}
	return nil
}

// serveGroupCall subscribes to the group-call subject of one connection,
// once, or again when it changed between a default connection and the
// application's. A default connection, which every member serves, is
// subscribed without a queue group: every member answers (every, which
// stays silent when busy) and the caller takes the first answer. A queue
// group's weight changes with every member that joins, and NATS tells
// every server of the network of each change: four such messages per join
// to every peer, the largest share of a mass start's traffic. Any other
// connection is served in the group's queue group (queued).
func (p *Peer) serveGroupCall(name string, queued, every nats.MsgHandler) error {
	p.groupMu.Lock()
	defer p.groupMu.Unlock()
	if p.groupSubs == nil { // closed
		return nil
	}
	everyone := p.reg.builtinConnection(name)
	if sub := p.groupSubs[name]; sub != nil {
		if (sub.Queue == "") == everyone {
			return nil // served already, the same way
		}
		_ = sub.Unsubscribe()
		delete(p.groupSubs, name)
	}
	subject := GroupCallSubject(p.cfg.Group, name)
	queue, handler := QueueGroup, queued
	if everyone {
		queue, handler = "", every
	}
	sub, err := p.nc.QueueSubscribe(subject, queue, handler)
	if err != nil {
		return fmt.Errorf("subscribing to %s: %w", subject, err)
	}
	p.groupSubs[name] = sub
	return nil
}

// dialEmbedded connects in-process to the peer's own server: the secret is
// checked, TLS is not (there is no handshake). The server may close the
// connection (a slow consumer, above all: a flood it could not shed in
// time); nats.go then reconnects at once and subscribes again to
// everything the peer had (calls, micro, discovery, events), and the peer
// logs why at WARN. If it cannot reconnect within [reconnectFor], the peer
// stops, with the cause in [context.Cause] of [Peer.Context], rather than
// stay up and deaf.
func (p *Peer) dialEmbedded(opts []nats.Option) (*nats.Conn, error) {
	opts = append(opts, clientOptions(p.cfg.Secret, nil)...)
	var lost time.Time  // when the connection was lost; read by the handlers, which nats.go runs one at a time
	opts = append(opts, // The server restarts when the peer's role changes (SetRole):
		// the connection reconnects to the new one at once, and nats.go
		// subscribes everything again.
		nats.InProcessServer(p.srv),
		nats.MaxReconnects(int(reconnectFor/reconnectWait)), nats.ReconnectWait(reconnectWait), nats.ReconnectJitter(0, 0),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if p.base.Err() != nil {
				return // Close
			}
			lost = time.Now()
			if p.topo.restarting.Load() {
				return // a role change
			}
			cid, _ := nc.GetClientID()
			p.log.Warn("appnet: the embedded server closed this peer's own connection; reconnecting",
				"reason", p.srv.ClosedReason(cid), "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			gap := time.Since(lost)
			if p.topo.restarting.Load() {
				p.watched.reconnected(nc, gap)
				return
			}
			p.log.Warn("appnet: reconnected to the embedded server; messages sent to this peer meanwhile were lost", "after", gap)
			p.watched.reconnected(nc, gap)
		}),
		nats.ClosedHandler(func(*nats.Conn) {
			if p.base.Err() != nil {
				return // Close
			}
			err := fmt.Errorf("%w: the connection to its own embedded server is gone and did not come back within %s", ErrClosed, reconnectFor)
			p.log.Error("appnet: the peer stops", "err", err)
			go p.closeWith(err)
		}))
	nc, err := nats.Connect(p.srv.ClientURL(), opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to the embedded server: %w", err)
	}
	return nc, nil
}

// A peer whose own connection is lost retries every reconnectWait for
// reconnectFor before it stops.
const (
	reconnectWait = 10 * time.Millisecond
	reconnectFor  = 5 * time.Second
)

// dialDeployment connects to the NATS deployment of Config.NATSURL, for as
// long as the peer runs (its servers restart and fail over), and refuses
// an ID that a peer of the deployment already answers to.
func (p *Peer) dialDeployment(opts []nats.Option) (*nats.Conn, error) {
	opts = append(opts, p.clientOpts...)
	if p.cfg.NATSCreds != "" {
		opts = append(opts, nats.UserCredentials(p.cfg.NATSCreds))
	}
	opts = append(opts, nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil && p.base.Err() == nil { // not Close
				p.log.Warn("appnet: disconnected from the NATS deployment; reconnecting", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			p.log.Info("appnet: reconnected to the NATS deployment", "server", redactURLs(nc.ConnectedUrl()))
		}))
	nc, err := nats.Connect(p.cfg.NATSURL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to the NATS deployment at %s: %w", redactURLs(p.cfg.NATSURL), err)
	}
	if served(nc, p.id) {
		nc.Close()
		return nil, fmt.Errorf("%w: peer ID %s (%s) is already served on the NATS deployment: a peer elsewhere has the same NET_HOST and port; give each machine an address of its own in NET_HOST",
			ErrConfig, p.id, describe(p.id))
	}
	return nc, nil
}

// served reports whether a peer of the deployment already answers as id.
// The port a client of a deployment holds keeps its ID unique on its own
// host, but two machines can share an address (private networks,
// containers). Nobody serving the subject is answered at once (no
// responders); a peer that started in the last moments on another server
// of a cluster may not be seen yet.
func served(nc *nats.Conn, id ID) bool {
	_, err := nc.Request(CallSubject(id, ConnInfo), nil, time.Second)
	return err == nil // any answer; no responders, or silence, is free

}

// Context returns a context that ends when the peer closes: the parent of
// every handler's context. When the peer stopped by itself (its
// connection to its own server was lost for good), [context.Cause] says
// why.
func (p *Peer) Context() context.Context { return p.base }

// Sync returns once every server this peer's server has a route to has
// seen what the peer sent before the call (new subscriptions above all): a
// round trip through every route, as one scatter-gather. It gives up
// quietly when ctx ends; then some servers may not have caught up yet.
// An attached peer (see [Attach]) waits for the servers of the peers its
// server has routes to. A client of a deployment waits for the server it
// is connected to only; the deployment's other servers learn of it as
// fast as their routes carry it.
func (p *Peer) Sync(ctx context.Context) {
	if p.via != "" {
		p.syncVia(ctx)
		return
	}
	if p.srv == nil {
		ctx, cancel := context.WithTimeout(ctx, p.cfg.CallTimeout) // FlushWithContext wants a deadline
		defer cancel()
		_ = p.nc.FlushWithContext(ctx)
		return
	}
	if members := p.topo.members.Load(); members != nil {
		p.gatherInfo(ctx, (*members)())
		return
	}
	p.RoutedPeers(ctx)
}

// RoutedPeers asks, with one request on net.discover, every peer whose
// server this peer's server has a route to for its info, and returns the
// answers that came before all of them did or ctx ended. Each answer also
// proves that its server has seen what this peer sent before the call.
// A client of a deployment has no routes: it gets none.
func (p *Peer) RoutedPeers(ctx context.Context) map[ID]Info {
	return p.gatherInfo(ctx, p.remoteNames())
}

// gatherInfo asks the peers named (by ID) for their info, with one
// request on net.discover.
func (p *Peer) gatherInfo(ctx context.Context, names []string) map[ID]Info {
	expect := map[ID]bool{}
	for _, name := range names {
		if id, err := ParseID(name); err == nil {
			expect[id] = true
		}
	}
	out := map[ID]Info{}
	if len(expect) == 0 {
		return out
	}
	_ = p.Gather(ctx, &nats.Msg{Subject: DiscoverSubject}, func(m *nats.Msg) bool {
		if info, err := Decode[Info](m.Data); err == nil && expect[info.ID] {
			out[info.ID] = info // else: ourselves, or a stranger on the subject
		}
		return len(out) < len(expect)
	})
	return out
}

// ID returns the peer's ID.
func (p *Peer) ID() ID { return p.id }

// Config returns the configuration the peer runs with.
func (p *Peer) Config() Config {
	if live := p.live.Load(); live != nil {
		return *live
	}
	return p.cfg
}

// Registry returns the connections and flags the peer serves.
func (p *Peer) Registry() *Registry { return p.reg }

// Conn returns the peer's NATS connection: in-process to its server, or
// to the deployment of Config.NATSURL.
func (p *Peer) Conn() *nats.Conn { return p.nc }

// Server returns the peer's embedded NATS server, or nil for a client of a
// deployment (Config.NATSURL).
func (p *Peer) Server() *embedded.Server { return p.srv }

// Logger returns the peer's logger.
func (p *Peer) Logger() *slog.Logger { return p.log }

// Info returns what the info connection answers for this peer.
func (p *Peer) Info() Info {
	return Info{
		ID:            p.id,
		FriendlyID:    p.friendly(),
		Cluster:       p.clusterURL(),
		Version:       Version,
		Protocol:      ProtocolVersion,
		Started:       p.started,
		Connections:   p.reg.Connections(),
		Subscriptions: p.reg.Subscriptions(),
		Flags:         p.reg.Flags().Names(),
		EventsDropped: p.reg.EventsDropped(),
		Routes:        nonNil(p.remoteNames()),
		Role:          p.role(),
		Leaf:          p.leafURL(),
		Leaves:        nonNil(p.leaves()),
		Hubs:          p.knownHubs(),
		Values:        p.values(),
		Inbox:         p.inbox,
	}
}

// clusterURL is the embedded server's, or "" for a client of a deployment.
func (p *Peer) clusterURL() string {
	if p.srv == nil {
		return ""
	}
	return p.srv.ClusterURL()
}

// remoteNames are the names of the servers the embedded server has routes
// to; none for a client of a deployment.
func (p *Peer) remoteNames() []string {
	if p.srv == nil {
		return nil
	}
	return p.srv.RemoteNames()
}

// CallLocal runs connection on this peer without going through NATS, with
// the same result a remote call would get (see [Registry.Call]).
func (p *Peer) CallLocal(ctx context.Context, connection string, arg []byte) ([]byte, error) {
	start := time.Now()
	out, err := p.reg.Call(NewContext(ctx, p), connection, arg)
	if p.cfg.Dev {
		p.log.Debug("appnet: local call", "connection", connection, "arg_bytes", len(arg), "duration", time.Since(start), "err", err)
	}
	return out, err
}

// Close stops serving, waits (up to five seconds) for the calls being
// served to finish, and shuts the embedded server down (or disconnects
// from the deployment), releasing its ports. Handlers' contexts end when Close starts. Close is idempotent.
func (p *Peer) Close() error {
	p.closeWith(nil)
	return nil
}

// closeWith closes the peer; cause, when not nil, says why it stopped by
// itself.
func (p *Peer) closeWith(cause error) {
	p.closeOnce.Do(func() {
		p.closeMu.Lock()
		p.closing = true
		p.closeMu.Unlock()
		if p.unwatch != nil {
			p.unwatch()
		}
		p.groupMu.Lock()
		for _, s := range p.groupSubs {
			_ = s.Unsubscribe()
		}
		p.groupSubs = nil
		p.groupMu.Unlock()
		for _, s := range p.subs {
			_ = s.Unsubscribe()
		}
		p.stop(cause)
		done := make(chan struct{})
		go func() { p.handlers.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			p.log.Warn("appnet: closing with handlers still running after 5s")
		}
		if p.Caller != nil && p.Caller.direct != nil {
			p.Caller.direct.close()
		}
		if p.nc != nil {
			// Hand what this peer published (events, answers) to the
			// server before it shuts down.
			_ = p.nc.FlushTimeout(time.Second)
			p.nc.Close()
		}
		if p.srv != nil {
			p.srv.Close()
		}
		if p.hold != nil {
			p.hold.Close()
		}
		if p.limited != nil {
			p.limited.Stop()
		}
	})
}

// serveDiscover answers a cluster-wide discovery request with the info.
func (p *Peer) serveDiscover(m *nats.Msg) {
	if m.Reply == "" {
		return
	}
	data, err := encode(p.Info())
	if err == nil {
		err = m.Respond(data)
	}
	if err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		p.limited.Warn("appnet: answering discovery failed", "err", err)
	}
}

// infoHandler is the default info connection.
func infoHandler(ctx context.Context, _ []byte) ([]byte, error) {
	p, ok := FromContext(ctx)
	if !ok {
		return nil, errors.New("info: no peer runs in this process")
	}
	return encode(p.Info())
}

func userName() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "" // no user database entry (a container, say)
}

func executable() string {
	if exe, err := os.Executable(); err == nil {
		return exe
	}
	return os.Args[0]
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
