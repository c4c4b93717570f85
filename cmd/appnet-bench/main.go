// Command appnet-bench measures appnet on this machine, in one run, next
// to raw nats.go doing the same over the same topology and against the
// Python original's figures.
//
// The call scenarios measure a remote call between two peer processes,
// with a 64-byte JSON argument (a JSON string):
//
//   - appnet: the bench process is the caller peer (bus.Start); a child
//     process runs the responder peer (bus.New); pass_through is called
//     -n times in a row, then -n times from 8 concurrent callers;
//   - appnet-secret: the same with NET_SECRET, so calls go over TLS from
//     the CA the secret derives (the cost of the secret on calls);
//   - raw NATS, standalone: a child process runs one embedded nats-server
//     and a responder that is a TCP client of it; the bench process is a
//     TCP client requester;
//   - raw NATS, direct: the same, but the responder talks to its server
//     in-process, so the requester is a TCP client of the responder's own
//     server (what a call path without the route would cost);
//   - raw NATS, routed: the child's server and one in the bench process
//     are joined by a route, each process a TCP client of its own server;
//   - raw NATS, routed in-process: the same, each process talking to its
//     own server in-process (nats.InProcessServer), which is the topology
//     of an appnet call through the cluster without appnet;
//   - the idle RSS of one peer process (VmRSS of the child once it has
//     settled, before any caller joins).
//
// The other scenarios, each on hosts of its own /27 of -subnet:
//
//   - mesh: 10 peer processes on one host and an 11-port range call
//     bus.New at the same instant; the time until each reaches every
//     other through its own server, and the routes (info.Routes, and the
//     route TCP connections counted in /proc);
//   - join: a peer process started next to a running one, from the fork
//     until bus.New returned and until a call through the running peer's
//     server reaches it; a lone peer process; peer.Start in-process;
//   - memory: the RSS of one idle peer, and of 30 idle peers (5 hosts × 6
//     ports) in one cluster and in 5 clusters of 6;
//   - discovery-host: on-host refresh and cached answer with 5 peers;
//   - discovery-net: the first scan of a /27 with 10 peers on 5 hosts and
//     a silent listener, and a refresh once meshed;
//   - events: one emitter (the bench process) to 1 and to 4 subscriber
//     processes, appnet (bus.Event, events.Subscribe) and raw nats.go,
//     the rate measured at each subscriber;
//   - group: a group call to 3 responder processes (sequential and from
//     8 callers) and a scatter-gather over 5, appnet and raw nats.go.
//
// The call topologies run side by side and are measured in turns, a tenth
// of their calls at a time, so that a busy spell of a shared machine slows
// them alike and their ratios hold. Each measurement is repeated -reps
// times, with fresh processes each time, and the tables show medians
// (min..max). The Python figures are
// the constants of the project's ANCHORS.md. The figures are checked
// against the project's targets.
//
// Run it from the module root:
//
//	go run ./cmd/appnet-bench
//	go run ./cmd/appnet-bench -reps 5 -n 20000
//	go run ./cmd/appnet-bench -only calls
//	go run ./cmd/appnet-bench -only standalone,appnet -cpuprofile /tmp/prof
//	go run ./cmd/appnet-bench -only mesh,join,events
//
// Every process stays on loopback: the call scenarios on -host, which
// must be in 127.0.0.0/8, on ports from -port (the peers use
// -port..-port+5 and, with NET_SECRET, -port+30..-port+35, the raw servers -port+10,
// -port+12, -port+20..21 and -port+22..23);
// the others on -subnet (a /24 of 127.0.0.0/8), on ports -port..-port+25;
// cluster listeners take ephemeral ports. Children are the bench binary
// itself (os.Executable) started with a hidden role argument; they are
// stopped with SIGTERM, then SIGKILL, when their measurement ends, and
// die with the bench (parent-death signal, and their stdin closing).
//
// The source holds a file per scenario (calls.go with topologies.go,
// mesh.go, join.go, memory.go, discovery.go, events.go, group.go,
// scale.go), each with its part of the report, and the plumbing they
// share: child processes (process.go starts them, child.go is their
// side), peers (peers.go: every measured peer is a child in the peer
// role, started from a peerSpec), raw nats.go (raw.go), measurement
// (measure.go, proc_*.go) and the report (report.go, anchors.go).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/appnet-go/appnet/internal/loopback"
)

// options are the command's flags.
type options struct {
	n       int           // calls per measurement
	reps    int           // repetitions of every measurement
	host    string        // loopback address every process binds
	port    int           // first port
	callers int           // concurrent callers
	timeout time.Duration // bound of one measurement (warm-up and calls)

	scenarios  []scenario // what to measure, from -only
	cpuprofile string     // directory for CPU profiles, or ""

	// The other scenarios.
	subnet       [3]byte       // the first three bytes of the -subnet /24
	events       int           // events per events measurement
	gather       int           // scatter-gather calls per measurement
	meshInterval time.Duration // NET_SCAN_INTERVAL of the mesh peers; 0: the library default
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	var err error
	if len(os.Args) > 1 && os.Args[1] == childArg {
		err = runChild(ctx, os.Args[2:], os.Stdout)
	} else {
		err = run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	}
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "appnet-bench:", err)
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, scale, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if scale.sizes != "" {
		return runScaleCommand(ctx, scale, o.port, o.cpuprofile, stdout, stderr)
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	if o.cpuprofile != "" {
		stop, err := startProfile(filepath.Join(o.cpuprofile, "bench.pprof"))
		if err != nil {
			return err
		}
		defer stop()
	}
	res, err := measureAll(ctx, exe, o, stderr)
	if err != nil {
		return err
	}
	printReport(stdout, o, res)
	return nil
}

