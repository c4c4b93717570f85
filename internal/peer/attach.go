package peer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
)

// Attach starts a peer that is a client of the running peer whose server
// is at addr (host:port, or a nats:// or tls:// URL) instead of running a
// server of its own or holding a port of its range: for a short-lived
// program, such as a command-line tool, that calls, emits or listens
// without taking a port that a real peer may need. Through that server it
// reaches the whole cluster.
//
// Its ID names the local address of its connection, which is unique on
// its host for as long as it is connected. It serves its registry's
// connections on that ID only: it answers no group call, no discovery
// request and no micro protocol request, so that the peers of the cluster
// neither count it as one of theirs nor send it their group's work. It
// does not reconnect: when the server it attached to stops, the peer
// closes (its Context ends). Its Config has NATSURL set to the server's
// URL: like a client of a deployment, it finds peers by asking the
// cluster (net.discover) rather than by scanning.
func Attach(ctx context.Context, cfg Config, addr string, opts ...Option) (*Peer, error) {
	url := addr
	if _, _, err := net.SplitHostPort(addr); err == nil {
		url = "nats://" + addr
	}
	cfg.NATSURL, cfg.NATSCreds = url, ""
	p, err := prepare(cfg, opts)
	if err != nil {
		return nil, err
	}
	// The server is a peer's: present what a client of a peer presents
	// (NET_TLS_*, or the secret's CA), not what a deployment asks for.
	peerCfg := p.cfg
	peerCfg.NATSURL = ""
	clientOpts, err := peerCfg.ClientOptions()
	if err != nil {
		return nil, err
	}
	p.clientOpts = clientOpts
	// The connection leaves from the configured host, so that the ID
	// names this peer's host as other peers know it.
	dialer := &localDialer{}
	if ip := net.ParseIP(p.cfg.Host); ip != nil {
		dialer.LocalAddr = &net.TCPAddr{IP: ip}
	}
	deadline, ok := ctx.Deadline()
	timeout := 2 * time.Second
	if ok {
		timeout = min(timeout, time.Until(deadline))
	}
	dialer.Timeout = timeout
	nopts := append(p.natsOptions("appnet client"), p.clientOpts...)
	nopts = append(nopts, nats.SetCustomDialer(dialer), nats.NoReconnect())
	nc, err := nats.Connect(url, nopts...)
	if err != nil {
		if errors.Is(err, nats.ErrNoServers) {
			err = fmt.Errorf("%w: nothing answers at %s", ErrUnreachable, addr)
		}
		return nil, fmt.Errorf("attaching to the peer server at %s: %w", addr, err)
	}
	host, port, err := dialer.local()
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("attaching to the peer server at %s: %w", addr, err)
	}
	p.identify(host, port)
	p.via = ID(nc.ConnectedServerName()) // a peer's server is named by its ID
	if err := p.serve(nc, false); err != nil {
		p.Close()
		return nil, err
	}
	nc.SetClosedHandler(func(*nats.Conn) { go p.Close() }) // the peer ends with its connection
	if nc.IsClosed() {
		p.Close()
		return nil, fmt.Errorf("attaching to the peer server at %s: %w", addr, ErrClosed)
	}
	return p, nil
}

// localDialer dials like net.Dialer and remembers the local address of
// the last connection it made.
type localDialer struct {
	net.Dialer
	addr net.Addr
}

func (d *localDialer) Dial(network, address string) (net.Conn, error) {
	c, err := d.Dialer.Dial(network, address)
	if err != nil && d.LocalAddr != nil {
		plain := d.Dialer
		plain.LocalAddr = nil // the host cannot reach the server: any source will do
		c, err = plain.Dial(network, address)
	}
	if err == nil {
		d.addr = c.LocalAddr()
	}
	return c, err
}

// local returns the host and port of the connection's local end.
func (d *localDialer) local() (string, int, error) {
	if d.addr == nil {
		return "", 0, errors.New("no connection was made")
	}
	host, port, err := net.SplitHostPort(d.addr.String())
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(port)
	return host, n, err
}

// syncVia is Sync for an attached peer: the routes are its server's, so
// it asks that peer for them, then makes one round trip through each.
func (p *Peer) syncVia(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.CallTimeout)
	defer cancel()
	data, err := p.Call(ctx, p.via, ConnInfo, nil)
	if err != nil {
		_ = p.nc.FlushWithContext(ctx)
		return
	}
	info, err := Decode[Info](data)
	if err != nil {
		return
	}
	p.gatherInfo(ctx, info.Routes)
}
