package main

import (
	"context"
	"fmt"
	"io"
	"net/url"

	"github.com/appnet-go/appnet/bus"
	"github.com/appnet-go/appnet/internal/lower"
)

// serve runs a peer from the environment until ctx ends (an interrupt).
func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if err := newCommand("serve", stderr).parse(args, 0, 0); err != nil {
		return err
	}
	p, err := bus.New(ctx)
	if err != nil {
		return err
	}
	defer p.Close()
	return announce(ctx, p, stdout)
}

// serverURL is where the nats CLI reaches the peer: its own server, or the
// deployment's server it is connected to (never with credentials).
func serverURL(p *bus.Peer) string {
	if s := lower.Peer(p).Server(); s != nil {
		return s.ClientURL()
	}
	scheme := "nats"
	if u, err := url.Parse(p.Conn().ConnectedUrl()); err == nil && u.Scheme != "" {
		scheme = u.Scheme
	}
	return scheme + "://" + p.Conn().ConnectedAddr()
}

// announce prints the peer's identity, then waits until ctx ends.
func announce(ctx context.Context, p *bus.Peer, stdout io.Writer) error {
	info := p.Info()
	fmt.Fprintf(stdout, "ready %s\n", info.ID)
	fmt.Fprintf(stdout, "peer %s:%d group %s hub %t, serving %v\n", info.Host, info.Port, info.Group, info.Hub, info.Connections)
	creds := ""
	switch cfg := p.Config(); {
	case cfg.TLSCert != "":
		creds = fmt.Sprintf(" --tlscert %s --tlskey %s --tlsca %s", cfg.TLSCert, cfg.TLSKey, cfg.TLSCA)
		if cfg.Secret != "" {
			creds += ` --token "$NET_SECRET"`
		}
	case cfg.Secret != "" && !cfg.External():
		creds = ` --tlsca ca.pem --token "$NET_SECRET"` + " (appnet ca ca.pem writes ca.pem)"
	}
	fmt.Fprintf(stdout, "inspect it: nats --server %s micro info %s%s\n", serverURL(p), info.Group, creds)
	select {
	case <-ctx.Done():
	case <-p.Context().Done():
		// The peer stopped by itself: exit non-zero, so that a
		// supervisor restarts it.
		return fmt.Errorf("the peer stopped: %w", context.Cause(p.Context()))
	}
	fmt.Fprintln(stdout, "stopping")
	return nil
}
