package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/appnet-go/appnet/bus"
	"github.com/appnet-go/appnet/internal/loopback"
	"github.com/appnet-go/appnet/internal/lower"
	"github.com/appnet-go/appnet/internal/peer"
	"github.com/nats-io/nats.go"
)

// Port offsets from -port.
const (
	peerPortRange    = 5  // peers: port..port+5
	standaloneOffset = 10 // raw standalone server
	directOffset     = 12 // raw direct: the responder's server
	deployOffset     = 14 // appnet on a deployment: its server; the two peers hold ports of the next 5
	routedOffset     = 20 // raw routed: the child's server; the bench's is the next port
	routedInOffset   = 22 // the same, in-process clients
	secretOffset     = 30 // appnet with NET_SECRET: port+30..port+35
	portSpan         = secretOffset + peerPortRange
)

// A scenario is one topology measured.
type scenario struct {
	key   string // its name for -only
	title string // its row in the table
}

// The call scenarios, in the order of the table.
var (
	rawStandalone = scenario{"standalone", "raw NATS, one standalone server (TCP clients)"}
	rawDirect     = scenario{"direct", "raw NATS, requester TCP client of the responder's server (responder in-process)"}
	rawRoutedTCP  = scenario{"routed", "raw NATS, two routed servers (TCP clients)"}
	rawRoutedIn   = scenario{"routed-inprocess", "raw NATS, two routed servers (in-process clients)"}
	appnetCall    = scenario{"appnet", "appnet remote call, two peer processes"}
	appnetDeploy  = scenario{"appnet-deployment", "appnet, both peers clients of one standalone server (NET_NATS_URL)"}
	appnetSecret  = scenario{"appnet-secret", "appnet remote call, two peer processes, NET_SECRET (TLS from its CA)"}
	// The same peers as appnetCall, the caller's context without a
	// deadline: no Net-Timeout header, the serving peer's own limit.
	appnetNoDeadline = scenario{"appnet-nodeadline", "appnet remote call, two peer processes, context without deadline (no Net-Timeout)"}

	callScenarios = []scenario{rawStandalone, rawDirect, rawRoutedTCP, rawRoutedIn, appnetCall, appnetNoDeadline, appnetSecret, appnetDeploy}
	allScenarios  = slices.Concat(callScenarios, extraScenarios)
)

// isCall reports whether sc is one of the call scenarios.
func isCall(sc scenario) bool { return slices.Contains(callScenarios, sc) }

// Aliases -only accepts for sets of scenarios.
var scenarioSets = map[string][]scenario{
	"calls":     callScenarios,
	"discovery": {meshScenario, joinScenario, memoryScenario, discoveryHost, discoveryNet},
}

