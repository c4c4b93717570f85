package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/appnet-go/appnet/bus"
	"github.com/appnet-go/appnet/events"
	"github.com/appnet-go/appnet/peer"
)

// emitScanTimeout is the probe timeout of emit's scan unless
// NET_SCAN_TIMEOUT says otherwise.
const emitScanTimeout = time.Second

// emit joins the mesh as a peer of the group for a moment and emits one
// event.
func emit(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("emit", flag.ContinueOnError)
	hub := fs.Bool("hub", false, "emit as a hub")
	headers := fs.Bool("headers", false, "add the Net-Emitter and Net-Event headers (for tools that show headers, not subjects)")
	if err := parse(fs, args, 2, 3); err != nil {
		return err
	}
	group, event := fs.Arg(0), fs.Arg(1)
	var value json.RawMessage = []byte("null")
	if fs.NArg() == 3 {
		value = []byte(fs.Arg(2))
		if !json.Valid(value) {
			return fmt.Errorf("value %q is not JSON (a string needs quotes: '\"text\"')", fs.Arg(2))
		}
	}
	if err := events.ValidateName(event); err != nil {
		return err
	}
	opts := []peer.Option{peer.WithGroup(group), peer.WithHub(*hub)}
	if _, set := os.LookupEnv("NET_SCAN_TIMEOUT"); !set {
		// One event, once: a peer whose probe times out on a busy host
		// would miss it, and nothing rescans for a one-shot command.
		opts = append(opts, func(c *peer.Config) { c.ScanTimeout = emitScanTimeout })
	}
	p, err := bus.New(ctx, opts...)
	if err != nil {
		return err
	}
	defer p.Close()
	var emitOpts []events.EmitOption
	if *headers {
		emitOpts = append(emitOpts, events.WithHeaders())
	}
	if err := events.Emit(p.Peer, event, value, emitOpts...); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "emitted %s from %s\n", events.Subject(group, *hub, p.ID(), event), p.ID())
	return nil
}

// listen prints every event it hears until interrupted.
func listen(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("listen", flag.ContinueOnError)
	var groups, peers multi
	fs.Var(&groups, "group", "hear the peers of this group (repeatable; default: NET_GROUP)")
	fs.Var(&peers, "peer", "hear this peer only (repeatable)")
	hubsOnly := fs.Bool("hubs-only", false, "hear hubs only")
	onHost := fs.Bool("on-host", false, "hear peers on this host only")
	buffer := fs.Int("buffer", 0, "at most this many events wait to be printed; beyond, NATS drops them and says so (default: the NATS client's 512K messages / 64 MiB)")
	if err := parse(fs, args, 1, 1); err != nil {
		return err
	}
	opts := []events.Option{events.OnError(func(err error) { fmt.Fprintln(stdout, "error:", err) })}
	if len(groups) > 0 {
		opts = append(opts, events.Groups(groups...))
	}
	for _, id := range peers {
		pid, err := peer.ParseID(id)
		if err != nil {
			return err
		}
		opts = append(opts, events.Peers(pid))
	}
	if *hubsOnly {
		opts = append(opts, events.HubsOnly())
	}
	if *onHost {
		opts = append(opts, events.OnHost())
	}
	if *buffer > 0 {
		opts = append(opts, events.Buffer(*buffer))
	}
	p, err := bus.New(ctx)
	if err != nil {
		return err
	}
	defer p.Close()
	sub, err := events.Subscribe(p.Peer, fs.Arg(0), func(_ context.Context, d events.Delivery[json.RawMessage]) {
		fmt.Fprintf(stdout, "%s %s %s %s\n", time.Now().Format(time.RFC3339Nano), d.From, d.Event, d.Value)
	}, opts...)
	if err != nil {
		return err
	}
	defer sub.Close()
	fmt.Fprintf(stdout, "listening for %q as %s\n", fs.Arg(0), p.ID())
	<-ctx.Done()
	return nil
}

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return fmt.Sprint([]string(*m)) }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }
