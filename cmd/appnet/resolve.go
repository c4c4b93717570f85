package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/appnet-go/appnet/bus"
	"github.com/appnet-go/appnet/internal/discovery"
	"github.com/appnet-go/appnet/internal/lower"
	"github.com/appnet-go/appnet/internal/peer"
	"github.com/nats-io/nats.go"
)

// network is what a command knows of the network: its configuration and,
// once scanned, the peers that run on the hosts it names peers on.
type network struct {
	cfg     peer.Config
	cmd     *command
	scanned bool
	hits    []discovery.Hit
}

func newNetwork(c *command) (*network, error) {
	cfg, err := peer.ConfigFromEnv()
	if err != nil {
		return nil, err
	}
	return &network{cfg: cfg, cmd: c}, nil
}

// nearby returns the peers on this host (and on the hosts of NET_SCAN,
// if set), scanning once.
func (n *network) nearby(ctx context.Context) ([]discovery.Hit, error) {
	if n.scanned {
		return n.hits, nil
	}
	hosts, err := discovery.Targets(n.cfg, n.cfg.Scan == "")
	if err != nil {
		return nil, err
	}
	allow, err := n.cfg.ScanAllowed()
	if err != nil {
		return nil, err
	}
	scanner := discovery.Scanner{Workers: n.cfg.ThreadLimit, Timeout: n.cfg.ScanTimeout, Allow: allow}
	n.hits, err = scanner.Scan(ctx, hosts, n.cfg.Ports())
	n.scanned = err == nil
	return n.hits, err
}

// resolve turns a command's peer argument into an ID: an ID as it is, the
// peer that answers at host:port, or the one peer nearby whose ID starts
// with the argument.
func (n *network) resolve(ctx context.Context, arg string) (peer.ID, error) {
	if id, err := peer.ParseID(arg); err == nil {
		n.cmd.note("peer %q is the ID %s (%s)", arg, id, decoded(id))
		return id, nil
	}
	if host, port, ok := hostPort(arg); ok {
		allow, err := n.cfg.ScanAllowed()
		if err != nil {
			return "", err
		}
		scanner := discovery.Scanner{Timeout: max(n.cfg.ScanTimeout, defaultProbe), Allow: allow}
		hits, err := scanner.Scan(ctx, []string{host}, []int{port})
		if err != nil {
			return "", err
		}
		if len(hits) == 0 {
			return "", fmt.Errorf("%w: no appnet peer answers at %s (`appnet peers` lists the peers)", peer.ErrUnreachable, arg)
		}
		n.cmd.note("peer %q is %s (%s), the peer that answers there", arg, hits[0].ID, decoded(hits[0].ID))
		return hits[0].ID, nil
	}
	if n.cfg.External() {
		return "", fmt.Errorf("%w %q: with NET_NATS_URL, name a peer by its full ID (`appnet peers` lists them)", peer.ErrInvalidID, arg)
	}
	hits, err := n.nearby(ctx)
	if err != nil {
		return "", err
	}
	var match []peer.ID
	for _, h := range hits {
		if strings.HasPrefix(string(h.ID), arg) {
			match = append(match, h.ID)
		}
	}
	where := "on this host (" + n.cfg.Host + ")"
	if n.cfg.Scan != "" {
		where = "on the hosts of NET_SCAN"
	}
	switch len(match) {
	case 1:
		n.cmd.note("peer %q is %s (%s), the one peer %s whose ID starts with it", arg, match[0], decoded(match[0]), where)
		return match[0], nil
	case 0:
		return "", fmt.Errorf("%w %q: it is not an ID, nor host:port, nor the start of the ID of a peer %s (`appnet peers` lists them)", peer.ErrInvalidID, arg, where)
	}
	var list []string
	for _, id := range match {
		list = append(list, fmt.Sprintf("%s (%s)", id, decoded(id)))
	}
	return "", fmt.Errorf("%w %q: %d peers %s have IDs that start with it: %s; give more of the ID, or host:port", peer.ErrInvalidID, arg, len(match), where, strings.Join(list, ", "))
}

