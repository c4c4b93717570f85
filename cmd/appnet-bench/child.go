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
	"strings"
	"syscall"
	"time"

	"github.com/appnet-go/appnet/bus"
	"github.com/appnet-go/appnet/embedded"
	"github.com/appnet-go/appnet/internal/testnet"
	"github.com/nats-io/nats.go"
)

// childArg is the hidden first argument that makes the binary a child.
const childArg = "__appnet-bench-child"

// Child roles.
const (
	rolePeer = "peer" // an appnet peer from the NET_* environment
	roleRaw  = "raw"  // an embedded server and a raw responder
)

// rawSubject is where raw responders answer.
const rawSubject = "bench.echo"

// childLifetime bounds how long a child runs if nobody stops it.
const childLifetime = 30 * time.Minute

// runChild runs a role until SIGTERM, its stdin closing or childLifetime.
// It prints "ready <fields>" once it serves.
func runChild(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet(childArg, flag.ContinueOnError)
	role := fs.String("role", "", "peer or raw")
	host := fs.String("host", "", "raw: address of the server")
	port := fs.Int("port", 0, "raw: client port of the server")
	inProcess := fs.Bool("inprocess", false, "raw: the responder talks to its server in-process")
	profile := fs.String("cpuprofile", "", "write a CPU profile to this file")
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
	switch *role {
	case rolePeer:
		return childPeer(ctx, stdout)
	case roleRaw:
		return childRaw(ctx, stdout, *host, *port, *inProcess)
	}
	return fmt.Errorf("unknown role %q", *role)
}

// childPeer runs a peer from the NET_* environment.
func childPeer(ctx context.Context, stdout io.Writer) error {
	if err := testnet.Loopback(os.Getenv("NET_HOST")); err != nil {
		return err
	}
	start, cancel := context.WithTimeout(ctx, 10*time.Second)
	p, err := bus.New(start)
	cancel()
	if err != nil {
		return err
	}
	defer p.Close()
	fmt.Fprintf(stdout, "ready %s\n", p.ID())
	<-ctx.Done()
	return nil
}

// childRaw runs an embedded server on host:port and a responder.
func childRaw(ctx context.Context, stdout io.Writer, host string, port int, inProcess bool) error {
	if err := testnet.Loopback(host); err != nil {
		return err
	}
	s, nc, err := rawServer(ctx, host, port, inProcess)
	if err != nil {
		return err
	}
	defer s.Close()
	defer nc.Close()
	if _, err := nc.Subscribe(rawSubject, func(m *nats.Msg) { _ = m.Respond(m.Data) }); err != nil {
		return err
	}
	if err := nc.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ready %s %s\n", s.ClientURL(), s.ClusterURL())
	<-ctx.Done()
	return nil
}

// rawServer starts an embedded server on host:port and a client of it.
func rawServer(ctx context.Context, host string, port int, inProcess bool) (*embedded.Server, *nats.Conn, error) {
	start, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := embedded.Start(start, embedded.Config{Host: host, PortStart: port, PortRange: 0,
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
	cmd   *exec.Cmd
	stdin io.Closer
	ready []string // the fields after "ready"
	done  chan struct{}
	err   error
}

// startChild starts the binary exe as a child with args and env added to
// this environment, and waits (up to 10s) until it prints its ready line.
func startChild(ctx context.Context, exe string, env []string, args ...string) (*child, error) {
	cmd := exec.Command(exe, append([]string{childArg}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = childAttr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	ready := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "ready "); ok {
				select {
				case ready <- strings.Fields(rest):
				default:
				}
			}
		}
		c.err = cmd.Wait()
		close(c.done)
	}()
	wait := time.NewTimer(10 * time.Second)
	defer wait.Stop()
	select {
	case c.ready = <-ready:
		return c, nil
	case <-c.done:
		return nil, fmt.Errorf("child %v exited before it was ready: %v", args, c.err)
	case <-wait.C:
		c.stop()
		return nil, fmt.Errorf("child %v not ready within 10s", args)
	case <-ctx.Done():
		c.stop()
		return nil, ctx.Err()
	}
}

// pid returns the child's process ID.
func (c *child) pid() int { return c.cmd.Process.Pid }

// stop sends the child SIGTERM, then SIGKILL after 3s, and waits for it.
func (c *child) stop() {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(3 * time.Second)
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
		_ = c.cmd.Process.Kill()
		<-c.done
	}
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
