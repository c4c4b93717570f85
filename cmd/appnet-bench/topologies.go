package main

import (
	"context"
	"fmt"
	"time"

	"github.com/appnet-go/appnet/bus"
	"github.com/appnet-go/appnet/internal/lower"
	"github.com/appnet-go/appnet/internal/peer"
	"github.com/nats-io/nats.go"
)

// The topologies of the call scenarios: how each is set up.

// waitReady polls call until it succeeds, for at most 5 s.
func waitReady(ctx context.Context, call callFunc) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, cancel := context.WithTimeout(ctx, time.Second)
		err := call(c)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("the responder never answered: %w", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// setupRawStandalone: a child runs a server and a responder, a TCP client
// of it or (inProcess, the "direct" scenario) an in-process one; this
// process is a TCP client requester.
func setupRawStandalone(ctx context.Context, exe string, o options, cs *children, port int, inProcess bool, profile []string) (callFunc, func(), error) {
	c, err := startRaw(ctx, exe, rawSpec{host: o.host, port: port, inProcess: inProcess, args: profile})
	if err != nil {
		return nil, nil, err
	}
	cs.add(c)
	nc, err := nats.Connect(c.ready[0], nats.NoReconnect(), nats.Name("appnet-bench requester"))
	if err != nil {
		return nil, nil, err
	}
	call := rawCall(nc)
	if err := waitReady(ctx, call); err != nil {
		nc.Close()
		return nil, nil, err
	}
	return call, nc.Close, nil
}

// setupRawRouted: a child runs a server and a responder; this process
// runs a server routed to the child's and a requester, each client TCP or
// in-process.
func setupRawRouted(ctx context.Context, exe string, o options, cs *children, inProcess bool, profile []string) (callFunc, func(), error) {
	port := o.port + routedOffset
	if inProcess {
		port = o.port + routedInOffset
	}
	c, err := startRaw(ctx, exe, rawSpec{host: o.host, port: port, inProcess: inProcess, args: profile})
	if err != nil {
		return nil, nil, err
	}
	cs.add(c)
	s, nc, err := rawServer(ctx, o.host, port+1, inProcess)
	if err != nil {
		return nil, nil, err
	}
	closeFn := func() { nc.Close(); s.Close() }
	if err := s.AddRoutes(c.ready[1]); err != nil {
		closeFn()
		return nil, nil, err
	}
	call := rawCall(nc)
	if err := waitReady(ctx, call); err != nil {
		closeFn()
		return nil, nil, err
	}
	return call, closeFn, nil
}

// appnetSetup is the appnet topology: a responder peer in a child and
// the caller peer in this process.
type appnetSetup struct {
	p        *bus.Peer
	target   peer.ID
	childPID int   // the responder's
	pids     []int // every process of the calls, this one included
}

// benchSecret is the NET_SECRET of the appnet-secret scenario.
const benchSecret = "appnet-bench-secret"

// setupAppnet: a child runs the responder peer on the range from port;
// once it has settled, its RSS is read into res (if not nil); then this
// process starts the caller peer, which meshes with it by scanning the
// host's port range. Both share secret, if set.
func setupAppnet(ctx context.Context, exe string, o options, cs *children, res *callResults, profile []string, port int, secret string) (*appnetSetup, error) {
	spec := peerSpec{host: o.host, port: port, portRange: peerPortRange, args: profile}
	if secret != "" {
		spec.env = []string{"NET_SECRET=" + secret}
	}
	c, r, err := startPeer(ctx, exe, spec)
	if err != nil {
		return nil, err
	}
	cs.add(c)
	a := &appnetSetup{childPID: c.pid(), target: r.id}
	if res != nil {
		rss, err := settledRSS(ctx, c.pid())
		if err != nil {
			return nil, fmt.Errorf("idle RSS: %w", err)
		}
		res.idleRSS = append(res.idleRSS, rss)
	}
	cfg := localConfig(o.host, port, peerPortRange)
	// The caller rescans in the background, as a user's peer does.
	cfg.ScanInterval = peer.DefaultLocalConfig().ScanInterval
	cfg.Scan, cfg.Secret = o.host, peer.Redacted(secret)
	a.p, err = startLocal(ctx, cfg)
	return a, err
}

// setupAppnetDeployment: raw standalone's topology with appnet on both
// ends. A child runs a standalone server and the responder peer, a TCP
// client of it (NET_NATS_URL); this process runs the caller peer, a TCP
// client of it too.
func setupAppnetDeployment(ctx context.Context, exe string, o options, cs *children, profile []string) (*appnetSetup, error) {
	c, r, err := startPeer(ctx, exe, peerSpec{host: o.host, port: o.port + deployOffset + 1, portRange: 4,
		args: append([]string{"-standalone", fmt.Sprint(o.port + deployOffset)}, profile...)})
	if err != nil {
		return nil, err
	}
	cs.add(c)
	if r.server == "" {
		return nil, fmt.Errorf("server and peer child said %q", c.ready)
	}
	if err := onLoopback(r.server); err != nil {
		return nil, err
	}
	a := &appnetSetup{childPID: c.pid(), target: r.id}
	cfg := localConfig(o.host, o.port+deployOffset+1, 4)
	cfg.ScanInterval = peer.DefaultLocalConfig().ScanInterval
	cfg.NATSURL = r.server
	a.p, err = startLocal(ctx, cfg)
	return a, err
}

func (a *appnetSetup) close() {
	if a.p != nil {
		a.p.Close()
	}
}

// caller returns a call of the responder's pass_through, once it answers:
// with the measurement's context, which has a deadline (the run's
// timeout), or without one, so that no Net-Timeout is sent.
func (a *appnetSetup) caller(ctx context.Context, deadline bool) (callFunc, error) {
	call := func(ctx context.Context) error {
		if !deadline {
			ctx = context.Background()
		}
		out, err := lower.Peer(a.p).Call(ctx, a.target, peer.ConnPassThrough, payload)
		if err != nil {
			return err
		}
		return checkEcho(out)
	}
	return call, waitReady(ctx, call)
}

// callerOf returns the call (with a deadline) of a setup that err, if
// not nil, says failed, and what closes it.
func callerOf(ctx context.Context, a *appnetSetup, err error) (callFunc, func(), error) {
	if a == nil {
		return nil, nil, err
	}
	if err != nil {
		return nil, a.close, err
	}
	call, err := a.caller(ctx, true)
	return call, a.close, err
}
