package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/appnet-go/appnet/bus"
	"github.com/appnet-go/appnet/internal/embedded"
	"github.com/appnet-go/appnet/internal/loopback"
	"github.com/appnet-go/appnet/internal/peer"
	"github.com/appnet-go/appnet/internal/proc"
	"github.com/nats-io/nats.go"
)

// childArg is the hidden first argument that makes the binary a child.
const childArg = "__appnet-bench-child"

// Child roles.
const (
	rolePeer = "peer" // an appnet peer from the NET_* environment
	roleRaw  = "raw"  // an embedded server and a raw responder
)

// rawSubject is where raw responders answer; rawAllSubject is where
// every raw group responder answers (scatter-gather).
const (
	rawSubject    = "bench.echo"
	rawAllSubject = "bench.all"
)

// childLifetime bounds how long a child runs if nobody stops it.
const childLifetime = 30 * time.Minute

// runChild runs a role until SIGTERM, its stdin closing or childLifetime.
// It prints "ready <fields>" once it serves, and may print more lines
// (see childPeer, childRaw).
func runChild(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet(childArg, flag.ContinueOnError)
	role := fs.String("role", "", "peer or raw")
	host := fs.String("host", "", "raw: address of the server")
	port := fs.Int("port", 0, "raw: client port of the server")
	inProcess := fs.Bool("inprocess", false, "raw: the client talks to its server in-process")
	profile := fs.String("cpuprofile", "", "write a CPU profile to this file")
	var x childExtras
	fs.Int64Var(&x.at, "at", 0, "peer: call bus.New at this Unix time (ns), not at once")
	fs.IntVar(&x.mesh, "mesh", 0, "peer: print \"meshed\" once this many peers (itself included) answer through its server")
	fs.StringVar(&x.meshHosts, "mesh-hosts", "", "peer: comma-separated hosts whose port range holds the mesh (default: NET_HOST)")
	fs.DurationVar(&x.poll, "poll", 10*time.Millisecond, "peer: interval of the mesh checks")
	fs.StringVar(&x.count, "count", "", "peer: event to count (and <event>.warm); raw: subject to count (and <subject>.warm)")
	fs.IntVar(&x.expect, "expect", 0, "events or messages expected by -count")
	fs.StringVar(&x.queue, "queue", "", "raw: the responder answers "+rawSubject+" in this queue group, and "+rawAllSubject+" too")
	fs.IntVar(&x.scale, "scale", 0, "peer: the scale scenario's network size (see watchScale)")
	fs.BoolVar(&x.appnetPeer, "appnet-peer", false, "raw: instead of a raw responder, run an appnet peer (NET_* environment) that is a TCP client of the server; its ID ends the ready line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *profile != "" {
		stop, err := startProfile(*profile)
		if err != nil {
			return err
		}
		defer stop()
	}
	ctx, cancel := context.WithTimeout(ctx, childLifetime)
	defer cancel()
	go func() { // the parent has gone when stdin closes
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	out := &lineWriter{w: stdout}
	switch *role {
	case rolePeer:
		return childPeer(ctx, out, x)
	case roleRaw:
		return childRaw(ctx, out, *host, *port, *inProcess, x)
	}
	return fmt.Errorf("unknown role %q", *role)
}

// childExtras are the flags of the scenarios beyond the call benchmarks.
type childExtras struct {
	at         int64
	mesh       int
	meshHosts  string
	poll       time.Duration
	count      string
	expect     int
	queue      string
	appnetPeer bool
	scale      int
}

// lineWriter writes whole lines from several goroutines.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineWriter) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format+"\n", args...)
}

// childPeer runs a peer from the NET_* environment. Its ready line is
// "ready <id> <main ns> <bus.New called ns> <bus.New returned ns>" (Unix
// times). With -mesh it then prints "meshed <ns> <peers answering>
// <route names> <route connections>" once enough peers answer through
// its own server; with -count it counts an event (see countEvents).
func childPeer(ctx context.Context, out *lineWriter, x childExtras) error {
	cfg, err := peer.ConfigFromEnv()
	if err != nil {
		return err
	}
	if err := loopback.Check(cfg.Host); err != nil {
		return err
	}
	if x.at > 0 {
		select {
		case <-time.After(time.Until(time.Unix(0, x.at))):
		case <-ctx.Done():
			return nil
		}
	}
	called := time.Now()
	start, cancel := context.WithTimeout(ctx, 10*time.Second)
	p, err := bus.New(start)
	cancel()
	if err != nil {
		return err
	}
	returned := time.Now()
	defer p.Close()
	var counter *eventCounter
	if x.count != "" {
		if counter, err = countEvents(p, x.count, x.expect, out); err != nil {
			return err
		}
	}
	out.printf("ready %s %d %d %d", p.ID(), mainStarted.UnixNano(), called.UnixNano(), returned.UnixNano())
	if x.mesh > 0 {
		go watchMesh(ctx, p, x, out)
	}
	if x.scale > 0 {
		go watchScale(ctx, p, x.scale, out)
	}
	if counter != nil {
		go counter.report(ctx, x.expect, out)
	}
	<-ctx.Done()
	return nil
}

