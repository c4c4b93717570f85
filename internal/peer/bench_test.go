package peer_test

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/embedded"
	"github.com/appnet-go/appnet/internal/peer"
	"github.com/appnet-go/appnet/internal/testnet"
	"github.com/nats-io/nats.go"
)

// The benchmarks below measure a call in one process. The raw NATS anchors
// sit in the same file so that ratios can be read from one run:
//
//	go test -run '^$' -bench . -benchtime 2s ./peer/
//
// Sequential benchmarks also report p50-us and p99-us, the percentiles of
// the per-call latencies of the run.

// benchArg is a 64-byte JSON string: a quote, 62 letters and a quote.
var benchArg = []byte(`"` + strings.Repeat("x", 62) + `"`)

// benchCallers is how many goroutines the parallel benchmarks run.
const benchCallers = 8

// benchPeer starts a peer with the default registry on host in the range
// from port, logging warnings only.
func benchPeer(tb testing.TB, host string, port int) *peer.Peer {
	tb.Helper()
	testnet.MustLoopback(tb, host)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cfg := peer.DefaultLocalConfig()
	cfg.Host, cfg.PortStart = host, port
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{tb}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	p, err := peer.Start(ctx, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Close() })
	return p
}

// testWriter sends log lines to the test's log.
type testWriter struct{ tb testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.tb.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// benchRouted starts two peers on one loopback host, routes the second to
// the first and waits until a call crosses the route: a is the callee, b
// the caller.
func benchRouted(tb testing.TB) (a, b *peer.Peer) {
	tb.Helper()
	host, port := testnet.Host(tb), testnet.Ports(tb)
	a = benchPeer(tb, host, port)
	b = benchPeer(tb, host, port)
	if err := b.Server().AddRoutes(a.Info().Cluster); err != nil {
		tb.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := b.Call(ctx, a.ID(), peer.ConnPassThrough, benchArg)
		cancel()
		if err == nil {
			return a, b
		}
		if time.Now().After(deadline) {
			tb.Fatalf("peer %s never became callable: %v", a.ID(), err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// runSequential calls call b.N times, reporting the latency percentiles.
func runSequential(b *testing.B, call func() error) {
	b.Helper()
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if err := call(); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	reportPercentiles(b, lat)
}

// runParallel calls call from benchCallers goroutines (at least) and
// reports calls/s.
func runParallel(b *testing.B, call func() error) {
	b.Helper()
	b.SetParallelism((benchCallers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	b.ResetTimer()
	var once sync.Once
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := call(); err != nil {
				once.Do(func() { b.Error(err) })
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	at := func(q float64) float64 {
		return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))]) / float64(time.Microsecond)
	}
	b.ReportMetric(at(0.50), "p50-us")
	b.ReportMetric(at(0.99), "p99-us")
}

func checkEcho(out []byte) error {
	if len(out) != len(benchArg) {
		return fmt.Errorf("pass_through answered %d bytes, want %d", len(out), len(benchArg))
	}
	return nil
}

// BenchmarkRemoteCall: one caller, pass_through on a routed peer of the
// same process (in-process client connections, a TCP route between the
// two embedded servers).
func BenchmarkRemoteCall(b *testing.B) {
	a, c := benchRouted(b)
	ctx := context.Background()
	runSequential(b, func() error {
		out, err := c.Call(ctx, a.ID(), peer.ConnPassThrough, benchArg)
		if err != nil {
			return err
		}
		return checkEcho(out)
	})
}

// BenchmarkRemoteCallParallel: as BenchmarkRemoteCall with eight callers.
func BenchmarkRemoteCallParallel(b *testing.B) {
	a, c := benchRouted(b)
	ctx := context.Background()
	runParallel(b, func() error {
		out, err := c.Call(ctx, a.ID(), peer.ConnPassThrough, benchArg)
		if err != nil {
			return err
		}
		return checkEcho(out)
	})
}

// BenchmarkLocalCall: pass_through run here, through the registry and
// through the peer.
func BenchmarkLocalCall(b *testing.B) {
	ctx := context.Background()
	b.Run("Registry", func(b *testing.B) {
		r := peer.NewRegistry()
		b.ReportAllocs()
		for b.Loop() {
			out, err := r.Call(ctx, peer.ConnPassThrough, benchArg)
			if err != nil {
				b.Fatal(err)
			}
			if err := checkEcho(out); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Peer", func(b *testing.B) {
		p := benchPeer(b, testnet.Host(b), testnet.Ports(b))
		b.ReportAllocs()
		for b.Loop() {
			out, err := p.CallLocal(ctx, peer.ConnPassThrough, benchArg)
			if err != nil {
				b.Fatal(err)
			}
			if err := checkEcho(out); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// rawSubject is the subject the raw NATS responders answer on.
const rawSubject = "bench.echo"

// rawServer starts an embedded server alone on a fresh loopback host.
func rawServer(tb testing.TB, host string) *embedded.Server {
	tb.Helper()
	testnet.MustLoopback(tb, host)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := embedded.Start(ctx, embedded.Config{Host: host, PortStart: testnet.Ports(tb), PortRange: 5})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s
}

// rawConn connects to s over TCP, or in-process when inProcess is set.
func rawConn(tb testing.TB, s *embedded.Server, inProcess bool) *nats.Conn {
	tb.Helper()
	opts := []nats.Option{nats.NoReconnect()}
	if inProcess {
		opts = append(opts, nats.InProcessServer(s.NATS()))
	}
	nc, err := nats.Connect(s.ClientURL(), opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	return nc
}

// rawResponder answers every request on rawSubject with its payload.
func rawResponder(tb testing.TB, nc *nats.Conn) {
	tb.Helper()
	if _, err := nc.Subscribe(rawSubject, func(m *nats.Msg) { _ = m.Respond(m.Data) }); err != nil {
		tb.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		tb.Fatal(err)
	}
}

func rawRequest(nc *nats.Conn) error {
	m, err := nc.Request(rawSubject, benchArg, 10*time.Second)
	if err != nil {
		return err
	}
	return checkEcho(m.Data)
}

// waitRawReachable polls until a request from nc is answered.
func waitRawReachable(tb testing.TB, nc *nats.Conn) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := nc.Request(rawSubject, benchArg, time.Second)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("raw responder never answered: %v", err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// BenchmarkRawNATSRequest: the anchor. One embedded server; requester and
// responder are two nats.go TCP clients of it.
func BenchmarkRawNATSRequest(b *testing.B) {
	setup := func(b *testing.B) *nats.Conn {
		s := rawServer(b, testnet.Host(b))
		rawResponder(b, rawConn(b, s, false))
		req := rawConn(b, s, false)
		waitRawReachable(b, req)
		return req
	}
	b.Run("seq", func(b *testing.B) {
		req := setup(b)
		runSequential(b, func() error { return rawRequest(req) })
	})
	b.Run("parallel", func(b *testing.B) {
		req := setup(b)
		runParallel(b, func() error { return rawRequest(req) })
	})
}

// BenchmarkRawNATSRequestRouted: two embedded servers joined by a route;
// the responder is a client of one, the requester of the other, over TCP
// or in-process. In-process is the topology of BenchmarkRemoteCall
// without appnet.
func BenchmarkRawNATSRequestRouted(b *testing.B) {
	setup := func(b *testing.B, inProcess bool) *nats.Conn {
		host := testnet.Host(b)
		s1, s2 := rawServer(b, host), rawServer(b, host)
		if err := s2.AddRoutes(s1.ClusterURL()); err != nil {
			b.Fatal(err)
		}
		rawResponder(b, rawConn(b, s1, inProcess))
		req := rawConn(b, s2, inProcess)
		waitRawReachable(b, req)
		return req
	}
	for _, mode := range []struct {
		name      string
		inProcess bool
	}{{"tcp", false}, {"inprocess", true}} {
		b.Run(mode.name+"/seq", func(b *testing.B) {
			req := setup(b, mode.inProcess)
			runSequential(b, func() error { return rawRequest(req) })
		})
		b.Run(mode.name+"/parallel", func(b *testing.B) {
			req := setup(b, mode.inProcess)
			runParallel(b, func() error { return rawRequest(req) })
		})
	}
}
