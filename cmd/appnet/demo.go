package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/appnet-go/appnet/bus"
	"github.com/appnet-go/appnet/internal/lower"
	"github.com/appnet-go/appnet/internal/peer"
	"github.com/appnet-go/appnet/internal/proc"
)

// demoPeerCommand is the hidden command the demo starts its peers with.
const demoPeerCommand = "demo-peer"

// contract is the demo's shared coding contract: what every demo process
// registers, as app.go does in the examples.
type contract struct {
	greet    *bus.Connection[string, string]
	shout    *bus.Connection[string, string]
	lookup   *bus.Connection[string, int]
	announce *bus.Connection[string, bool]
}

// newsEvent is the event the announce connection emits.
const newsEvent = "demo.news"

var news = bus.NewEvent[string](newsEvent, nil)

var ages = map[string]int{"ada": 36, "alan": 41}

// shout is registered without a tag: its name is derived, "main.shout".
func shout(_ context.Context, s string) (string, error) { return strings.ToUpper(s) + "!", nil }

func newContract(version int) (contract, error) {
	// A flag is part of the contract: the answering peer checks that it
	// exists, the caller resolves it.
	err := bus.Flag("NOT_FOUND", func(_ context.Context, r bus.FlagRequest) (any, error) {
		return -1, nil
	})
	return contract{
		greet: bus.Connect("demo.greet", func(_ context.Context, name string) (string, error) {
			return fmt.Sprintf("Hello, %s! (version %d)", name, version), nil
		}),
		shout: bus.Connect("", shout),
		lookup: bus.Connect("demo.lookup", func(_ context.Context, name string) (int, error) {
			age, ok := ages[strings.ToLower(name)]
			if !ok {
				return 0, bus.Raise("NOT_FOUND")
			}
			return age, nil
		}),
		// announce emits an event from the peer that runs it.
		announce: bus.Connect("demo.announce", func(ctx context.Context, text string) (bool, error) {
			p, ok := bus.FromContext(ctx)
			if !ok {
				return false, fmt.Errorf("announce: no peer runs here")
			}
			return true, news.Via(p).Emit(text)
		}),
	}, err
}

// demoPeer runs one demo peer: the contract at the given version.
func demoPeer(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommand(demoPeerCommand, stderr)
	version := c.fs.Int("version", 1, "version of the contract to serve")
	withStdin := c.fs.Bool("exit-with-stdin", false, "stop when standard input ends (the demo holds it open)")
	if err := c.parse(args, 0, 0); err != nil {
		return err
	}
	if _, err := newContract(*version); err != nil {
		return err
	}
	if *withStdin {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		go func() { _, _ = io.Copy(io.Discard, os.Stdin); cancel() }()
	}
	p, err := bus.New(ctx)
	if err != nil {
		return err
	}
	defer p.Close()
	return announce(ctx, p, stdout)
}