// childRaw runs an embedded server on host:port and a client of it: a
// responder (on rawSubject; with -queue, in that queue group and on
// rawAllSubject too), or with -count a counting subscriber. Its ready line
// is "ready <client URL> <cluster URL>".
func childRaw(ctx context.Context, out *lineWriter, host string, port int, inProcess bool, x childExtras) error {
	if err := loopback.Check(host); err != nil {
		return err
	}
	s, nc, err := rawServer(ctx, host, port, inProcess)
	if err != nil {
		return err
	}
	defer s.Close()
	defer nc.Close()
	var counter *eventCounter
	ready := fmt.Sprintf("ready %s %s", s.ClientURL(), s.ClusterURL())
	switch {
	case x.appnetPeer:
		start, cancel := context.WithTimeout(ctx, 10*time.Second)
		p, err := bus.New(start, peer.WithNATS(s.ClientURL()))
		cancel()
		if err != nil {
			return err
		}
		defer p.Close()
		ready += " " + string(p.ID())
	case x.count != "":
		if counter, err = countRaw(nc, x.count, x.expect, out); err != nil {
			return err
		}
	case x.queue != "":
		echo := func(m *nats.Msg) { _ = m.Respond(m.Data) }
		if _, err := nc.QueueSubscribe(rawSubject, x.queue, echo); err != nil {
			return err
		}
		if _, err := nc.Subscribe(rawAllSubject, echo); err != nil {
			return err
		}
	default:
		if _, err := nc.Subscribe(rawSubject, func(m *nats.Msg) { _ = m.Respond(m.Data) }); err != nil {
			return err
		}
	}
	if err := nc.Flush(); err != nil {
		return err
	}
	out.printf("%s", ready)
	if counter != nil {
		go counter.report(ctx, x.expect, out)
	}
	<-ctx.Done()
	return nil
}

// rawServer starts an embedded server on host:port and a client of it.
func rawServer(ctx context.Context, host string, port int, inProcess bool) (*embedded.Server, *nats.Conn, error) {
	start, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := embedded.Start(start, embedded.Config{Host: host, PortStart: port, PortRange: 0, Hub: true,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return nil, nil, err
	}
	opts := []nats.Option{nats.NoReconnect(), nats.Name("appnet-bench")}
	if inProcess {
		opts = append(opts, nats.InProcessServer(s.NATS()))
	}
	nc, err := nats.Connect(s.ClientURL(), opts...)
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	return s, nc, nil
}

// child is a running child process.
type child struct {
	cmd     *exec.Cmd
	stdin   io.Closer
	started time.Time     // just before the fork
	ready   []string      // the fields after "ready", once waitReady returned
	readyCh chan []string // gets the ready line's fields
	lines   chan []string // every other line's fields (dropped if nobody reads)
	done    chan struct{}
	err     error
}

// startChild starts the binary exe as a child with args and env added to
// this environment, and waits (up to 10s) until it prints its ready line.
func startChild(ctx context.Context, exe string, env []string, args ...string) (*child, error) {
	c, err := launchChild(exe, env, args...)
	if err != nil {
		return nil, err
	}
	if err := c.waitReady(ctx, 10*time.Second); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// launchChild starts a child and returns at once; waitReady waits for it.
func launchChild(exe string, env []string, args ...string) (*child, error) {
	cmd := exec.Command(exe, append([]string{childArg}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = proc.DieWithParent(syscall.SIGKILL)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, stdin: stdin, done: make(chan struct{}),
		readyCh: make(chan []string, 1), lines: make(chan []string, 64)}
	c.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "ready "); ok {
				select {
				case c.readyCh <- strings.Fields(rest):
				default:
				}
				continue
			}
			select {
			case c.lines <- strings.Fields(sc.Text()):
			default:
			}
		}
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// waitReady waits up to limit for the child's ready line.
func (c *child) waitReady(ctx context.Context, limit time.Duration) error {
	wait := time.NewTimer(limit)
	defer wait.Stop()
	select {
	case c.ready = <-c.readyCh:
		return nil
	case <-c.done:
		return fmt.Errorf("child %v exited before it was ready: %v", c.cmd.Args[2:], c.err)
	case <-wait.C:
		return fmt.Errorf("child %v not ready within %s", c.cmd.Args[2:], limit)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitWord waits up to limit for a line of the child that starts with
// one of words and returns that word and the line's other fields.
func (c *child) waitWord(ctx context.Context, limit time.Duration, words ...string) (string, []string, error) {
	wait := time.NewTimer(limit)
	defer wait.Stop()
	for {
		select {
		case f := <-c.lines:
			if len(f) > 0 && slices.Contains(words, f[0]) {
				return f[0], f[1:], nil
			}
		case <-c.done:
			return "", nil, fmt.Errorf("child pid %d exited before saying %q: %v", c.pid(), words, c.err)
		case <-wait.C:
			return "", nil, fmt.Errorf("child pid %d did not say %q within %s", c.pid(), words, limit)
		case <-ctx.Done():
			return "", nil, ctx.Err()
		}
	}
}

// pid returns the child's process ID.
func (c *child) pid() int { return c.cmd.Process.Pid }

// stop sends the child SIGTERM, then SIGKILL after 3s, and waits for it.
func (c *child) stop() {
	proc.Stop(c.cmd.Process, c.done, 3*time.Second)
	_ = c.stdin.Close()
}

// children stops every child it holds, in reverse order of start.
type children []*child

func (cs *children) add(c *child) { *cs = append(*cs, c) }

func (cs *children) stopAll() {
	for i := len(*cs) - 1; i >= 0; i-- {
		(*cs)[i].stop()
	}
	*cs = nil
}

// errChildGone is wrapped by a measurement's error when a child has exited.
var errChildGone = errors.New("child process exited")

// explain wraps err with errChildGone if one of the children has exited.
func (cs children) explain(err error) error {
	for _, c := range cs {
		select {
		case <-c.done:
			return fmt.Errorf("%w (pid %d: %v): %w", errChildGone, c.pid(), c.err, err)
		default:
		}
	}
	return err
}
