package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/appnet-go/appnet/bus"
)

// serve runs a peer from the environment until ctx ends (an interrupt).
func serve(ctx context.Context, args []string, stdout io.Writer) error {
	if err := parse(flag.NewFlagSet("serve", flag.ContinueOnError), args, 0, 0); err != nil {
		return err
	}
	p, err := bus.New(ctx)
	if err != nil {
		return err
	}
	defer p.Close()
	return announce(ctx, p, stdout)
}

// announce prints the peer's identity, then waits until ctx ends.
func announce(ctx context.Context, p *bus.Peer, stdout io.Writer) error {
	info := p.Info()
	fmt.Fprintf(stdout, "ready %s\n", info.ID)
	fmt.Fprintf(stdout, "peer %s:%d group %s hub %t, serving %v\n", info.Host, info.Port, info.Group, info.Hub, info.Connections)
	server := p.Conn().ConnectedUrlRedacted() // the embedded server's, or the deployment's
	fmt.Fprintf(stdout, "inspect it: nats --server %s micro info %s\n", server, info.Group)
	<-ctx.Done()
	fmt.Fprintln(stdout, "stopping")
	return nil
}
