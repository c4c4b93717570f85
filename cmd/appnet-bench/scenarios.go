package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/appnet-go/appnet/internal/loopback"
)

// A scenario is one topology measured.
type scenario struct {
	key   string // its name for -only
	title string // its row in the table
}

// The call scenarios (calls.go), in the order of the table.
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
)

// The other scenarios, a file each. Each runs on hosts of its own /27 of
// -subnet, on ports from -port.
var (
	meshScenario   = scenario{"mesh", "mesh formation: 10 peer processes started at one instant"}
	joinScenario   = scenario{"join", "join: a peer process started next to a running one"}
	memoryScenario = scenario{"memory", "memory: one idle peer, 30 idle peers on 5 hosts"}
	discoveryHost  = scenario{"discovery-host", "on-host discovery with 5 peer processes"}
	discoveryNet   = scenario{"discovery-net", "network discovery of a /27: 10 peer processes on 5 hosts, a silent listener"}
	eventsScenario = scenario{"events", "events: one emitter to 1 and to 4 subscriber processes"}
	groupScenario  = scenario{"group", "group calls: 3 responder processes, scatter-gather over 5"}

	otherScenarios = []scenario{meshScenario, joinScenario, memoryScenario, discoveryHost, discoveryNet, eventsScenario, groupScenario}
	allScenarios   = slices.Concat(callScenarios, otherScenarios)
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

// selected reports whether the run measures sc.
func selected(o options, sc scenario) bool { return slices.Contains(o.scenarios, sc) }

// The /27 block of -subnet each of the other scenarios uses.
const (
	meshBlock = iota
	joinBlock
	memoryBlock
	discoveryHostBlock
	discoveryNetBlock
	eventsBlock
	groupBlock
)

// otherPortSpan is how far above -port the other scenarios bind (the
// mesh's range of 11 ports, raw servers at port+20..port+25).
const otherPortSpan = 25

// parseSubnet checks a /24 (or larger block) of 127.0.0.0/8 and returns
// the first three bytes of its first /24.
func parseSubnet(s string) ([3]byte, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() || p.Bits() > 24 || loopback.Check(s) != nil {
		return [3]byte{}, fmt.Errorf("-subnet %q: want a /24 (or larger) block inside 127.0.0.0/8", s)
	}
	a := p.Masked().Addr().As4()
	return [3]byte{a[0], a[1], a[2]}, nil
}

// subnetHost returns host i (1..30) of /27 block b of -subnet.
func (o options) subnetHost(b, i int) string {
	return fmt.Sprintf("%d.%d.%d.%d", o.subnet[0], o.subnet[1], o.subnet[2], 32*b+i)
}

// subnetBlock returns /27 block b of -subnet in CIDR notation.
func (o options) subnetBlock(b int) string {
	return fmt.Sprintf("%d.%d.%d.%d/27", o.subnet[0], o.subnet[1], o.subnet[2], 32*b)
}

// results holds every sample, by scenario, one per repetition (or more).
type results struct {
	calls     callResults
	mesh      []meshSample
	join      joinResults
	memory    memoryResults
	discovery discoveryResults
	events    map[eventsKey][]eventsSample
	group     map[string][]sample // by groupKind

	wall        time.Duration // of the whole run
	otherCPU    float64       // share of the machine's CPUs busy outside this run's processes; -1 if unknown
	load0, load string        // /proc/loadavg before and after
}

// measureAll runs every scenario o.reps times: in each repetition the
// call scenarios together, measured in turns (see runCalls), then the
// others, starting each repetition with a different one so that none is
// always first.
func measureAll(ctx context.Context, exe string, o options, progress io.Writer) (*results, error) {
	res := &results{
		calls:  callResults{seq: map[scenario][]sample{}, conc: map[scenario][]sample{}},
		events: map[eventsKey][]eventsSample{}, group: map[string][]sample{},
		otherCPU: -1,
	}
	defer noteNoise(res)()
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
			if err := runCalls(ctx, exe, o, calls, rep, &res.calls); err != nil {
				return nil, fmt.Errorf("rep %d, calls: %w", rep+1, err)
			}
		}
		for i := range others {
			sc := others[(rep+i)%len(others)]
			fmt.Fprintf(progress, "rep %d/%d: %s\n", rep+1, o.reps, sc.title)
			if err := runScenario(ctx, exe, o, sc, res, progress); err != nil {
				return nil, fmt.Errorf("rep %d, %s: %w", rep+1, sc.title, err)
			}
		}
	}
	return res, nil
}

// noteNoise notes the load average and the machine's CPU time now; the
// function it returns notes them again, with the run's wall time, and
// the share of the CPUs busy outside this run's processes meanwhile.
func noteNoise(res *results) func() {
	res.load0 = loadAverage()
	start, own0 := time.Now(), ownCPU()
	busy0, busyErr := busyCPU()
	return func() {
		res.wall = time.Since(start)
		res.load = loadAverage()
		busy1, err := busyCPU()
		if busyErr == nil && err == nil {
			other := (busy1 - busy0) - (ownCPU() - own0)
			res.otherCPU = max(0, float64(other)/float64(res.wall)/float64(runtime.NumCPU()))
		}
	}
}

// runScenario runs one of the scenarios other than the calls. Each
// measurement is bounded by o.timeout: the whole scenario, or each run
// of the events and group scenarios, which make several.
func runScenario(ctx context.Context, exe string, o options, sc scenario, res *results, progress io.Writer) error {
	switch sc {
	case eventsScenario:
		return runEvents(ctx, exe, o, res.events, progress)
	case groupScenario:
		return runGroup(ctx, exe, o, res.group)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	switch sc {
	case meshScenario:
		return runMesh(ctx, exe, o, &res.mesh)
	case joinScenario:
		return runJoin(ctx, exe, o, &res.join)
	case memoryScenario:
		return runMemory(ctx, exe, o, &res.memory)
	case discoveryHost:
		return runDiscoveryHost(ctx, exe, o, &res.discovery)
	case discoveryNet:
		return runDiscoveryNet(ctx, exe, o, &res.discovery)
	}
	return fmt.Errorf("unknown scenario %q", sc.key)
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
