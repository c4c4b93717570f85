package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/appnet-go/appnet/internal/peer"
)

// The default peer: one per process, started the first time something
// needs it.
var (
	registry    = peer.NewRegistry()
	defaultMu   sync.Mutex
	defaultPeer *Peer
	// started is defaultPeer for readers that must not wait while
	// Default starts it (local calls), and Default's lock-free path.
	started     atomic.Pointer[Peer]
	defaultOpts []Option
)

// ErrStarted is returned by [Configure] once the default peer runs.
var ErrStarted = errors.New("the default peer has already started")

// Configure sets options for the default peer, on top of the NET_*
// environment; call it before anything starts the default peer (Default,
// Peers, a remote call, an Emit or a Subscribe).
func Configure(opts ...Option) error {
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

// DefaultRegistry returns the default registry: the connections and
// flags that [Connect] and [Flag] register and that peers serve unless
// told otherwise ([WithRegistry]).
func DefaultRegistry() *Registry { return defaultRegistry }

var defaultRegistry = &Registry{registry}

// Peers finds the other peers from the default peer: every peer but the
// default peer itself. See [Peer.Peers].
func Peers(ctx context.Context, opts ...PeersOption) (Network, error) {
	p, err := Default()
	if err != nil {
		return Network{}, err
	}
	return p.Peers(ctx, opts...)
}
