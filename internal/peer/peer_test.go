package peer_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/embedded"
	"github.com/appnet-go/appnet/internal/flags"
	"github.com/appnet-go/appnet/internal/peer"
	"github.com/appnet-go/appnet/internal/testnet"
	"github.com/nats-io/nats.go"
)

// startPeer starts a peer on host in the range from port with a registry
// holding the test connections.
func startPeer(t *testing.T, host string, port int, opts ...peer.Option) *peer.Peer {
	t.Helper()
	testnet.MustLoopback(t, host)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cfg := peer.DefaultLocalConfig()
	cfg.Host, cfg.PortStart = host, port
	cfg.Registry = testRegistry(t)
	p, err := peer.Start(ctx, cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func testRegistry(t *testing.T) *peer.Registry {
	r := peer.NewRegistry()
	must(t, r.Register("echo", peer.Func(func(_ context.Context, s string) (string, error) { return s + "!", nil })))
	must(t, r.Register("sum", peer.Func(func(_ context.Context, xs []int) (int, error) {
		n := 0
		for _, x := range xs {
			n += x
		}
		return n, nil
	})))
	must(t, r.Register("fail", peer.Func(func(context.Context, any) (any, error) { return nil, errors.New("it failed") })))
	must(t, r.Register("boom", peer.Func(func(context.Context, any) (any, error) { panic("kaboom") })))
	must(t, r.Register("weird.flag", peer.Func(func(context.Context, any) (any, error) { return nil, flags.Raise("NOT_REGISTERED") })))
	must(t, r.Register("custom.flag", peer.Func(func(context.Context, any) (any, error) { return nil, flags.Raise("RETRY") })))
	must(t, r.Register("slow", peer.Func(func(ctx context.Context, ms int) (string, error) {
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
			return "done", nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	})))
	must(t, r.Flag("RETRY", func(_ context.Context, req flags.Request) (any, error) {
		return "retry " + req.Connection, nil
	}))
	return r
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// routed starts two peers on one host, routes the second to the first and
// waits until a call crosses the route.
func routed(t *testing.T, aOpts ...peer.Option) (a, b *peer.Peer) {
	t.Helper()
	host, port := testnet.Host(t), testnet.Ports(t)
	a = startPeer(t, host, port, aOpts...)
	b = startPeer(t, host, port)
	must(t, b.Server().AddRoutes(a.Info().Cluster))
	waitCallable(t, b, a.ID())
	return a, b
}

// waitCallable polls until from can call info on to through its own
// server and the route (not only over a direct connection), or fails
// after 5s.
func waitCallable(t *testing.T, from *peer.Peer, to peer.ID) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := from.Conn().Request(peer.CallSubject(to, "info"), nil, time.Second)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("peer %s never became callable: %v", to, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestStartBindsFirstFreePortAndSkipsTakenOnes(t *testing.T) {
	t.Parallel()
	host, port := testnet.Host(t), testnet.Ports(t)
	// A plain TCP listener that is not NATS holds the first port.
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	must(t, err)
	defer l.Close()
	a := startPeer(t, host, port)
	b := startPeer(t, host, port)
	if got := a.Info().Port; got != port+1 {
		t.Errorf("first peer port = %d, want %d", got, port+1)
	}
	if got := b.Info().Port; got != port+2 {
		t.Errorf("second peer port = %d, want %d", got, port+2)
	}
	if want := peer.NewID(host, port+1, "None"); a.ID() != want {
		t.Errorf("ID = %s, want %s", a.ID(), want)
	}
}

func TestStartFullRangeIsAClearError(t *testing.T) {
	t.Parallel()
	host, port := testnet.Host(t), testnet.Ports(t)
	for i := 0; i <= 1; i++ {
		l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port+i)))
		must(t, err)
		defer l.Close()
	}
	cfg := peer.DefaultLocalConfig()
	_, err := peer.Start(context.Background(), cfg, peer.WithHost(host), peer.WithPorts(port, 1))
	if !errors.Is(err, embedded.ErrRangeFull) {
		t.Fatalf("err = %v, want ErrRangeFull", err)
	}
	want := fmt.Sprintf("%s:%d..%d", host, port, port+1)
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name the range %s", err, want)
	}
	if !strings.Contains(err.Error(), "NET_PORT_START and NET_PORT_RANGE") {
		t.Errorf("error %q does not say how to give another range", err)
	}
}

// A host that is no address of this machine is a configuration error
// naming NET_HOST, not six "cannot assign requested address" refusals.
// Only a bind is tried (192.0.2.1 is TEST-NET-1): no packet is sent.
func TestStartOnAForeignHostNamesNetHost(t *testing.T) {
	t.Parallel()
	_, err := peer.Start(context.Background(), peer.DefaultLocalConfig(), peer.WithHost("192.0.2.1"), peer.WithPorts(testnet.Ports(t), 5))
	if !errors.Is(err, peer.ErrConfig) || !errors.Is(err, embedded.ErrHostNotLocal) || !strings.Contains(err.Error(), `NET_HOST="192.0.2.1"`) {
		t.Fatalf("err = %v, want ErrConfig and ErrHostNotLocal naming NET_HOST", err)
	}
}

func TestStartRejectsBadConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		opt  peer.Option
		want string
	}{
		{peer.WithGroup("bad group"), "NET_GROUP"},
		{peer.WithGroup("a.b"), "NET_GROUP"},
		{peer.WithPorts(65530, 10), "NET_PORT_RANGE"},
		{peer.WithPorts(0, 5), "NET_PORT_START"},
		{peer.WithHost("not-an-ip"), "NET_HOST"},
	} {
		_, err := peer.Start(context.Background(), peer.DefaultLocalConfig(), peer.WithHost("127.0.0.1"), tc.opt)
		if !errors.Is(err, peer.ErrConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v, want ErrConfig naming %s", err, tc.want)
		}
	}
}

func TestRemoteCallsMatchLocalCalls(t *testing.T) {
	t.Parallel()
	a, b := routed(t)
	ctx := context.Background()
	// The seed's test: every JSON kind comes back the same, locally and remotely.
	for _, arg := range []string{`{"a":1,"b":[true,null]}`, `[1,2,"x"]`, `"text"`, `""`, `null`, `true`, `false`, `1.5`, `42`, ``} {
		remote, err := b.Call(ctx, a.ID(), "pass_through", []byte(arg))
		must(t, err)
		local, err := b.CallLocal(ctx, "pass_through", []byte(arg))
		must(t, err)
		if string(remote) != string(local) {
			t.Errorf("pass_through(%s): remote %s, local %s", arg, remote, local)
		}
	}
	out, err := b.Call(ctx, a.ID(), "echo", []byte(`"hi"`))
	must(t, err)
	if string(out) != `"hi!"` {
		t.Errorf("echo = %s", out)
	}
	out, err = b.Call(ctx, a.ID(), "null", nil)
	must(t, err)
	if string(out) != `"NULL"` {
		t.Errorf("null = %s, want \"NULL\"", out)
	}
	out, err = b.Call(ctx, a.ID(), "custom.flag", nil)
	must(t, err)
	if string(out) != `"retry custom.flag"` {
		t.Errorf("custom flag = %s", out)
	}
	var info peer.Info
	out, err = b.Call(ctx, a.ID(), "info", nil)
	must(t, err)
	must(t, json.Unmarshal(out, &info))
	if info.ID != a.ID() || info.Port != a.Info().Port || info.Group != "None" || len(info.Connections) == 0 || info.Flags == nil {
		t.Errorf("info = %+v", info)
	}
}

func TestBadRequestsGetClearErrorsAndThePeerKeepsServing(t *testing.T) {
	t.Parallel()
	a, b := routed(t)
	ctx := context.Background()
	for _, tc := range []struct {
		conn, arg string
		is        error
		says      string
	}{
		{"sum", `{not json`, peer.ErrBadRequest, "does not decode"},
		{"sum", `"a string"`, peer.ErrBadRequest, "[]int"},
		{"echo", ``, peer.ErrBadRequest, "the call has no argument; the connection takes a string"},
		{"sum", ``, peer.ErrBadRequest, "the call has no argument; the connection takes a []int"},
		{"nope", ``, peer.ErrInvalidConnection, "has no connection \"nope\"; it has: boom, connections"},
		{"fail", ``, peer.ErrRemote, "it failed"},
		{"boom", ``, peer.ErrRemote, "kaboom"},
		{"weird.flag", ``, peer.ErrRemote, "NOT_REGISTERED"},
	} {
		_, err := b.Call(ctx, a.ID(), tc.conn, []byte(tc.arg))
		if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s(%s): err = %v, want %v saying %q", tc.conn, tc.arg, err, tc.is, tc.says)
		}
		out, err := b.Call(ctx, a.ID(), "echo", []byte(`"still"`))
		if err != nil || string(out) != `"still!"` {
			t.Fatalf("peer stopped serving after %s: %s, %v", tc.conn, out, err)
		}
	}
	var re *peer.RemoteError
	_, err := b.Call(ctx, a.ID(), "boom", nil)
	if !errors.As(err, &re) || !strings.Contains(re.Stack, "goroutine") {
		t.Errorf("a panic's stack should reach the caller: %v", err)
	}
	_, err = b.Call(ctx, "garbage!", "info", nil)
	if !errors.Is(err, peer.ErrInvalidID) {
		t.Errorf("garbage ID: err = %v, want ErrInvalidID", err)
	}
	_, err = b.Call(ctx, a.ID(), "bad subject", nil)
	if !errors.Is(err, peer.ErrInvalidName) {
		t.Errorf("bad connection name: err = %v, want ErrInvalidName", err)
	}
}