// selectScenarios returns the scenarios whose keys only lists
// (comma-separated; "calls" and "discovery" stand for sets), or all of
// them when only is empty.
func selectScenarios(only string) ([]scenario, error) {
	if only == "" {
		return allScenarios, nil
	}
	var out []scenario
	add := func(sc scenario) {
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	for _, key := range strings.Split(only, ",") {
		key = strings.TrimSpace(key)
		if set, ok := scenarioSets[key]; ok {
			for _, sc := range set {
				add(sc)
			}
			continue
		}
		i := slices.IndexFunc(allScenarios, func(s scenario) bool { return s.key == key })
		if i < 0 {
			return nil, fmt.Errorf("-only: unknown scenario %q (want some of %s, or the sets calls, discovery)", key, scenarioKeys())
		}
		add(allScenarios[i])
	}
	return out, nil
}

// scenarioKeys lists every scenario's key.
func scenarioKeys() string {
	keys := make([]string, len(allScenarios))
	for i, sc := range allScenarios {
		keys[i] = sc.key
	}
	return strings.Join(keys, ", ")
}

// results holds every sample, by scenario, one per repetition.
type results struct {
	seq, conc map[scenario][]sample
	idleRSS   []int64 // of the responder peer before any caller joined
	loadRSS   []int64 // of the same peer after the calls

	extra extraResults // of the scenarios beyond the call benchmarks

	wall        time.Duration // of the whole run
	otherCPU    float64       // share of the machine's CPUs busy outside this run's processes; -1 if unknown
	load0, load string        // /proc/loadavg before and after
}

// measureAll runs every scenario o.reps times: in each repetition the
// call scenarios together, measured in turns (see runCalls), then the
// others, starting each repetition with a different one so that none is
// always first.
func measureAll(ctx context.Context, exe string, o options, progress io.Writer) (*results, error) {
	res := &results{seq: map[scenario][]sample{}, conc: map[scenario][]sample{}, otherCPU: -1}
	res.load0 = loadAverage()
	start, own0 := time.Now(), ownCPU()
	busy0, busyErr := busyCPU()
	defer func() {
		res.wall = time.Since(start)
		res.load = loadAverage()
		busy1, err := busyCPU()
		if busyErr == nil && err == nil {
			other := (busy1 - busy0) - (ownCPU() - own0)
			res.otherCPU = max(0, float64(other)/float64(res.wall)/float64(runtime.NumCPU()))
		}
	}()
	var calls, others []scenario
	for _, sc := range o.scenarios {
		if isCall(sc) {
			calls = append(calls, sc)
		} else {
			others = append(others, sc)
		}
	}
	for rep := range o.reps {
		if len(calls) > 0 {
			fmt.Fprintf(progress, "rep %d/%d: calls, %d topologies in turns\n", rep+1, o.reps, len(calls))
			if err := runCalls(ctx, exe, o, calls, rep, res); err != nil {
				return nil, fmt.Errorf("rep %d, calls: %w", rep+1, err)
			}
		}
		for i := range others {
			sc := others[(rep+i)%len(others)]
			fmt.Fprintf(progress, "rep %d/%d: %s\n", rep+1, o.reps, sc.title)
			if err := runExtra(ctx, exe, o, sc, res, progress); err != nil {
				return nil, fmt.Errorf("rep %d, %s: %w", rep+1, sc.title, err)
			}
		}
	}
	return res, nil
}

// callRounds is how many turns each call topology takes: its calls are
// made in that many blocks, between blocks of the other topologies, so
// that a slow minute of this shared machine slows every topology alike.
const callRounds = 10

// A topology is one call scenario, set up and ready to measure.
type topology struct {
	sc   scenario
	call callFunc
	pids []int // every process it involves, this one included
}

// runCalls sets up every call scenario of scs at once, then measures them
// in turns: o.n sequential calls each, in callRounds blocks taken round
// robin, then the same with o.callers callers. Its processes stop on every
// path.
func runCalls(ctx context.Context, exe string, o options, scs []scenario, rep int, res *results) error {
	var cs children
	defer cs.stopAll()
	var closers []func()
	defer func() {
		for _, c := range slices.Backward(closers) {
			c()
		}
	}()
	var (
		tops   []topology
		appnet *appnetSetup
	)
	for _, sc := range scs {
		// Children write a CPU profile each when -cpuprofile is set.
		var profile []string
		if o.cpuprofile != "" {
			profile = []string{"-cpuprofile", filepath.Join(o.cpuprofile, fmt.Sprintf("%s-rep%d-child.pprof", sc.key, rep+1))}
		}
		n := len(cs)
		var (
			call    callFunc
			closeFn func()
			err     error
		)
		switch sc {
		case rawStandalone:
			call, closeFn, err = setupRawStandalone(ctx, exe, o, &cs, o.port+standaloneOffset, false, profile)
		case rawDirect:
			call, closeFn, err = setupRawStandalone(ctx, exe, o, &cs, o.port+directOffset, true, profile)
		case rawRoutedTCP:
			call, closeFn, err = setupRawRouted(ctx, exe, o, &cs, false, profile)
		case rawRoutedIn:
			call, closeFn, err = setupRawRouted(ctx, exe, o, &cs, true, profile)
		case appnetCall, appnetNoDeadline:
			if appnet == nil { // the other of the two set it up
				if appnet, err = setupAppnet(ctx, exe, o, &cs, res, profile, o.port, ""); err != nil {
					break
				}
				closeFn = appnet.close
				appnet.pids = append([]int{os.Getpid()}, pidsOf(cs[n:])...)
			}
			call, err = appnet.caller(ctx, sc == appnetCall)
		case appnetSecret:
			var a *appnetSetup
			if a, err = setupAppnet(ctx, exe, o, &cs, nil, profile, o.port+secretOffset, benchSecret); a != nil {
				closeFn = a.close
			}
			if err == nil {
				call, err = a.caller(ctx, true)
			}
		case appnetDeploy:
			var a *appnetSetup
			if a, err = setupAppnetDeployment(ctx, exe, o, &cs, profile); a != nil {
				closeFn = a.close
			}
			if err == nil {
				call, err = a.caller(ctx, true)
			}
		default:
			err = fmt.Errorf("unknown scenario %q", sc.key)
		}
		if closeFn != nil {
			closers = append(closers, closeFn)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", sc.title, err)
		}
		pids := append([]int{os.Getpid()}, pidsOf(cs[n:])...)
		if appnet != nil && (sc == appnetCall || sc == appnetNoDeadline) {
			pids = appnet.pids
		}
		tops = append(tops, topology{sc: sc, call: call, pids: pids})
	}

	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	for _, callers := range []int{1, o.callers} {
		for _, t := range tops {
			if err := warmUp(ctx, t.call, max(200, o.n/10), callers); err != nil {
				return cs.explain(fmt.Errorf("%s: warm-up with %d callers: %w", t.sc.title, callers, err))
			}
		}
		blocks := make([][]block, len(tops))
		size := max(1, o.n/callRounds)
		for round := range callRounds {
			for i := range tops {
				i := (round + i) % len(tops)
				b, err := measureBlock(ctx, tops[i].call, size, callers, tops[i].pids)
				if err != nil {
					return cs.explain(fmt.Errorf("%s, %d callers: %w", tops[i].sc.title, callers, err))
				}
				blocks[i] = append(blocks[i], b)
			}
		}
		into := res.seq
		if callers > 1 {
			into = res.conc
		}
		for i, t := range tops {
			into[t.sc] = append(into[t.sc], summarize(blocks[i]...))
		}
	}
	if appnet != nil {
		if rss, err := readRSS(appnet.childPID); err == nil {
			res.loadRSS = append(res.loadRSS, rss)
		}
	}
	return nil
}

// rawCall is a request-reply as a nats.go user writes it.
func rawCall(nc *nats.Conn) callFunc {
	return func(ctx context.Context) error {
		m, err := nc.RequestWithContext(ctx, rawSubject, payload)
		if err != nil {
			return err
		}
		return checkEcho(m.Data)
	}
}

// waitReady polls call until it succeeds, for at most 5 s.
func waitReady(ctx context.Context, call callFunc) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, cancel := context.WithTimeout(ctx, time.Second)
		err := call(c)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("the responder never answered: %w", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func onLoopback(urls ...string) error {
	for _, u := range urls {
		if err := loopback.Check(u); err != nil {
			return err
		}
	}
	return nil
}

// startRawChild starts a child running a server on port and a responder,
// a TCP client of it or an in-process one, and checks what it says.
func startRawChild(ctx context.Context, exe string, o options, cs *children, port int, inProcess bool, profile []string) (*child, error) {
	args := append([]string{"-role", roleRaw, "-host", o.host, "-port", strconv.Itoa(port)}, profile...)
	if inProcess {
		args = append(args, "-inprocess")
	}
	c, err := startChild(ctx, exe, nil, args...)
	if err != nil {
		return nil, err
	}
	cs.add(c)
	if len(c.ready) != 2 {
		return nil, fmt.Errorf("raw child said %q", c.ready)
	}
	return c, onLoopback(c.ready...)
}

// setupRawStandalone: a child runs a server and a responder, a TCP client
// of it or (inProcess, the "direct" scenario) an in-process one; this
// process is a TCP client requester.
func setupRawStandalone(ctx context.Context, exe string, o options, cs *children, port int, inProcess bool, profile []string) (callFunc, func(), error) {
	c, err := startRawChild(ctx, exe, o, cs, port, inProcess, profile)
	if err != nil {
		return nil, nil, err
	}
	nc, err := nats.Connect(c.ready[0], nats.NoReconnect(), nats.Name("appnet-bench requester"))
	if err != nil {
		return nil, nil, err
	}
	call := rawCall(nc)
	if err := waitReady(ctx, call); err != nil {
		nc.Close()
		return nil, nil, err
	}
	return call, nc.Close, nil
}

// setupRawRouted: a child runs a server and a responder; this process
// runs a server routed to the child's and a requester, each client TCP or
// in-process.
func setupRawRouted(ctx context.Context, exe string, o options, cs *children, inProcess bool, profile []string) (callFunc, func(), error) {
	port := o.port + routedOffset
	if inProcess {
		port = o.port + routedInOffset
	}
	c, err := startRawChild(ctx, exe, o, cs, port, inProcess, profile)
	if err != nil {
		return nil, nil, err
	}
	s, nc, err := rawServer(ctx, o.host, port+1, inProcess)
	if err != nil {
		return nil, nil, err
	}
	closeFn := func() { nc.Close(); s.Close() }
	if err := s.AddRoutes(c.ready[1]); err != nil {
		closeFn()
		return nil, nil, err
	}
	call := rawCall(nc)
	if err := waitReady(ctx, call); err != nil {
		closeFn()
		return nil, nil, err
	}
	return call, closeFn, nil
}

// appnetSetup is the appnet topology: a responder peer in a child and
// the caller peer in this process.
type appnetSetup struct {
	p        *bus.Peer
	target   peer.ID
	childPID int   // the responder's
	pids     []int // every process of the calls, this one included
}

// benchSecret is the NET_SECRET of the appnet-secret scenario.
const benchSecret = "appnet-bench-secret"

// setupAppnet: a child runs the responder peer on the range from port;
// once it has settled, its RSS is read into res (if not nil); then this
// process starts the caller peer, which meshes with it by scanning the
// host's port range. Both share secret, if set.
func setupAppnet(ctx context.Context, exe string, o options, cs *children, res *results, profile []string, port int, secret string) (*appnetSetup, error) {
	env := peerEnv(o.host, port, peerPortRange)
	if secret != "" {
		env = append(env, "NET_SECRET="+secret)
	}
	c, err := startChild(ctx, exe, env, append([]string{"-role", rolePeer}, profile...)...)
	if err != nil {
		return nil, err
	}
	cs.add(c)
	a := &appnetSetup{childPID: c.pid()}
	if len(c.ready) < 1 {
		return nil, fmt.Errorf("peer child said %q", c.ready)
	}
	if a.target, err = peer.ParseID(c.ready[0]); err != nil {
		return nil, err
	}
	if res != nil {
		rss, err := settledRSS(ctx, c.pid())
		if err != nil {
			return nil, fmt.Errorf("idle RSS: %w", err)
		}
		res.idleRSS = append(res.idleRSS, rss)
	}
	a.p, err = startCaller(ctx, func(cfg *peer.Config) {
		cfg.Host, cfg.PortStart, cfg.PortRange, cfg.Scan, cfg.Secret = o.host, port, peerPortRange, o.host, peer.Redacted(secret)
	})
	return a, err
}

// setupAppnetDeployment: raw standalone's topology with appnet on both
// ends. A child runs a standalone server and the responder peer, a TCP
// client of it (NET_NATS_URL); this process runs the caller peer, a TCP
// client of it too.
func setupAppnetDeployment(ctx context.Context, exe string, o options, cs *children, profile []string) (*appnetSetup, error) {
	env := []string{
		"NET_HOST=" + o.host,
		"NET_PORT_START=" + strconv.Itoa(o.port+deployOffset+1),
		"NET_PORT_RANGE=4",
	}
	args := append([]string{"-role", roleRaw, "-host", o.host, "-port", strconv.Itoa(o.port + deployOffset), "-appnet-peer"}, profile...)
	c, err := startChild(ctx, exe, env, args...)
	if err != nil {
		return nil, err
	}
	cs.add(c)
	if len(c.ready) != 3 {
		return nil, fmt.Errorf("server and peer child said %q", c.ready)
	}
	if err := onLoopback(c.ready[0]); err != nil {
		return nil, err
	}
	a := &appnetSetup{childPID: c.pid()}
	if a.target, err = peer.ParseID(c.ready[2]); err != nil {
		return nil, err
	}
	url := c.ready[0]
	a.p, err = startCaller(ctx, func(cfg *peer.Config) {
		cfg.Host, cfg.PortStart, cfg.PortRange, cfg.NATSURL = o.host, o.port+deployOffset+1, 4, url
	})
	return a, err
}

// startCaller starts the caller peer in this process: the defaults, a
// registry of its own, warnings on stderr, and where set.
func startCaller(ctx context.Context, where peer.Option) (*bus.Peer, error) {
	cfg := peer.DefaultLocalConfig()
	cfg.Registry = peer.NewRegistry()
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	start, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return bus.Start(start, cfg, where)
}

// pidsOf returns the process IDs of children.
func pidsOf(cs []*child) []int {
	var out []int
	for _, c := range cs {
		out = append(out, c.pid())
	}
	return out
}

func (a *appnetSetup) close() {
	if a.p != nil {
		a.p.Close()
	}
}

// caller returns a call of the responder's pass_through, once it answers:
// with the measurement's context, which has a deadline (the run's
// timeout), or without one, so that no Net-Timeout is sent.
func (a *appnetSetup) caller(ctx context.Context, deadline bool) (callFunc, error) {
	call := func(ctx context.Context) error {
		if !deadline {
			ctx = context.Background()
		}
		out, err := lower.Peer(a.p).Call(ctx, a.target, peer.ConnPassThrough, payload)
		if err != nil {
			return err
		}
		return checkEcho(out)
	}
	return call, waitReady(ctx, call)
}

// loadAverage returns the first three fields of /proc/loadavg, or "?".
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