// scaleFlags are the flags of the scale scenario, which runs alone.
type scaleFlags struct {
	sizes      string
	base       int
	idle       time.Duration
	topology   string
	profileFor time.Duration
	profileAt  time.Duration
}

// parseFlags parses and checks the command's flags.
func parseFlags(args []string, stderr io.Writer) (options, scaleFlags, error) {
	var (
		o     options
		scale scaleFlags
	)
	fs := flag.NewFlagSet("appnet-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.n, "n", 20000, "calls per measurement (sequential, and in all for the concurrent one)")
	fs.IntVar(&o.reps, "reps", 3, "repetitions of every measurement; the table shows medians")
	fs.StringVar(&o.host, "host", "127.0.0.1", "address every process binds: must be in 127.0.0.0/8")
	fs.IntVar(&o.port, "port", 24000, "first port: call peers use port..port+5 and port+30..35, raw servers port+10, port+12 and port+20..23; the other scenarios port..port+25 on -subnet")
	fs.IntVar(&o.callers, "callers", 8, "concurrent callers of the concurrent measurement")
	fs.DurationVar(&o.timeout, "timeout", 2*time.Minute, "bound of one measurement")
	only := fs.String("only", "", "measure only these scenarios, comma-separated: "+scenarioKeys()+"; or the sets calls, discovery")
	subnet := fs.String("subnet", "127.77.0.0/24", "a /24 of 127.0.0.0/8: the hosts of the mesh, join, memory, discovery, events and group scenarios (one /27 each)")
	fs.IntVar(&o.events, "events", 200000, "events emitted per events measurement")
	fs.IntVar(&o.gather, "gather", 2000, "scatter-gather calls per measurement")
	fs.DurationVar(&o.meshInterval, "mesh-scan-interval", 0, "NET_SCAN_INTERVAL of the mesh-formation peers (0: the library default)")
	fs.StringVar(&scale.sizes, "scale", "", "run only the scale scenario, at these network sizes (comma-separated, e.g. 30,100,200): peers over size/10 loopback hosts 127.<scale-base>.<n>.1, with two hubs and with none")
	fs.IntVar(&scale.base, "scale-base", 88, "second byte of the scale scenario's loopback hosts")
	fs.DurationVar(&scale.idle, "scale-idle", 30*time.Second, "how long the scale scenario measures the idle network")
	fs.StringVar(&scale.topology, "scale-topology", "both", "the scale scenario's topologies: hubs (two by configuration), nohub, or both")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write CPU profiles of the bench process and of every child into this directory")
	fs.DurationVar(&scale.profileAt, "scale-profile-after", 0, "with -cpuprofile, how long after its start each peer of the scale scenario starts profiling itself (to profile the idle network)")
	fs.DurationVar(&scale.profileFor, "scale-profile-for", 30*time.Second, "with -cpuprofile, how long each peer of the scale scenario profiles itself from its start")
	if err := fs.Parse(args); err != nil {
		return o, scale, err
	}
	if fs.NArg() > 0 {
		return o, scale, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err := o.check(); err != nil {
		return o, scale, err
	}
	var err error
	if o.subnet, err = parseSubnet(*subnet); err != nil {
		return o, scale, err
	}
	if scale.sizes == "" { // the scale scenario runs alone
		o.scenarios, err = selectScenarios(*only)
	}
	return o, scale, err
}

// check checks the numeric flags and -host.
func (o options) check() error {
	switch {
	case loopback.Check(o.host) != nil:
		return fmt.Errorf("-host %q: refusing an address outside 127.0.0.0/8", o.host)
	case o.n < 100 || o.n > 10_000_000:
		return fmt.Errorf("-n %d: want 100..10000000", o.n)
	case o.reps < 1 || o.reps > 100:
		return fmt.Errorf("-reps %d: want 1..100", o.reps)
	case o.port < 1024 || o.port+max(portSpan, otherPortSpan) > 65535:
		return fmt.Errorf("-port %d: want 1024..%d", o.port, 65535-max(portSpan, otherPortSpan))
	case o.callers < 1 || o.callers > 1024:
		return fmt.Errorf("-callers %d: want 1..1024", o.callers)
	case o.timeout <= 0:
		return fmt.Errorf("-timeout %s: want a positive duration", o.timeout)
	case o.events < 1000 || o.events > 10_000_000:
		return fmt.Errorf("-events %d: want 1000..10000000", o.events)
	case o.gather < 10 || o.gather > 1_000_000:
		return fmt.Errorf("-gather %d: want 10..1000000", o.gather)
	case o.meshInterval < 0:
		return fmt.Errorf("-mesh-scan-interval %s: want 0 or more", o.meshInterval)
	}
	return nil
}

// startProfile starts a CPU profile into path; stop ends it.
func startProfile(path string) (stop func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
