package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/appnet-go/appnet/internal/discovery"
	"github.com/appnet-go/appnet/internal/flags"
	"github.com/appnet-go/appnet/internal/peer"
)

// Types used throughout the API, defined in the packages that own them.
type (
	// ID identifies a peer: URL-safe base64 of "<host>:<port> -> <group>".
	ID = peer.ID
	// Info is what a peer's info connection answers.
	Info = peer.Info
	// PeersOption narrows or refreshes a discovery.
	PeersOption = discovery.Option
)

// Errors callers test with errors.Is. They are the owning packages' own.
var (
	ErrUnreachable       = peer.ErrUnreachable
	ErrInvalidConnection = peer.ErrInvalidConnection
	ErrBadRequest        = peer.ErrBadRequest
	ErrRemote            = peer.ErrRemote
	ErrInvalidID         = peer.ErrInvalidID
	ErrInvalidName       = peer.ErrInvalidName
	ErrUnknownFlag       = flags.ErrUnknownFlag
	ErrConfig            = peer.ErrConfig
	ErrBusy              = peer.ErrBusy
	ErrClosed            = peer.ErrClosed
)

// Discovery options.

// OnHost limits discovery to this peer's own host.
func OnHost() PeersOption { return discovery.OnHost() }

// Groups keeps the peers of the named groups (default: the peer's own).
func Groups(names ...string) PeersOption { return discovery.Groups(names...) }

// AllGroups keeps the peers of every group.
func AllGroups() PeersOption { return discovery.AllGroups() }

// HubsOnly keeps hubs only.
func HubsOnly() PeersOption { return discovery.HubsOnly() }

// Refresh scans again instead of answering from the cache.
func Refresh() PeersOption { return discovery.Refresh() }

// Peer is a running peer with discovery: it joined the network when it
// started (found the peers of its host, else of NET_SCAN, and attached to
// their hubs, or became the network's first hub), and keeps its view of
// the network current from the changes the network publishes.
type Peer struct {
	*peer.Peer
	disc      *discovery.Discoverer
	attached  bool // a client of another peer's server (Attach)
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// New starts a peer configured from the NET_* environment with opts on
// top, serving the default registry unless [peer.WithRegistry] says
// otherwise, and joins it to the network.
func New(ctx context.Context, opts ...peer.Option) (*Peer, error) {
	cfg, err := peer.ConfigFromEnv()
	if err != nil {
		return nil, err
	}
	cfg.Registry = registry
	return Start(ctx, cfg, opts...)
}

// Start is [New] with an explicit configuration: it reads no environment.
func Start(ctx context.Context, cfg peer.Config, opts ...peer.Option) (*Peer, error) {
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
	bp := &Peer{Peer: p, disc: discovery.New(p), stop: make(chan struct{}), done: make(chan struct{})}
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
// port: a short-lived program's way onto the network (see [peer.Attach]).
// It follows the network's view through that server; it is not a member
// of it. Without cfg.Registry it serves the default registry.
func Attach(ctx context.Context, cfg peer.Config, addr string, opts ...peer.Option) (*Peer, error) {
	if cfg.Registry == nil {
		cfg.Registry = registry
	}
	p, err := peer.Attach(ctx, cfg, addr, opts...)
	if err != nil {
		return nil, err
	}
	bp := &Peer{Peer: p, disc: discovery.New(p), attached: true, stop: make(chan struct{}), done: make(chan struct{})}
	close(bp.done)
	if err := bp.disc.Follow(ctx); err != nil {
		p.Close()
		return nil, fmt.Errorf("following the network from %s: %w", addr, err)
	}
	return bp, nil
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
			p.Logger().Debug("appnet: asking the NATS deployment for its peers failed", "err", err)
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

// Peers finds the other peers: every peer but p itself (see
// [discovery.Discoverer.Peers]).
func (p *Peer) Peers(ctx context.Context, opts ...PeersOption) (discovery.Peers, error) {
	return p.disc.Peers(ctx, opts...)
}

// Close tells the network that the peer leaves (every peer drops it from
// its view at once) and stops it.
func (p *Peer) Close() error {
	p.closeOnce.Do(func() { close(p.stop) })
	<-p.done
	p.disc.Leave()
	return p.Peer.Close()
}

// The default peer: one per process, started the first time something
// needs it.
var (
	registry    = peer.NewRegistry()
	defaultMu   sync.Mutex
	defaultPeer *Peer
	// started is defaultPeer for readers that must not wait while
	// Default starts it (local calls), and Default's lock-free path.
	started     atomic.Pointer[Peer]
	defaultOpts []peer.Option
)

// ErrStarted is returned by [Configure] once the default peer runs.
var ErrStarted = errors.New("the default peer has already started")

// Configure sets options for the default peer, on top of the NET_*
// environment; call it before anything starts the default peer (Default,
// Peers, a remote call, an Emit or a Subscribe).
func Configure(opts ...peer.Option) error {
	defaultMu.Lock()
	defer defaultMu.Unlock()
	if defaultPeer != nil {
		return ErrStarted
	}
	defaultOpts = append(defaultOpts, opts...)
	return nil
}

// Default returns the process's default peer, starting it from the NET_*
// environment the first time. A failed start is retried on the next call.
func Default() (*Peer, error) {
	if p := started.Load(); p != nil {
		return p, nil // every call and emit comes here: no lock once started
	}
	defaultMu.Lock()
	defer defaultMu.Unlock()
	if defaultPeer != nil {
		return defaultPeer, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := New(ctx, defaultOpts...)
	if err != nil {
		return nil, fmt.Errorf("starting the default peer: %w", err)
	}
	defaultPeer = p
	started.Store(p)
	return p, nil
}

// Close closes the default peer, if it was started.
func Close() error {
	defaultMu.Lock()
	defer defaultMu.Unlock()
	if defaultPeer == nil {
		return nil
	}
	started.Store(nil)
	err := defaultPeer.Close()
	defaultPeer = nil
	return err
}

// Registry returns the default registry: the connections and flags that
// [Connect] and [Flag] register and that peers serve unless told
// otherwise.
func Registry() *peer.Registry { return registry }

// Peers finds the other peers from the default peer: every peer but the
// default peer itself. See [discovery.Discoverer.Peers].
func Peers(ctx context.Context, opts ...PeersOption) (discovery.Peers, error) {
	p, err := Default()
	if err != nil {
		return discovery.Peers{}, err
	}
	return p.Peers(ctx, opts...)
}

// Flag registers the caller-side handler of a flag in the default
// registry: when a peer answers a call with the flag, the call returns
// what fn returns.
func Flag(name string, fn flags.Handler) error { return registry.Flag(name, fn) }

// known returns how many peers of group this peer knows of, itself
// included: the answers a scatter-gather waits for.
func (p *Peer) known(group string) int {
	n := p.disc.Known(group)
	if p.Config().Group == group && !p.attached {
		n++ // itself; an attached peer takes no group work
	}
	return n
}