func TestUnknownFlagInReplyIsACallerError(t *testing.T) {
	t.Parallel()
	a, b := routed(t)
	// b's registry knows RETRY; a caller without it must fail clearly.
	nc, err := nats.Connect(b.Server().ClientURL())
	must(t, err)
	defer nc.Close()
	c := peer.NewCaller(nc, peer.NewRegistry(), time.Second)
	_, err = c.Call(context.Background(), a.ID(), "custom.flag", nil)
	if !errors.Is(err, flags.ErrUnknownFlag) || !strings.Contains(err.Error(), "RETRY") {
		t.Errorf("err = %v, want ErrUnknownFlag naming RETRY", err)
	}
}

func TestCallToAGonePeerFailsFast(t *testing.T) {
	t.Parallel()
	a, b := routed(t)
	gone := a.ID()
	a.Close()
	// Interest for a's subjects leaves with its route; wait for that, then
	// every call must fail at once, not time out.
	deadline := time.Now().Add(5 * time.Second)
	for {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		_, err := b.Call(ctx, gone, "info", nil)
		cancel()
		if errors.Is(err, peer.ErrUnreachable) {
			if d := time.Since(start); d > time.Second {
				t.Errorf("unreachable after %s, want fast", d)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("err = %v, want ErrUnreachable", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// A peer that never existed also fails fast (its address, the last
	// port of b's range, has no server).
	never := peer.NewID(b.Info().Host, b.Info().Port+4, "None")
	_, err := b.Call(context.Background(), never, "info", nil)
	if !errors.Is(err, peer.ErrUnreachable) {
		t.Errorf("err = %v, want ErrUnreachable", err)
	}
}

func TestDeadlineReachesTheHandler(t *testing.T) {
	t.Parallel()
	a, b := routed(t)
	ended := make(chan time.Duration, 1)
	must(t, a.Registry().Register("test.deadline", peer.Func(func(ctx context.Context, _ any) (any, error) {
		start := time.Now()
		select {
		case <-ctx.Done(): // the caller's 50 ms, carried by Net-Timeout
			ended <- time.Since(start)
		case <-time.After(10 * time.Second):
			ended <- -1
		}
		return nil, ctx.Err()
	})))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := b.Call(ctx, a.ID(), "test.deadline", nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want DeadlineExceeded", err)
	}
	select {
	case d := <-ended:
		if d < 0 || d > 5*time.Second {
			t.Errorf("the handler's context ended after %s, want about 50 ms (-1: not within 10 s)", d)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the handler never ran")
	}
}

func TestConcurrentCallsDoNotQueueBehindASlowOne(t *testing.T) {
	t.Parallel()
	a, b := routed(t)
	ctx := context.Background()
	started := make(chan struct{})
	must(t, a.Registry().Register("test.blocking", peer.Func(func(context.Context, any) (any, error) {
		close(started)
		time.Sleep(2 * time.Second)
		return "done", nil
	})))
	slow := make(chan error, 1)
	go func() {
		_, err := b.Call(ctx, a.ID(), "test.blocking", nil)
		slow <- err
	}()
	select { // the slow call runs on a
	case <-started:
	case err := <-slow:
		t.Fatalf("the slow call ended before it started: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the slow call did not start within 10 s")
	}
	start := time.Now()
	_, err := b.Call(ctx, a.ID(), "slow", []byte(`1`))
	must(t, err)
	if d := time.Since(start); d > time.Second {
		t.Errorf("a quick call took %s behind a slow one", d)
	}
	must(t, <-slow)
}

func TestCloseReleasesPortsAndGoroutines(t *testing.T) {
	host, port := testnet.Host(t), testnet.Ports(t)
	before := runtime.NumGoroutine()
	for range 3 {
		p := startPeer(t, host, port)
		if got := p.Info().Port; got != port {
			t.Fatalf("port = %d, want %d: the last Close did not release it", got, port)
		}
		p.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+2 {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines: %d before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestOverlongNamesAreRefusedAndThePeerLives(t *testing.T) {
	t.Parallel()
	a, b := routed(t)
	long := strings.Repeat("a", 5000)
	if _, err := b.Call(context.Background(), a.ID(), long, nil); !errors.Is(err, peer.ErrInvalidName) {
		t.Errorf("a 5000-byte connection name: %v, want ErrInvalidName", err)
	}
	hostile := peer.ID(base64.StdEncoding.EncodeToString([]byte(strings.Repeat("h", 5000) + ":1 -> None")))
	if _, err := b.Call(context.Background(), hostile, "info", nil); !errors.Is(err, peer.ErrInvalidID) {
		t.Errorf("an ID with a 5000-byte host: %v, want ErrInvalidID", err)
	}
	if _, err := peer.Start(context.Background(), peer.DefaultLocalConfig(), peer.WithHost("127.0.0.1"), peer.WithGroup(strings.Repeat("g", 65))); !errors.Is(err, peer.ErrConfig) {
		t.Errorf("a 65-byte group: %v, want ErrConfig", err)
	}
	if _, err := b.Call(context.Background(), a.ID(), "info", nil); err != nil {
		t.Errorf("the caller no longer calls: %v", err)
	}
}
