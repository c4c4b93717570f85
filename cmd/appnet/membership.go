package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/appnet-go/appnet/bus"
	"github.com/appnet-go/appnet/internal/peer"
)

// viewFlags are the filters of watch and wait: those of listen and peers.
type viewFlags struct {
	groups, values  multi
	allGroups, hubs *bool
	onHost          *bool
	via             *string
	asJSON          *bool
}

func addViewFlags(c *command) *viewFlags {
	f := &viewFlags{}
	c.fs.Var(&f.groups, "group", "peers of this group (repeatable; default: NET_GROUP)")
	f.allGroups = c.fs.Bool("all-groups", false, "peers of every group")
	f.hubs = c.fs.Bool("hubs-only", false, "hubs (NET_IS_HUB) only")
	f.onHost = c.fs.Bool("on-host", false, "peers on this host only")
	c.fs.Var(&f.values, "value", "peers whose value key is v: key=v (repeatable)")
	f.via = c.fs.String("via", "", "follow the network through this peer (ID, host:port or ID prefix) instead of one found on this host")
	f.asJSON = c.fs.Bool("json", false, "print JSON lines")
	return f
}

// options turns the flags into discovery options, or a usage error.
func (f *viewFlags) options(cmd string) ([]bus.PeersOption, error) {
	var opts []bus.PeersOption
	for _, g := range f.groups {
		if err := peer.ValidateGroup(g); err != nil {
			return nil, fmt.Errorf("%w: %s: --group %q: %v", errUsage, cmd, g, err)
		}
	}
	if len(f.groups) > 0 {
		opts = append(opts, bus.Groups(f.groups...))
	}
	if *f.allGroups {
		opts = append(opts, bus.AllGroups())
	}
	if *f.hubs {
		opts = append(opts, bus.HubsOnly())
	}
	if *f.onHost {
		opts = append(opts, bus.OnHost())
	}
	for _, kv := range f.values {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("%w: %s: --value %q: want key=value", errUsage, cmd, kv)
		}
		opts = append(opts, bus.Value(k, v))
	}
	return opts, nil
}

// watch prints every change of the network's membership.
func watch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommand("watch", stderr)
	f := addViewFlags(c)
	if err := c.parse(args, 0, 0); err != nil {
		return err
	}
	opts, err := f.options("watch")
	if err != nil {
		return err
	}
	n, err := newNetwork(c)
	if err != nil {
		return err
	}
	p, closePeer, err := n.joinBus(ctx, *f.via)
	if err != nil {
		return err
	}
	defer closePeer()
	changes, err := p.Watch(ctx, opts...)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-p.Context().Done():
			return fmt.Errorf("stopped watching: the connection to the peer's server ended (it stopped?)")
		case ch, ok := <-changes:
			if !ok {
				return nil
			}
			printChange(stdout, enc, ch, *f.asJSON)
		}
	}
}

// printChange writes one change: a line of text, or of JSON.
func printChange(w io.Writer, enc *json.Encoder, ch bus.Change, asJSON bool) {
	now := time.Now().Format(time.RFC3339Nano)
	if asJSON {
		_ = enc.Encode(struct {
			Time string `json:"time"`
			bus.Change
		}{now, ch})
		return
	}
	if ch.Kind == bus.Resync {
		fmt.Fprintf(w, "%s resync %d peers\n", now, len(ch.Peers.Peers))
		for _, id := range ch.Peers.IDs() {
			fmt.Fprintf(w, "%s present %s\n", now, describeInfo(ch.Peers.Peers[id]))
		}
		return
	}
	fmt.Fprintf(w, "%s %s %s\n", now, ch.Kind, describeInfo(ch.Info))
}

// describeInfo is a peer on one line: ID, host:port, group, hub, role
// and values.
func describeInfo(info bus.Info) string {
	s := fmt.Sprintf("%s %s:%d %s hub=%t role=%s", info.ID, info.Host, info.Port, info.Group, info.Hub, info.Role)
	for _, k := range slices.Sorted(maps.Keys(info.Values)) {
		s += " " + k + "=" + strconv.Quote(info.Values[k])
	}
	return s
}

// wait blocks until peers that match are present, and prints them.
func wait(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommand("wait", stderr)
	f := addViewFlags(c)
	serving := c.fs.String("serving", "", "peers that serve this connection")
	count := c.fs.Int("count", 1, "how many peers must match")
	timeout := c.fs.Duration("timeout", 30*time.Second, "give up after this long (exit 1)")
	if err := c.parse(args, 0, 0); err != nil {
		return err
	}
	opts, err := f.options("wait")
	if err != nil {
		return err
	}
	if *serving != "" {
		if err := peer.ValidateConnection(*serving); err != nil {
			return fmt.Errorf("%w: wait: --serving: %v", errUsage, err)
		}
		opts = append(opts, bus.Serving(*serving))
	}
	if *count < 1 || *timeout <= 0 {
		return fmt.Errorf("%w: wait: --count %d, --timeout %s: want at least 1 and a positive duration", errUsage, *count, *timeout)
	}
	n, err := newNetwork(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	p, closePeer, err := n.joinBus(ctx, *f.via)
	if err != nil {
		return err
	}
	defer closePeer()
	found, err := p.WaitN(ctx, *count, opts...)
	if err != nil {
		return err
	}
	if *f.asJSON {
		return printJSON(stdout, found)
	}
	for _, id := range found.IDs() {
		fmt.Fprintln(stdout, describeInfo(found.Peers[id]))
	}
	return nil
}