// demo starts three peers as processes, finds them, calls across them and
// stops them, saying what happens at each step. Its peers form a group of
// their own, so that other peers on the host neither answer its group
// calls nor show up in its discovery; its own peer attaches to the first
// of them and holds no port.
func demo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := newCommand("demo", stderr)
	if err := cmd.parse(args, 0, 0); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	// A reader that stops early (`appnet demo | head`) must not kill the
	// demo before it stops its peers: with SIGPIPE ignored, writes fail
	// instead.
	signal.Ignore(syscall.SIGPIPE)
	cfg, err := peer.ConfigFromEnv()
	if err != nil {
		return err
	}
	// The demo stays on loopback: NET_HOST is honoured only inside 127.0.0.0/8.
	if a, err := netip.ParseAddr(cfg.Host); err != nil || !a.IsLoopback() {
		cfg.Host = "127.0.0.1"
	}
	cfg.Scan = cfg.Host
	cfg.Group = fmt.Sprintf("demo-%d", os.Getpid())
	cfg.NATSURL, cfg.NATSCreds = "", "" // a LAN demo, whatever deployment the shell names
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	say := func(format string, a ...any) { fmt.Fprintf(stdout, format+"\n", a...) }

	say("== appnet demo: three peers of group %s on %s, each a separate process (ports %d..%d)", cfg.Group, cfg.Host, cfg.PortStart, cfg.PortStart+cfg.PortRange)
	var children []*child
	defer func() {
		for _, c := range children {
			c.stop()
		}
	}()
	for i, version := range []int{1, 1, 2} {
		c, err := startChild(ctx, exe, cfg, version)
		if err != nil {
			return fmt.Errorf("starting peer %d: %w", i+1, err)
		}
		children = append(children, c)
		say("   peer%d  pid %-7d version %d  %s  (%s)", i+1, c.cmd.Process.Pid, version, c.id, decoded(c.id))
	}

	c, err := newContract(1)
	if err != nil {
		return err
	}
	first, _ := children[0].id.Decode()
	me, err := bus.Attach(ctx, cfg, net.JoinHostPort(first.Host, strconv.Itoa(first.Port)))
	if err != nil {
		return fmt.Errorf("attaching the demo's own peer to peer1: %w", err)
	}
	defer me.Close()

	say("\n== discovery: bus.Peers(ctx, bus.OnHost()) from the demo's own peer %s,", decoded(me.ID()))
	say("   a client of peer1's server (it holds no port)")
	start := time.Now()
	found, err := me.Peers(ctx, bus.OnHost(), bus.Refresh())
	if err != nil {
		return err
	}
	say("   found %d peers of group %s in %s:", len(found.Peers), cfg.Group, time.Since(start).Round(time.Microsecond))
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for _, id := range found.IDs() {
		info := found.Peers[id]
		fmt.Fprintf(tw, "   %s:%d\t%s\tgroup %s\t%d connections\n", info.Host, info.Port, id, info.Group, len(info.Connections))
	}
	tw.Flush()

	say("\n== a tagged connection, \"demo.greet\", on each peer and locally")
	for i, ch := range children {
		out, err := c.greet.On(ch.id).Via(me).Call(ctx, "Ada")
		report(say, fmt.Sprintf("peer%d  greet(\"Ada\")", i+1), out, err)
	}
	out, err := c.greet.Call(ctx, "Ada")
	report(say, "local  greet(\"Ada\")", out, err)

	say("\n== an untagged connection, registered as %q", c.shout.Name())
	out, err = c.shout.On(children[1].id).Via(me).Call(ctx, "hello")
	report(say, "peer2  shout(\"hello\")", out, err)

	say("\n== flags: the peer answers with a flag, the caller's handler decides the result")
	age, err := c.lookup.On(children[2].id).Via(me).Call(ctx, "Alan")
	report(say, "peer3  lookup(\"Alan\")", age, err)
	age, err = c.lookup.On(children[2].id).Via(me).Call(ctx, "Grace")
	report(say, "peer3  lookup(\"Grace\") -> flag NOT_FOUND -> caller's handler", age, err)
	raw, err := lower.Peer(me).Call(ctx, children[0].id, peer.ConnNull, nil)
	var null string
	if err == nil {
		null, err = peer.Decode[string](raw)
	}
	report(say, "peer1  null -> flag NULL", null, err)

	say("\n== events: the demo subscribes to %q; peer2 emits it", newsEvent)
	heard := make(chan bus.Delivery[string], 1)
	sub, err := news.Via(me).Subscribe(func(_ context.Context, d bus.Delivery[string]) {
		select {
		case heard <- d:
		default:
		}
	})
	if err != nil {
		return err
	}
	defer sub.Close()
	_, err = c.announce.On(children[1].id).Via(me).Call(ctx, "extra, extra")
	report(say, "peer2  announce(\"extra, extra\")", "emitted", err)
	select {
	case d := <-heard:
		say("   heard %q from %s", d.Value, decoded(d.From))
	case <-time.After(5 * time.Second):
		return fmt.Errorf("the event from peer2 never arrived")
	}

	say("\n== a group call and a scatter-gather over group %q", cfg.Group)
	out, from, err := c.greet.OnGroup(cfg.Group).Via(me).Call(ctx, "Grace")
	report(say, "any one  greet(\"Grace\") answered by "+decoded(from), out, err)
	answers, err := c.greet.OnGroup(cfg.Group).Via(me).All(ctx, "Grace")
	if err != nil {
		return err
	}
	say("   every peer of the group answered: %d answers", len(answers))
	for _, a := range answers {
		report(say, "   from "+decoded(a.Peer), a.Value, a.Err)
	}

	say("\n== an unknown connection: the INVALID_CONNECTION flag becomes a clear error")
	_, err = lower.Peer(me).Call(ctx, children[0].id, "no.such.connection", nil)
	report(say, "peer1  no.such.connection", nil, err)
	if !errors.Is(err, bus.ErrInvalidConnection) {
		return fmt.Errorf("unknown connection: got %v, want ErrInvalidConnection", err)
	}

	say("\n== stopping the peers (peer1 last: the demo's own peer is a client of its server)")
	for i := len(children) - 1; i >= 1; i-- {
		children[i].stop()
		say("   peer%d stopped (%s)", i+1, children[i].exit())
	}
	_, err = lower.Peer(me).Call(ctx, children[1].id, peer.ConnInfo, nil)
	report(say, "a call to a stopped peer (peer2)", nil, err)
	if !errors.Is(err, bus.ErrUnreachable) {
		return fmt.Errorf("a call to the stopped peer2: got %v, want ErrUnreachable", err)
	}
	children[0].stop()
	say("   peer1 stopped (%s)", children[0].exit())
	children = nil
	say("\ndone: inspect a live network with `nats micro list` against any peer (see the README)")
	return nil
}

