// Command appnet-bench measures an appnet remote call between two peer
// processes against raw nats.go request-reply and against the Python
// original, on this machine, in one run.
//
// It measures, with a 64-byte JSON argument (a JSON string):
//
//   - appnet: the bench process is the caller peer (bus.Start); a child
//     process runs the responder peer (bus.New); pass_through is called
//     -n times in a row, then -n times from 8 concurrent callers;
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
//     of an appnet call without appnet;
//   - the idle RSS of one peer process (VmRSS of the child once it has
//     settled, before any caller joins).
//
// Each measurement is repeated -reps times, with fresh processes each
// time, and the table shows medians (min..max). The Python figures are
// the constants of the project's ANCHORS.md. The ratios are checked
// against the project's targets.
//
// Run it from the module root:
//
//	go run ./cmd/appnet-bench
//	go run ./cmd/appnet-bench -reps 5 -n 20000
//	go run ./cmd/appnet-bench -only standalone,appnet -cpuprofile /tmp/prof
//
// Every process stays on -host, which must be in 127.0.0.0/8, and on
// ports from -port (the peers use -port..-port+5, the raw servers -port+10,
// -port+12 and -port+20..21; cluster listeners take ephemeral ports). Children are
// the bench binary itself (os.Executable) started with a hidden role
// argument; they are stopped with SIGTERM, then SIGKILL, when the command
// ends, and die with it (parent-death signal, and their stdin closing).
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

	"github.com/appnet-go/appnet/internal/testnet"
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
	var o options
	fs := flag.NewFlagSet("appnet-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.n, "n", 20000, "calls per measurement (sequential, and in all for the concurrent one)")
	fs.IntVar(&o.reps, "reps", 3, "repetitions of every measurement; the table shows medians")
	fs.StringVar(&o.host, "host", "127.0.0.1", "address every process binds: must be in 127.0.0.0/8")
	fs.IntVar(&o.port, "port", 24000, "first port: peers use port..port+5, raw servers port+10, port+12 and port+20..21")
	fs.IntVar(&o.callers, "callers", 8, "concurrent callers of the concurrent measurement")
	fs.DurationVar(&o.timeout, "timeout", 2*time.Minute, "bound of one measurement")
	only := fs.String("only", "", "measure only these scenarios, comma-separated: standalone, direct, routed, routed-inprocess, appnet")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write CPU profiles of the bench process and of every child into this directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	switch {
	case testnet.Loopback(o.host) != nil:
		return fmt.Errorf("-host %q: refusing an address outside 127.0.0.0/8", o.host)
	case o.n < 100 || o.n > 10_000_000:
		return fmt.Errorf("-n %d: want 100..10000000", o.n)
	case o.reps < 1 || o.reps > 100:
		return fmt.Errorf("-reps %d: want 1..100", o.reps)
	case o.port < 1024 || o.port+portSpan > 65535:
		return fmt.Errorf("-port %d: want 1024..%d", o.port, 65535-portSpan)
	case o.callers < 1 || o.callers > 1024:
		return fmt.Errorf("-callers %d: want 1..1024", o.callers)
	case o.timeout <= 0:
		return fmt.Errorf("-timeout %s: want a positive duration", o.timeout)
	}
	var err error
	if o.scenarios, err = selectScenarios(*only); err != nil {
		return err
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