// defaultProbe bounds the probe of one address the user named.
const defaultProbe = time.Second

// hostPort splits "host:port" with a numeric port.
func hostPort(s string) (string, int, bool) {
	host, p, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return "", 0, false
	}
	port, err := strconv.Atoi(p)
	if err != nil || port <= 0 || port > 65535 {
		return "", 0, false
	}
	return host, port, true
}

// address returns where a peer's server listens: host:port as given, or
// the address the peer's ID names.
func (n *network) address(ctx context.Context, arg string) (string, error) {
	if _, _, ok := hostPort(arg); ok {
		return arg, nil
	}
	id, err := n.resolve(ctx, arg)
	if err != nil {
		return "", err
	}
	a, err := id.Decode()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(a.Host, strconv.Itoa(a.Port)), nil
}

// join gives a one-shot command a peer to act as: attached to the peer
// at via, else to a peer running on this host, else one of its own (the
// only case that takes a port of the range). close ends it.
func (n *network) join(ctx context.Context, via string, opts ...peer.Option) (p *peer.Peer, close func(), err error) {
	bp, close, err := n.joinBus(ctx, via, opts...)
	if err != nil {
		return nil, nil, err
	}
	return lower.Peer(bp), close, nil
}

// joinBus is join with the peer's view of the network: an attached peer
// follows it through the server it is a client of.
func (n *network) joinBus(ctx context.Context, via string, opts ...peer.Option) (p *bus.Peer, close func(), err error) {
	if n.cfg.External() {
		bp, err := bus.New(ctx, opts...)
		if err != nil {
			return nil, nil, err
		}
		n.cmd.note("joined the NATS deployment (NET_NATS_URL) as peer %s", bp.ID())
		return bp, func() { bp.Close() }, nil
	}
	addr := ""
	if via != "" {
		if addr, err = n.address(ctx, via); err != nil {
			return nil, nil, err
		}
	} else {
		cfg := n.cfg
		cfg.Scan = "" // this host only: the peer to attach to is local
		local := &network{cfg: cfg, cmd: n.cmd}
		hits, err := local.nearby(ctx)
		if err != nil {
			return nil, nil, err
		}
		if len(hits) > 0 {
			addr = net.JoinHostPort(hits[0].Host, strconv.Itoa(hits[0].Port))
		}
	}
	if addr == "" {
		bp, err := bus.New(ctx, opts...)
		if err != nil {
			return nil, nil, err
		}
		n.cmd.note("no peer runs on this host (%s, ports %d..%d): started peer %s (%s) of its own", n.cfg.Host, n.cfg.PortStart, n.cfg.PortStart+n.cfg.PortRange, bp.ID(), decoded(bp.ID()))
		return bp, func() { bp.Close() }, nil
	}
	cfg := n.cfg
	cfg.Registry = peer.NewRegistry()
	bp, err := bus.Attach(ctx, cfg, addr, opts...)
	if err != nil {
		return nil, nil, explain(err)
	}
	n.cmd.note("attached to the peer at %s as %s (a client of its server, holding no port)", addr, bp.ID())
	return bp, func() { bp.Close() }, nil
}

// explain adds what to do to an error connecting to a peer's server, when
// the reason is credentials the command lacks.
func explain(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "certificate") || strings.Contains(msg, "tls:") || strings.Contains(msg, "TLS"):
		return fmt.Errorf("%w (the peer uses TLS: set NET_SECRET to its mesh's secret, or NET_TLS_CERT, NET_TLS_KEY and NET_TLS_CA to the files its certificates came from)", err)
	case strings.Contains(msg, "Authorization Violation") || errors.Is(err, nats.ErrAuthorization):
		return fmt.Errorf("%w (the peer wants a secret: set NET_SECRET)", err)
	}
	return err
}