func report(say func(string, ...any), what string, out any, err error) {
	if err != nil {
		say("   %-46s error: %v", what, err)
		return
	}
	say("   %-46s -> %#v", what, out)
}

func decoded(id peer.ID) string {
	a, err := id.Decode()
	if err != nil {
		return "?"
	}
	return a.String()
}

// child is a demo peer process.
type child struct {
	cmd   *exec.Cmd
	stdin io.Closer
	id    peer.ID
	done  chan struct{}
	err   error
}

// startChild starts a demo peer and waits until it says it is ready.
func startChild(ctx context.Context, exe string, cfg peer.Config, version int) (*child, error) {
	cmd := exec.Command(exe, demoPeerCommand, fmt.Sprintf("--version=%d", version), "--exit-with-stdin")
	// The peer ends when the demo does, however it ends: its standard input
	// is a pipe from the demo, and on Linux it also gets the parent-death
	// signal.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	cmd.SysProcAttr = proc.DieWithParent(syscall.SIGTERM)
	cmd.Env = append(os.Environ(),
		"NET_HOST="+cfg.Host,
		fmt.Sprintf("NET_PORT_START=%d", cfg.PortStart),
		fmt.Sprintf("NET_PORT_RANGE=%d", cfg.PortRange),
		"NET_SCAN="+cfg.Scan,
		"NET_GROUP="+cfg.Group,
		"NET_NATS_URL=", "NET_NATS_CREDS=",
	)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	ready := make(chan peer.ID, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if id, ok := strings.CutPrefix(sc.Text(), "ready "); ok {
				ready <- peer.ID(id)
			}
		}
		c.err = cmd.Wait()
		close(c.done)
	}()
	select {
	case c.id = <-ready:
		return c, nil
	case <-c.done:
		return nil, fmt.Errorf("peer process exited before it was ready: %v", c.err)
	case <-ctx.Done():
		c.stop()
		return nil, fmt.Errorf("peer process not ready: %w", ctx.Err())
	}
}

// stop interrupts the process and waits for it, killing it after 5s.
func (c *child) stop() { proc.Stop(c.cmd.Process, c.done, 5*time.Second) }

func (c *child) exit() string {
	if c.err != nil {
		return c.err.Error()
	}
	return "exit 0"
}
