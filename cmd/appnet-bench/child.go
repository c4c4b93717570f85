package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/appnet-go/appnet/bus"
	"github.com/appnet-go/appnet/internal/embedded"
	"github.com/appnet-go/appnet/internal/loopback"
	"github.com/appnet-go/appnet/internal/peer"
)

// childArg is the hidden first argument that makes the binary a child.
const childArg = "__appnet-bench-child"

// Child roles.
const (
	rolePeer = "peer" // an appnet peer from the NET_* environment (peers.go)
	roleRaw  = "raw"  // an embedded server and a raw nats.go client (raw.go)
)

// childLifetime bounds how long a child runs if nobody stops it.
const childLifetime = 30 * time.Minute

// mainStarted is when this process reached its own package's
// initialisation, just before main: a child's "process started" time.
var mainStarted = time.Now()

// childFlags are a child's flags, those of both roles.
type childFlags struct {
	role         string
	profile      string
	profileFor   time.Duration // how long the profile runs, 0 until exit
	profileAfter time.Duration // how long after the start the profile starts
	host         string        // raw: address of the server
	port         int           // raw: client port of the server
	inProcess    bool          // raw: the client talks to its server in-process
	queue        string        // raw: queue group of the responder
	at           int64         // peer: Unix ns to call bus.New at
	mesh         int           // peer: peers to wait for (watchMesh)
	meshHosts    string        // peer: hosts of the mesh
	poll         time.Duration // peer: interval of the mesh checks
	scale        int           // peer: network size of the scale scenario
	standalone   int           // peer: port of a standalone server to run first
	count        string        // event or subject to count
	expect       int           // events or messages expected by count
}

// flagSet returns the flag set that fills x.
func (x *childFlags) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet(childArg, flag.ContinueOnError)
	fs.StringVar(&x.role, "role", "", "peer or raw")
	fs.StringVar(&x.profile, "cpuprofile", "", "write a CPU profile to this file")
	fs.DurationVar(&x.profileFor, "cpuprofile-for", 0, "stop the CPU profile after this long (0: at exit)")
	fs.DurationVar(&x.profileAfter, "cpuprofile-after", 0, "start the CPU profile this long after the process (0: at once)")
	fs.StringVar(&x.host, "host", "", "raw: address of the server")
	fs.IntVar(&x.port, "port", 0, "raw: client port of the server")
	fs.BoolVar(&x.inProcess, "inprocess", false, "raw: the client talks to its server in-process")
	fs.StringVar(&x.queue, "queue", "", "raw: the responder answers "+rawSubject+" in this queue group, and "+rawAllSubject+" too")
	fs.Int64Var(&x.at, "at", 0, "peer: call bus.New at this Unix time (ns), not at once")
	fs.IntVar(&x.mesh, "mesh", 0, "peer: print \"meshed\" once this many peers (itself included) answer through its server")
	fs.StringVar(&x.meshHosts, "mesh-hosts", "", "peer: comma-separated hosts whose port range holds the mesh (default: NET_HOST)")
	fs.DurationVar(&x.poll, "poll", 10*time.Millisecond, "peer: interval of the mesh checks")
	fs.IntVar(&x.scale, "scale", 0, "peer: the scale scenario's network size (see watchScale)")
	fs.IntVar(&x.standalone, "standalone", 0, "peer: first run a standalone server on NET_HOST at this port, and be a TCP client of it (NET_NATS_URL); its URL ends the ready line")
	fs.StringVar(&x.count, "count", "", "peer: event to count (and <event>.warm); raw: subject to count (and <subject>.warm)")
	fs.IntVar(&x.expect, "expect", 0, "events or messages expected by -count")
	return fs
}

// runChild runs a role until SIGTERM, its stdin closing or childLifetime.
// It prints "ready <fields>" once it serves, and may print more lines
// (see childPeer, childRaw).
func runChild(ctx context.Context, args []string, stdout io.Writer) error {
	var x childFlags
	if err := x.flagSet().Parse(args); err != nil {
		return err
	}
	if x.profile != "" {
		stop, err := x.startProfile()
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
	switch x.role {
	case rolePeer:
		return childPeer(ctx, out, x)
	case roleRaw:
		return childRaw(ctx, out, x)
	}
	return fmt.Errorf("unknown role %q", x.role)
}

// startProfile starts the CPU profile of -cpuprofile, now or after
// -cpuprofile-after, for -cpuprofile-for; stop ends it if still running.
func (x *childFlags) startProfile() (stop func(), err error) {
	var (
		mu      sync.Mutex
		stopped bool
		end     = func() {}
	)
	begin := func() error {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return nil
		}
		e, err := startProfile(x.profile)
		end = e
		if err == nil && x.profileFor > 0 {
			time.AfterFunc(x.profileFor, func() { stop() })
		}
		return err
	}
	stop = func() {
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			stopped = true
			end()
		}
	}
	if x.profileAfter > 0 {
		time.AfterFunc(x.profileAfter, func() { _ = begin() })
		return stop, nil
	}
	return stop, begin()
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

// startLimit bounds a child peer's bus.New. A peer of the scale
// scenario starts as `appnet serve` does, without a deadline of its own:
// in a start of 200 processes on 2 cores a peer may look for the network
// for longer than 10 s, and with a deadline it gives up. The bound only
// keeps a child from hanging.
func startLimit(x childFlags) time.Duration {
	if x.scale > 0 {
		return 2 * time.Minute
	}
	return 10 * time.Second
}

// childPeer runs a peer from the NET_* environment. Its ready line is
// "ready <id> <main ns> <bus.New called ns> <bus.New returned ns>" (Unix
// times), and with -standalone the server's client URL after them. With
// -mesh it then prints "meshed <ns> <peers answering> <route names>
// <route connections>" once enough peers answer through its own server;
// with -count it counts an event (see countEvents); with -scale it
// watches its view (see watchScale).
func childPeer(ctx context.Context, out *lineWriter, x childFlags) error {
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
	var opts []peer.Option
	var server string
	if x.standalone > 0 {
		s, err := standaloneServer(ctx, cfg.Host, x.standalone)
		if err != nil {
			return err
		}
		defer s.Close()
		server = " " + s.ClientURL()
		opts = append(opts, peer.WithNATS(s.ClientURL()))
	}
	called := time.Now()
	start, cancel := context.WithTimeout(ctx, startLimit(x))
	p, err := bus.New(start, opts...)
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
	out.printf("ready %s %d %d %d%s", p.ID(), mainStarted.UnixNano(), called.UnixNano(), returned.UnixNano(), server)
	servePeer(ctx, p, x, counter, out)
	return nil
}

// servePeer runs what a ready peer child watches, until ctx ends.
func servePeer(ctx context.Context, p *bus.Peer, x childFlags, counter *eventCounter, out *lineWriter) {
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
}

// standaloneServer starts an embedded server on host:port that is a hub
// (a standalone server of a deployment).
func standaloneServer(ctx context.Context, host string, port int) (*embedded.Server, error) {
	start, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return embedded.Start(start, embedded.Config{Host: host, PortStart: port, PortRange: 0, Hub: true, Logger: warnLogger()})
}
