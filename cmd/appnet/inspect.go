package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/appnet-go/appnet/bus"
	"github.com/appnet-go/appnet/internal/discovery"
	"github.com/appnet-go/appnet/internal/peer"
	"github.com/nats-io/nats.go"
)

// peers scans for peers without joining their cluster and prints them.
// A peer that does not give its info is printed with what the scan knows
// and makes the command fail (exit 1), saying why.
func peers(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommand("peers", stderr)
	asJSON := c.fs.Bool("json", false, "print JSON instead of a table")
	graph := c.fs.Bool("graph", false, "print the route mesh as Graphviz DOT instead of a table")
	onHost := c.fs.Bool("on-host", false, "scan this host only")
	if err := c.parse(args, 0, 0); err != nil {
		return err
	}
	if *asJSON && *graph {
		return fmt.Errorf("%w: peers: --json and --graph each choose the output; give one", errUsage)
	}
	cfg, err := peer.ConfigFromEnv()
	if err != nil {
		return err
	}
	if cfg.External() {
		return deploymentPeers(ctx, *onHost, *asJSON, *graph, stdout)
	}
	hosts, err := discovery.Targets(cfg, *onHost)
	if err != nil {
		return err
	}
	c.note("scanning %s × ports %d..%d", plural(len(hosts), "host"), cfg.PortStart, cfg.PortStart+cfg.PortRange)
	allow, err := cfg.ScanAllowed()
	if err != nil {
		return err
	}
	progress := newScanProgress(stderr)
	var warnMu sync.Mutex
	scanner := discovery.Scanner{Workers: cfg.ThreadLimit, Timeout: cfg.ScanTimeout, Allow: allow, OnProgress: progress.update,
		OnMisnamed: func(addr string, claimed peer.ID) {
			warnMu.Lock() // probes run in parallel
			defer warnMu.Unlock()
			fmt.Fprintf(stderr, "appnet: the server at %s greets as peer %s, whose ID names another address: an impostor, left out\n", addr, claimed)
		}}
	hits, err := scanner.Scan(ctx, hosts, cfg.Ports())
	progress.finish()
	if err != nil {
		return err
	}
	clientOpts, err := cfg.ClientOptions()
	if err != nil {
		return err
	}
	infos, errs := discovery.FetchInfos(ctx, hits, cfg.ThreadLimit, 4*cfg.ScanTimeout, clientOpts...)
	for i, h := range hits {
		if errs[i] == nil {
			continue
		}
		errs[i] = explain(errs[i])
		infos[i] = peer.Info{ID: h.ID} // what the scan knows
		infos[i].Host, infos[i].Port = h.Host, h.Port
		if a, err := h.ID.Decode(); err == nil {
			infos[i].Group = a.Group
		}
	}
	if err := printPeers(stdout, infos, *asJSON, *graph); err != nil {
		return err
	}
	if !*asJSON && !*graph {
		fmt.Fprintf(stdout, "%s on %s × %s\n", plural(len(infos), "peer"), plural(len(hosts), "host"), plural(len(cfg.Ports()), "port"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("some peers did not give their info (listed with what the scan knows):\n%w", err)
	}
	return nil
}

// deploymentPeers lists the peers of the NATS deployment of NET_NATS_URL:
// it joins as a peer for a moment and asks.
func deploymentPeers(ctx context.Context, onHost, asJSON, graph bool, stdout io.Writer) error {
	p, err := bus.New(ctx)
	if err != nil {
		return err
	}
	defer p.Close()
	opts := []bus.PeersOption{bus.AllGroups(), bus.Refresh()}
	if onHost {
		opts = append(opts, bus.OnHost())
	}
	found, err := p.Peers(ctx, opts...)
	if err != nil {
		return err
	}
	var infos []peer.Info
	for _, id := range found.IDs() {
		infos = append(infos, found.Peers[id])
	}
	if err := printPeers(stdout, infos, asJSON, graph); err != nil || asJSON || graph {
		return err
	}
	fmt.Fprintf(stdout, "%s on the NATS deployment at %s\n", plural(len(infos), "peer"), serverURL(p))
	return nil
}

// printPeers prints peers as a table, JSON or DOT.
func printPeers(w io.Writer, infos []peer.Info, asJSON, graph bool) error {
	if graph {
		return printGraph(w, infos)
	}
	if asJSON {
		found := discovery.Peers{Peers: map[peer.ID]peer.Info{}, Groups: map[string][]peer.ID{}}
		for _, info := range infos {
			found.Peers[info.ID] = info
			found.Groups[info.Group] = append(found.Groups[info.Group], info.ID)
		}
		return printJSON(w, found)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tHOST\tPORT\tGROUP\tHUB\tROLE\tCONNECTIONS\tVALUES")
	for _, info := range infos {
		var values []string
		for _, k := range slices.Sorted(maps.Keys(info.Values)) {
			values = append(values, k+"="+info.Values[k])
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%t\t%s\t%s\t%s\n", info.ID, info.Host, info.Port, info.Group, info.Hub, info.Role,
			strings.Join(info.Connections, ","), strings.Join(values, ","))
	}
	return tw.Flush()
}

// info prints a peer's info.
func info(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommand("info", stderr)
	via, timeout := callFlags(c)
	if err := c.parse(args, 1, 1); err != nil {
		return err
	}
	out, err := callPeer(ctx, c, *via, *timeout, c.arg(0), peer.ConnInfo, nil)
	if err != nil {
		return err
	}
	return printRaw(stdout, out)
}

// call calls a connection on a peer and prints the JSON answer.
func call(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommand("call", stderr)
	via, timeout := callFlags(c)
	if err := c.parse(args, 2, 3); err != nil {
		return err
	}
	if err := peer.ValidateConnection(c.arg(1)); err != nil {
		return fmt.Errorf("%w: call: %v", errUsage, err)
	}
	var arg []byte
	if len(c.args) == 3 {
		arg = []byte(c.arg(2))
		if !json.Valid(arg) {
			return fmt.Errorf("%w: call: argument %q is not JSON (a string needs quotes: '\"text\"')", errUsage, c.arg(2))
		}
	}
	out, err := callPeer(ctx, c, *via, *timeout, c.arg(0), c.arg(1), arg)
	if err != nil {
		return err
	}
	return printRaw(stdout, out)
}

// callFlags adds the flags of the commands that call a peer.
func callFlags(c *command) (via *string, timeout *time.Duration) {
	via = c.fs.String("via", "", "call through this peer's server (ID, host:port or ID prefix) and its cluster instead of the target's own server")
	timeout = c.fs.Duration("timeout", 0, "give up after this long (default NET_CALL_TIMEOUT)")
	return via, timeout
}

// callPeer calls a peer: through its own server, whose address the ID
// names, or through the server at via, whose cluster routes the call; with
// NET_NATS_URL, through that deployment. It holds no port: it is a client
// of that server.
func callPeer(ctx context.Context, c *command, via string, timeout time.Duration, who, connection string, arg []byte) ([]byte, error) {
	n, err := newNetwork(c)
	if err != nil {
		return nil, err
	}
	cfg := n.cfg
	if timeout <= 0 {
		timeout = cfg.CallTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	target, err := n.resolve(ctx, who)
	if err != nil {
		return nil, err
	}
	addr, err := target.Decode()
	if err != nil {
		return nil, err
	}
	server := net.JoinHostPort(addr.Host, strconv.Itoa(addr.Port))
	where := "its own server at " + server
	if via != "" {
		if server, err = n.address(ctx, via); err != nil {
			return nil, err
		}
		where = "the server at " + server + " (--via) and its cluster"
	}
	url := "nats://" + server
	if cfg.External() && via == "" {
		url, where = cfg.NATSURL, "the NATS deployment (NET_NATS_URL)" // it reaches every peer
	}
	clientOpts, err := cfg.ClientOptions()
	if err != nil {
		return nil, err
	}
	c.note("calling %s on %s through %s", connection, target, where)
	nc, err := nats.Connect(url, append(clientOpts, nats.Name("appnet cli"), nats.Timeout(min(timeout, 2*time.Second)), nats.NoReconnect())...)
	if errors.Is(err, nats.ErrNoServers) {
		if via != "" {
			return nil, fmt.Errorf("%w: nothing answers at %s (--via): no peer runs there", peer.ErrUnreachable, server)
		}
		return nil, fmt.Errorf("%w: %s (%s): nothing answers at %s, where its ID says it runs (the peer has stopped, or runs on a host this one cannot reach; --via P calls through another peer's cluster)",
			peer.ErrUnreachable, target, decoded(target), server)
	}
	if err != nil {
		return nil, explain(fmt.Errorf("connecting to %s for peer %s: %w", where, target, err))
	}
	defer nc.Close()
	caller := peer.NewCaller(nc, peer.NewRegistry(), timeout)
	if via != "" {
		// Through another peer's server: a target that dies mid-call is
		// known by the network's membership, not by the connection.
		if err := caller.WatchGone(); err != nil {
			return nil, err
		}
	}
	return caller.Call(ctx, target, connection, arg)
}

// printRaw prints JSON indented, keeping numbers exactly as they came.
func printRaw(w io.Writer, data []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, data, "", "  "); err != nil {
		buf.Reset()
		buf.Write(data)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
