package bus

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/appnet-go/appnet/internal/discovery"
	"github.com/appnet-go/appnet/internal/lower"
	"github.com/appnet-go/appnet/internal/peer"
	"github.com/nats-io/nats.go"
)

// Peer is a running peer with discovery: it joined the network when it
// started (found the peers of its host, else of NET_SCAN, and attached to
// their hubs, or became the network's first hub), and keeps its view of
// the network current from the changes the network publishes. It is safe
// for concurrent use.
type Peer struct {
	p         *peer.Peer
	disc      *discovery.Discoverer
	attached  bool // a client of another peer's server (Attach)
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// New starts a peer configured from the NET_* environment with opts on
// top, serving the default registry unless [WithRegistry] says
// otherwise, and joins it to the network.
func New(ctx context.Context, opts ...Option) (*Peer, error) {
	cfg, err := peer.ConfigFromEnv()
	if err != nil {
		return nil, err
	}
	cfg.Registry = registry
	return Start(ctx, cfg, opts...)
}

// Start is [New] with an explicit configuration: it reads no environment.
// The peer serves the registry [WithRegistry] gives it (pass
// DefaultRegistry() for what [Connect] and [Flag] registered); without one,
// only the built-in connections.
func Start(ctx context.Context, cfg Config, opts ...Option) (*Peer, error) {
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// The server starts as an unattached leaf, so that peers starting at
	// the same moment see each other while they look for the network.
	var role []peer.Option
	if !cfg.Hub && !cfg.External() {
		role = append(role, peer.AsLeaf())
	}
	p, err := peer.Start(ctx, cfg, role...)
	if err != nil {
		return nil, err
	}
	hubs, hub, err := discovery.FindNetwork(ctx, p)
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("looking for the network: %w", err)
	}
	if hub && !p.Server().Hub() {
		// Nobody knows this peer yet: it starts again as a hub, on the
		// first free port (its own, unless another peer took it
		// meanwhile) rather than restart on the same port, which a peer
		// starting at this moment could take.
		p.Close()
		if p, err = peer.Start(ctx, cfg); err != nil {
			return nil, err
		}
	}
	bp := newPeer(p, false)
	if cfg.External() {
		go bp.ask(p.Config().ScanInterval)
		return bp, nil
	}
	close(bp.done)
	if err := bp.disc.Join(ctx, hubs); err != nil {
		p.Close()
		return nil, fmt.Errorf("joining the network: %w", err)
	}
	return bp, nil
}

// Attach is [Start] for a peer that is a client of the running peer whose
// server is at addr (host:port) instead of running a server or holding a
// port: a short-lived program's way onto the network. It follows the
// network's view through that server; it is not a member of it, and
// takes no calls made to a group. It serves the default registry unless
// [WithRegistry] says otherwise.
func Attach(ctx context.Context, cfg Config, addr string, opts ...Option) (*Peer, error) {
	if cfg.Registry == nil {
		cfg.Registry = registry
	}
	p, err := peer.Attach(ctx, cfg, addr, opts...)
	if err != nil {
		return nil, err
	}
	bp := newPeer(p, true)
	close(bp.done)
	if err := bp.disc.Follow(ctx); err != nil {
		p.Close()
		return nil, fmt.Errorf("following the network from %s: %w", addr, err)
	}
	return bp, nil
}

func newPeer(p *peer.Peer, attached bool) *Peer {
	bp := &Peer{p: p, disc: discovery.New(p), attached: attached, stop: make(chan struct{}), done: make(chan struct{})}
	p.SetOwner(bp) // for FromContext
	return bp
}

// FromContext returns the peer that serves the call, inside a
// connection's handler; outside one, or for a local [Connection.Call]
// before the default peer started, it returns false.
func FromContext(ctx context.Context) (*Peer, bool) {
	lp, ok := peer.FromContext(ctx)
	if !ok {
		return nil, false
	}
	bp, ok := lp.Owner().(*Peer)
	return bp, ok
}

// ask keeps the view of a client of a NATS deployment current: it asks
// the deployment who is there, at once and then every interval, so that
// what it knows (the answers a scatter-gather waits for) stays current.
func (p *Peer) ask(every time.Duration) {
	defer close(p.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-p.stop; cancel() }()
	for {
		if _, err := p.disc.Peers(ctx, discovery.AllGroups(), discovery.Refresh()); err != nil && ctx.Err() == nil {
			p.p.Logger().Debug("appnet: asking the NATS deployment for its peers failed", "err", err)
		}
		if every <= 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// ID returns the peer's ID.
func (p *Peer) ID() ID { return p.p.ID() }

// Info returns what the peer tells the network about itself: what its
// info connection answers.
func (p *Peer) Info() Info { return p.p.Info() }

// Config returns the configuration the peer runs with.
func (p *Peer) Config() Config { return p.p.Config() }

// Logger returns the peer's logger (Config.Logger, or slog's default).
func (p *Peer) Logger() *slog.Logger { return p.p.Logger() }

// Context returns a context that ends when the peer closes.
func (p *Peer) Context() context.Context { return p.p.Context() }

// Conn returns the peer's connection to its NATS server. It is an escape
// hatch to NATS itself, for what appnet does not do (JetStream, say):
// the peer owns the connection, so do not close or drain it, and keep
// off the subjects of appnet's wire contract (net.>, $SRV.>).
func (p *Peer) Conn() *nats.Conn { return p.p.Conn() }

// Peers finds the other peers: every peer but p itself, by default of p's
// own group, from p's view of the network (see [PeersOption]).
func (p *Peer) Peers(ctx context.Context, opts ...PeersOption) (Network, error) {
	return p.disc.Peers(ctx, peersOptions(opts)...)
}

// Close tells the network that the peer leaves (every peer drops it from
// its view at once) and stops it.
func (p *Peer) Close() error {
	p.closeOnce.Do(func() { close(p.stop) })
	<-p.done
	p.disc.Leave()
	return p.p.Close()
}

// known returns how many peers of group this peer knows of, itself
// included: the answers a scatter-gather waits for.
func (p *Peer) known(group string) int {
	n := p.disc.Known(group)
	if p.p.Config().Group == group && !p.attached {
		n++ // itself; an attached peer takes no group work
	}
	return n
}

func init() { lower.Of = func(p any) *peer.Peer { return p.(*Peer).p } }

// Reconfigure changes the settings of a running peer that do not make its
// ID or its security: whether it is a hub ([WithHub]), its values, how
// many probes a scan runs, how long a probe waits and how often a hub
// looks for other networks. The network hears of the change as an update.
// An option that changes anything else (host, port range, group, secret,
// TLS, deployment, limits) is refused with an error wrapping [ErrConfig]
// that names it: start another peer instead.
func (p *Peer) Reconfigure(opts ...Option) error { return p.p.Reconfigure(opts...) }

// SetRole restarts the peer's server as a hub or as a leaf, on the same
// port, and returns once the peer's connection is back with every
// subscription. Calls in flight through the server fail; the ID does not
// change. A client of a NATS deployment has no server and refuses. If the
// server cannot restart (its port was taken meanwhile), the peer closes
// and the error says why.
func (p *Peer) SetRole(ctx context.Context, hub bool) error { return p.p.SetRole(ctx, hub) }

// Impostors describes what the peer's server can see of others claiming
// the peer's identity: a routed server with the peer's ID as its name, or
// a connection that subscribes to the peer's own call subjects, so that
// calls to the peer could reach it. It should be empty. A client of a
// NATS deployment has no view of the cluster and gets none.
func (p *Peer) Impostors() []string { return p.p.Impostors() }
