package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/appnet-go/appnet/internal/events"
	"github.com/appnet-go/appnet/internal/peer"
)

// emitScanTimeout is the probe timeout of a started peer's scan unless
// NET_SCAN_TIMEOUT says otherwise.
const emitScanTimeout = time.Second

// emit emits one event as a peer of the group: attached to a running
// peer, or as a short-lived peer of its own.
func emit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommand("emit", stderr)
	hub := c.fs.Bool("hub", false, "emit as a hub")
	headers := c.fs.Bool("headers", false, "add the Net-Emitter and Net-Event headers (for tools that show headers, not subjects)")
	via := c.fs.String("via", "", "attach to this peer (ID, host:port or ID prefix) instead of one found on this host")
	asJSON := c.fs.Bool("json", false, "print what was emitted as JSON")
	if err := c.parse(args, 2, 3); err != nil {
		return err
	}
	group, event := c.arg(0), c.arg(1)
	if err := peer.ValidateGroup(group); err != nil {
		return fmt.Errorf("%w: emit: group %q: %v", errUsage, group, err)
	}
	if err := events.ValidateName(event); err != nil {
		return fmt.Errorf("%w: emit: %v", errUsage, err)
	}
	var value json.RawMessage = []byte("null")
	if len(c.args) == 3 {
		value = []byte(c.arg(2))
		if !json.Valid(value) {
			return fmt.Errorf("%w: emit: value %q is not JSON (a string needs quotes: '\"text\"')", errUsage, c.arg(2))
		}
	}
	n, err := newNetwork(c)
	if err != nil {
		return err
	}
	opts := []peer.Option{peer.WithGroup(group), peer.WithHub(*hub)}
	opts = append(opts, func(c *peer.Config) {
		if c.ScanTimeout == peer.DefaultConfig().ScanTimeout {
			// One event, once: a peer whose probe times out on a busy
			// host would miss it, and nothing rescans for a one-shot
			// command. NET_SCAN_TIMEOUT, when set, wins.
			c.ScanTimeout = emitScanTimeout
		}
	})
	p, closePeer, err := n.join(ctx, *via, opts...)
	if err != nil {
		return err
	}
	defer closePeer()
	var emitOpts []events.EmitOption
	if *headers {
		emitOpts = append(emitOpts, events.WithHeaders())
	}
	if err := events.Emit(p, event, value, emitOpts...); err != nil {
		return err
	}
	subject := events.Subject(group, *hub, p.ID(), event)
	if *asJSON {
		return printJSON(stdout, map[string]any{"subject": subject, "emitter": p.ID(), "event": event, "value": value})
	}
	fmt.Fprintf(stdout, "emitted %s from %s\n", subject, p.ID())
	return nil
}

// listen prints every event it hears until interrupted.
func listen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommand("listen", stderr)
	var groups, peers multi
	c.fs.Var(&groups, "group", "hear the peers of this group (repeatable; default: NET_GROUP)")
	c.fs.Var(&peers, "peer", "hear this peer only: ID, host:port or ID prefix (repeatable)")
	hubsOnly := c.fs.Bool("hubs-only", false, "hear hubs only")
	onHost := c.fs.Bool("on-host", false, "hear peers on this host only")
	via := c.fs.String("via", "", "attach to this peer (ID, host:port or ID prefix) instead of one found on this host")
	asJSON := c.fs.Bool("json", false, "print each event as a line of JSON")
	buffer := c.fs.Int("buffer", 0, "at most this many events wait to be printed; beyond, NATS drops them and says so (default: the NATS client's 512K messages / 64 MiB)")
	if err := c.parse(args, 1, 1); err != nil {
		return err
	}
	event := c.arg(0)
	if err := events.ValidateName(event); err != nil {
		return fmt.Errorf("%w: listen: %v", errUsage, err)
	}
	for _, g := range groups {
		if err := peer.ValidateGroup(g); err != nil {
			return fmt.Errorf("%w: listen: --group %q: %v", errUsage, g, err)
		}
	}
	n, err := newNetwork(c)
	if err != nil {
		return err
	}
	opts := []events.Option{events.OnError(func(err error) { fmt.Fprintln(stdout, "error:", err) })}
	if len(groups) > 0 {
		opts = append(opts, events.Groups(groups...))
	}
	for _, arg := range peers {
		id, err := n.resolve(ctx, arg)
		if err != nil {
			return err
		}
		opts = append(opts, events.Peers(id))
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
	p, closePeer, err := n.join(ctx, *via)
	if err != nil {
		return err
	}
	defer closePeer()
	enc := json.NewEncoder(stdout)
	sub, err := events.Subscribe(p, event, func(_ context.Context, d events.Delivery[json.RawMessage]) {
		now := time.Now().Format(time.RFC3339Nano)
		if *asJSON {
			_ = enc.Encode(map[string]any{"time": now, "emitter": d.From, "event": d.Event, "value": d.Value})
			return
		}
		fmt.Fprintf(stdout, "%s %s %s %s\n", now, d.From, d.Event, d.Value)
	}, opts...)
	if err != nil {
		return err
	}
	defer sub.Close()
	ready := stdout
	if *asJSON {
		ready = stderr // stdout is JSON only
	}
	fmt.Fprintf(ready, "listening for %q as %s\n", event, p.ID())
	select {
	case <-ctx.Done():
		return nil
	case <-p.Context().Done():
		return fmt.Errorf("stopped listening for %q: the connection to the peer server ended (it stopped?)", event)
	}
}
