package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/appnet-go/appnet/internal/discovery"
	"github.com/appnet-go/appnet/internal/peer"
	"github.com/appnet-go/appnet/internal/testnet"
	"github.com/nats-io/nats.go"
)

// How a hostile request is sent.
const (
	viaGo          = "nats.go"   // a request with a plain nats.go client
	viaPublish     = "publish"   // a plain publish: no reply subject
	viaCLI         = "nats CLI"  // `nats request`
	viaRaw         = "raw TCP"   // bytes written on a fresh TCP connection after CONNECT
	natsMaxPayload = 1024 * 1024 // the NATS default, which peers keep
)

// answer is what a request came back with, however it was sent.
type hostileAnswer struct {
	err   string // the client's refusal, no responders, a timeout, or the server's -ERR
	code  string // Nats-Service-Error-Code
	desc  string // Nats-Service-Error
	flag  string // Net-Flag
	data  []byte
	spent time.Duration
}

func (a hostileAnswer) String() string {
	return fmt.Sprintf("err %q code %q flag %q desc %q body %q (%s)", a.err, a.code, a.flag, a.desc, clip(a.data), a.spent)
}

func clip(b []byte) string {
	if len(b) > 100 {
		return fmt.Sprintf("%s... (%d bytes)", b[:100], len(b))
	}
	return string(b)
}

// hostileRow is one hostile request and what must come of it.
type hostileRow struct {
	name    string
	via     string
	subject string
	data    []byte
	header  nats.Header
	timeout time.Duration // default 5s

	err    string // substring of the error; empty: no error
	code   int    // the error code header; 0: none
	flag   string // the flag header; empty: none
	desc   string // substring of the error description
	body   string // the exact body, unless echo; empty: no body
	echo   bool   // the body is the request's data
	fast   bool   // the answer comes within a second
	verify func(t *testing.T, a hostileAnswer)
}

func TestHostileRequestsGetClearAnswersAndThePeerKeepsServing(t *testing.T) {
	t.Parallel()
	host, port, env := netEnv(t)
	p := start(t, "appnet", env, "demo-peer", "--version=1")
	id := peer.ID(p.waitLine("ready ", 10*time.Second))
	url := peerURL(t, string(id))
	nc := dialNATS(t, url)
	other := peer.NewID(host, port+3, "None") // a peer that is not running
	subject := func(c string) string { return peer.CallSubject(id, c) }
	forged := nats.Header{
		peer.HeaderFlag:      []string{"NULL"},
		peer.HeaderErrorCode: []string{"500"},
		peer.HeaderError:     []string{"forged failure"},
	}
	nested := strings.Repeat("[", 100_000)
	balanced := nested + strings.Repeat("]", 100_000)
	longName := strings.Repeat("x", 3000)

	rows := []hostileRow{
		// Empty and null arguments are the zero value of the argument type.
		// A missing argument is a 400, not a zero value nobody asked for.
		{name: "empty payload to a typed connection", via: viaGo, subject: subject("demo.greet"),
			code: 400, desc: "the call has no argument; the connection takes a string"},
		{name: "empty payload to a connection that raises a flag", via: viaGo, subject: subject("demo.lookup"),
			code: 400, desc: "the call has no argument; the connection takes a string"},
		{name: "JSON null to a typed connection", via: viaGo, subject: subject("demo.greet"), data: []byte("null"), body: `"Hello, ! (version 1)"`},
		{name: "empty payload via CLI", via: viaCLI, subject: subject("demo.greet"),
			code: 400, desc: "the call has no argument; the connection takes a string"},

		// Size.
		{name: "payload just under the max payload echoes", via: viaGo, subject: subject("pass_through"),
			data: []byte(`"` + strings.Repeat("a", natsMaxPayload-1024) + `"`), echo: true},
		{name: "payload past the max payload is refused by the client", via: viaGo, subject: subject("pass_through"),
			data: bytes.Repeat([]byte("a"), natsMaxPayload+1), err: "maximum payload exceeded", fast: true},
		{name: "payload past the max payload via CLI", via: viaCLI, subject: subject("pass_through"),
			data: []byte(`"{{ Random 1100000 1100000 }}"`), err: "maximum payload exceeded"},
		{name: "PUB past the max payload is refused by the server", via: viaRaw,
			data: []byte("PUB " + subject("pass_through") + " _INBOX.x " + strconv.Itoa(natsMaxPayload+1) + "\r\n"),
			err:  "-ERR 'Maximum Payload Violation'", fast: true},
		{name: "control line past the server's maximum", via: viaRaw,
			data: []byte("PUB " + subject(strings.Repeat("y", 5000)) + " _INBOX.x 1\r\na\r\n"),
			err:  "-ERR 'maximum control line exceeded'", fast: true},
		{name: "protocol garbage", via: viaRaw, data: []byte("HELLO appnet\r\n"), err: "-ERR 'Unknown Protocol Operation'", fast: true},

		// Encoding.
		{name: "invalid UTF-8 that is not JSON", via: viaGo, subject: subject("demo.greet"), data: []byte("\xff\xfe\xfd"),
			code: 400, desc: "does not decode into string"},
		{name: "invalid UTF-8 inside a JSON string is replaced", via: viaGo, subject: subject("demo.greet"),
			data: []byte("\"\xffAda\""), body: "\"Hello, \uFFFDAda! (version 1)\""},
		{name: "invalid UTF-8 as the connection name", via: viaGo, subject: subject("\xff\xfe"),
			code: 404, flag: "INVALID_CONNECTION", desc: "has no connection"},
		{name: "non-JSON to pass_through is answered", via: viaGo, subject: subject("pass_through"), data: []byte("{bad \xff"),
			verify: func(t *testing.T, a hostileAnswer) {
				// pass_through takes JSON; whether it checks or echoes, it answers at once.
				if a.err != "" || (a.code != "" && a.code != "400") {
					t.Errorf("got %s", a)
				}
			}},

		// Shape.
		{name: "object into a string argument", via: viaGo, subject: subject("demo.greet"), data: []byte(`{"name":"Ada"}`),
			code: 400, desc: "does not decode into string"},
		{name: "array into a string argument", via: viaGo, subject: subject("demo.lookup"), data: []byte(`[1,2]`),
			code: 400, desc: "does not decode"},
		{name: "truncated JSON", via: viaGo, subject: subject("demo.greet"), data: []byte(`"Ada`), code: 400, desc: "does not decode"},
		{name: "trailing garbage after JSON", via: viaGo, subject: subject("demo.greet"), data: []byte(`"Ada" "Bob"`), code: 400},
		{name: "object into a string argument via CLI", via: viaCLI, subject: subject("demo.greet"), data: []byte(`{"name":"Ada"}`),
			code: 400, desc: "does not decode into string"},
		{name: "100,000 [ into a typed connection", via: viaGo, subject: subject("demo.greet"), data: []byte(nested),
			code: 400, desc: "does not decode"},
		{name: "100,000 nested arrays into a typed connection", via: viaGo, subject: subject("demo.greet"), data: []byte(balanced),
			code: 400, desc: "does not decode"},
		{name: "100,000 nested arrays to pass_through", via: viaGo, subject: subject("pass_through"), data: []byte(balanced),
			code: 400, desc: "is not JSON"},

		// Headers on the request are the caller's, never the answer's.
		{name: "forged flag and error headers", via: viaGo, subject: subject("pass_through"), data: []byte(`{"a":1}`),
			header: forged, echo: true},
		{name: "forged headers to a typed connection", via: viaGo, subject: subject("demo.lookup"), data: []byte(`"ada"`),
			header: nats.Header{peer.HeaderFlag: []string{"NOT_FOUND"}, peer.HeaderErrorCode: []string{"404"}}, body: "36"},
		{name: "forged flag and error headers via CLI", via: viaCLI, subject: subject("pass_through"), data: []byte(`{"a":1}`),
			header: forged, echo: true},
		{name: "forged flag header on null", via: viaGo, subject: subject("null"),
			header: nats.Header{peer.HeaderFlag: []string{"INVALID_CONNECTION"}}, flag: "NULL"},
		{name: "Net-Timeout not a number", via: viaGo, subject: subject("demo.greet"), data: []byte(`"Ada"`),
			header: nats.Header{peer.HeaderTimeout: []string{"soon"}}, code: 400, desc: "want the caller's remaining time in milliseconds"},
		{name: "Net-Timeout negative", via: viaGo, subject: subject("demo.greet"), data: []byte(`"Ada"`),
			header: nats.Header{peer.HeaderTimeout: []string{"-5"}}, code: 400, desc: "want the caller's remaining time in milliseconds"},
		{name: "Net-Timeout zero", via: viaGo, subject: subject("demo.greet"), data: []byte(`"Ada"`),
			header: nats.Header{peer.HeaderTimeout: []string{"0"}}, code: 400, desc: "want the caller's remaining time in milliseconds"},
		{name: "Net-Timeout of years, capped by the peer", via: viaGo, subject: subject("demo.greet"), data: []byte(`"Ada"`),
			header: nats.Header{peer.HeaderTimeout: []string{"9000000000000"}}, body: `"Hello, Ada! (version 1)"`},
		{name: "Net-Timeout huge", via: viaGo, subject: subject("demo.greet"), data: []byte(`"Ada"`),
			header: nats.Header{peer.HeaderTimeout: []string{"9223372036854775807"}}, code: 400, desc: "want the caller's remaining time in milliseconds"},

		// Subjects nobody serves get no responders at once.
		{name: "another peer's ID", via: viaGo, subject: peer.CallSubject(other, "info"), err: "no responders", fast: true},
		{name: "another peer's ID via CLI", via: viaCLI, subject: peer.CallSubject(other, "info"), err: "No responders", fast: true},
		{name: "not a peer ID", via: viaGo, subject: "net.peer.not-an-id.call.info", err: "no responders", fast: true},
		{name: "wildcard as the peer ID", via: viaGo, subject: "net.peer.*.call.info", err: "no responders", fast: true},
		{name: "full wildcard", via: viaGo, subject: "net.>", err: "no responders", fast: true},
		{name: "empty connection token", via: viaGo, subject: subject(""), err: "no responders", fast: true},
		{name: "empty token in the middle", via: viaGo, subject: "net.peer." + string(id) + "..call.info", err: "no responders", fast: true},
		{name: "space in the subject is refused by the client", via: viaGo, subject: subject("pass through"), err: "invalid subject", fast: true},

		// Wildcards where the connection goes are just unknown names.
		{name: "wildcard as the connection", via: viaGo, subject: subject("*"), code: 404, flag: "INVALID_CONNECTION", fast: true},
		{name: "full wildcard as the connection", via: viaGo, subject: subject(">"), code: 404, flag: "INVALID_CONNECTION", fast: true},
		{name: "long unknown connection", via: viaGo, subject: subject(longName), code: 404, flag: "INVALID_CONNECTION", desc: "...", fast: true},
		{name: "micro verb for another service name", via: viaGo, subject: "$SRV.INFO.*", timeout: 300 * time.Millisecond, err: "timeout"},

		// No reply subject: nothing to answer.
		{name: "call without a reply subject", via: viaPublish, subject: subject("pass_through"), data: []byte(`{"a":1}`)},
		{name: "bad call without a reply subject", via: viaPublish, subject: subject("demo.greet"), data: []byte(`{bad`)},
		{name: "unknown connection without a reply subject", via: viaPublish, subject: subject("nope")},
		{name: "micro PING without a reply subject", via: viaPublish, subject: "$SRV.PING"},
	}

	var cli *natsCLI
	for i, row := range rows {
		var a hostileAnswer
		began := time.Now()
		switch row.via {
		case viaGo:
			a = requestGo(nc, row)
		case viaPublish:
			a = publishGo(nc, row)
		case viaCLI:
			if cli == nil {
				cli = newNATSCLI(t, url)
			}
			a = requestCLI(t, cli, row)
		case viaRaw:
			a = rawProtocol(t, url, row.data)
		default:
			t.Fatalf("row %q: unknown way %q", row.name, row.via)
		}
		a.spent = time.Since(began)
		checkAnswer(t, row, a)
		// Whatever came before, the peer still answers, on the same client.
		want := fmt.Sprintf(`{"after":%d}`, i)
		out, err := nc.Request(subject("pass_through"), []byte(want), 5*time.Second)
		if err != nil || string(out.Data) != want || out.Header.Get(peer.HeaderErrorCode) != "" {
			t.Fatalf("after %q: pass_through answered %v, %v; want %s", row.name, describeMsg(out), err, want)
		}
	}
	if !nc.IsConnected() {
		t.Errorf("the nats.go client was disconnected: %v", nc.LastError())
	}
	if out := p.output(); strings.Contains(out, "panic") {
		t.Errorf("the peer logged a panic:\n%s", out)
	}
}

// checkAnswer checks an answer against its row.
func checkAnswer(t *testing.T, row hostileRow, a hostileAnswer) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf("%s (%s): "+format+"\n\tgot %s", append([]any{row.name, row.via}, append(args, a)...)...)
	}
	if row.fast && a.spent > time.Second {
		fail("answered after %s, want within 1s", a.spent)
	}
	if a.desc != "" && (!utf8.ValidString(a.desc) || len(a.desc) > 1024 || strings.ContainsAny(a.desc, "\r\n")) {
		fail("the error description is not one line of at most 1 KiB of UTF-8")
	}
	if row.verify != nil {
		row.verify(t, a)
		return
	}
	if row.err == "" && a.err != "" || row.err != "" && !strings.Contains(a.err, row.err) {
		fail("want error %q", row.err)
		return
	}
	if row.err != "" {
		return
	}
	if code := strconv.Itoa(row.code); row.code == 0 && a.code != "" || row.code != 0 && a.code != code {
		fail("want code %d", row.code)
	}
	if a.flag != row.flag {
		fail("want flag %q", row.flag)
	}
	if !strings.Contains(a.desc, row.desc) || row.code == 0 && a.desc != "" {
		fail("want a description saying %q", row.desc)
	}
	want := row.body
	if row.echo {
		want = string(row.data)
	}
	if string(a.data) != want {
		fail("want body %q", clip([]byte(want)))
	}
}

// dialNATS connects a plain nats.go client to the server at url; a client
// that the server disconnects stays disconnected, so that tests see it.
func dialNATS(t *testing.T, url string) *nats.Conn {
	t.Helper()
	testnet.MustLoopback(t, url)
	nc, err := nats.Connect(url, nats.Name("appnet integration test"), nats.NoReconnect(), nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("connecting to %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func rowTimeout(row hostileRow) time.Duration {
	if row.timeout > 0 {
		return row.timeout
	}
	return 5 * time.Second
}

func requestGo(nc *nats.Conn, row hostileRow) hostileAnswer {
	m := &nats.Msg{Subject: row.subject, Data: row.data, Header: row.header}
	reply, err := nc.RequestMsg(m, rowTimeout(row))
	if err != nil {
		return hostileAnswer{err: err.Error()}
	}
	return hostileAnswer{
		code: reply.Header.Get(peer.HeaderErrorCode),
		desc: reply.Header.Get(peer.HeaderError),
		flag: reply.Header.Get(peer.HeaderFlag),
		data: reply.Data,
	}
}

func publishGo(nc *nats.Conn, row hostileRow) hostileAnswer {
	if err := nc.PublishMsg(&nats.Msg{Subject: row.subject, Data: row.data, Header: row.header}); err != nil {
		return hostileAnswer{err: err.Error()}
	}
	if err := nc.FlushTimeout(rowTimeout(row)); err != nil {
		return hostileAnswer{err: err.Error()}
	}
	return hostileAnswer{}
}

// cliHeader is a header line the nats CLI logs for a reply: "15:04:05 Key: value".
var cliHeader = regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d ([A-Za-z-]+): (.*)$`)

func requestCLI(t *testing.T, cli *natsCLI, row hostileRow) hostileAnswer {
	t.Helper()
	args := []string{"request", "--timeout", rowTimeout(row).String(), row.subject, string(row.data)}
	for k, vs := range row.header {
		for _, v := range vs {
			args = append(args, "-H", k+":"+v)
		}
	}
	stdout, stderr, err := cli.run(30*time.Second, args...)
	var a hostileAnswer
	for _, line := range strings.Split(stderr, "\n") {
		switch {
		case strings.Contains(line, "No responders"):
			a.err = line
		case strings.HasPrefix(line, "nats: error: "):
			a.err = line
		}
	}
	if err != nil && a.err == "" {
		a.err = err.Error() + ": " + stderr
	}
	for _, m := range cliHeader.FindAllStringSubmatch(stderr, -1) {
		switch m[1] {
		case peer.HeaderErrorCode:
			a.code = m[2]
		case peer.HeaderError:
			a.desc = m[2]
		case peer.HeaderFlag:
			a.flag = m[2]
		}
	}
	if b := natsBody(stdout); b != "" {
		a.data = []byte(b)
	}
	return a
}

// rawProtocol opens a TCP connection to the server at url, says CONNECT,
// writes data and returns the server's first -ERR, if any comes within 5s.
func rawProtocol(t *testing.T, url string, data []byte) hostileAnswer {
	t.Helper()
	addr := strings.TrimPrefix(url, "nats://")
	testnet.MustLoopback(t, addr)
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return hostileAnswer{err: "dial: " + err.Error()}
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(conn)
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "INFO ") {
		return hostileAnswer{err: fmt.Sprintf("greeting %q: %v", line, err)}
	}
	if _, err := conn.Write(append([]byte("CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true}\r\n"), data...)); err != nil {
		return hostileAnswer{err: "write: " + err.Error()}
	}
	for {
		line, err := r.ReadString('\n')
		if strings.HasPrefix(line, "-ERR") {
			return hostileAnswer{err: strings.TrimSpace(line)}
		}
		if err != nil {
			return hostileAnswer{err: "no -ERR: " + err.Error()}
		}
	}
}

func describeMsg(m *nats.Msg) string {
	if m == nil {
		return "nothing"
	}
	return fmt.Sprintf("%q with headers %v", clip(m.Data), m.Header)
}

// callLoop calls pass_through on id over nc until stop closes or max calls
// are made, and reports the calls that failed and the latencies.
func callLoop(nc *nats.Conn, id peer.ID, stop <-chan struct{}, max int) (latencies []time.Duration, failures []string) {
	for i := 0; i < max; i++ {
		select {
		case <-stop:
			return latencies, failures
		default:
		}
		want := `{"n":` + strconv.Itoa(i) + `}`
		began := time.Now()
		m, err := nc.Request(peer.CallSubject(id, "pass_through"), []byte(want), 2*time.Second)
		latencies = append(latencies, time.Since(began))
		if err != nil || string(m.Data) != want {
			failures = append(failures, fmt.Sprintf("call %d: %v %s", i, err, describeMsg(m)))
		}
	}
	return latencies, failures
}

// checkLatencies fails the test unless every call succeeded, the median
// is small and none took long.
func checkLatencies(t *testing.T, what string, latencies []time.Duration, failures []string) {
	t.Helper()
	if len(failures) > 0 {
		t.Errorf("%s: %d of %d calls failed, first: %s", what, len(failures), len(latencies), failures[0])
	}
	if len(latencies) < 10 {
		t.Fatalf("%s: only %d calls made", what, len(latencies))
	}
	sorted := slices.Clone(latencies)
	slices.Sort(sorted)
	p50, p99, worst := sorted[len(sorted)/2], sorted[len(sorted)*99/100], sorted[len(sorted)-1]
	t.Logf("%s: %d calls, p50 %s, p99 %s, max %s", what, len(sorted), p50, p99, worst)
	if p50 > 50*time.Millisecond || worst > time.Second {
		t.Errorf("%s: calls slowed down: p50 %s (want <= 50ms), max %s (want <= 1s)", what, p50, worst)
	}
}

// Not parallel: it measures latency, so it runs while no other test does.
func TestSlowlorisConnectionsDoNotStallCalls(t *testing.T) {
	_, _, env := netEnv(t)
	p := start(t, "appnet", env, "serve")
	id := peer.ID(p.waitLine("ready ", 10*time.Second))
	url := peerURL(t, string(id))
	addr := strings.TrimPrefix(url, "nats://")
	testnet.MustLoopback(t, addr)

	const slow = 50
	connect := []byte(`CONNECT {"verbose":false,"pedantic":false,"name":"slowloris"}` + "\r\n")
	stop := make(chan struct{})
	var trickling sync.WaitGroup
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	defer trickling.Wait()
	defer close(stop)
	for i := range slow {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("slow connection %d: %v", i, err)
		}
		conns = append(conns, conn)
		// Ready when the server has greeted it.
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if line, err := bufio.NewReader(conn).ReadString('\n'); err != nil || !strings.HasPrefix(line, "INFO ") {
			t.Fatalf("slow connection %d: greeting %q: %v", i, line, err)
		}
		if i%2 == 0 {
			continue // silent: sends nothing at all
		}
		trickling.Go(func() { // one byte of CONNECT every 100ms
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for _, b := range connect {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
				if _, err := conn.Write([]byte{b}); err != nil {
					return
				}
			}
		})
	}

	// A new client connects and calls while the slow connections hang on.
	began := time.Now()
	nc := dialNATS(t, url)
	if d := time.Since(began); d > time.Second {
		t.Errorf("connecting took %s with %d slow connections open", d, slow)
	}
	calling := make(chan struct{})
	time.AfterFunc(3*time.Second, func() { close(calling) })
	latencies, failures := callLoop(nc, id, calling, 50_000)
	checkLatencies(t, fmt.Sprintf("pass_through with %d slow connections", slow), latencies, failures)
}

// Not parallel: it measures latency, so it runs while no other test does.
func TestFloodOfConnectsDuringPeersScan(t *testing.T) {
	host, port, env := netEnv(t)
	a := start(t, "appnet", env, "serve")
	idA := peer.ID(a.waitLine("ready ", 10*time.Second))
	b := start(t, "appnet", append(env, "NET_GROUP=other"), "serve")
	idB := peer.ID(b.waitLine("ready ", 10*time.Second))
	nc := dialNATS(t, peerURL(t, string(idA)))

	// 2,000 connects, spread over about 3s and cut off at 5s, on every port
	// of the peers' range: most are closed at once, some first write a
	// partial line.
	const total, workers = 2000, 16
	var targets []string
	for p := port; p <= port+5; p++ {
		addr := net.JoinHostPort(host, strconv.Itoa(p))
		testnet.MustLoopback(t, addr)
		targets = append(targets, addr)
	}
	var next, accepted, refused atomic.Int64
	underWay := make(chan struct{})
	var once sync.Once
	cutoff := time.Now().Add(5 * time.Second)
	var flood sync.WaitGroup
	for range workers {
		flood.Go(func() {
			for {
				n := next.Add(1)
				if n > total || time.Now().After(cutoff) {
					return
				}
				if n == 200 {
					once.Do(func() { close(underWay) })
				}
				conn, err := net.DialTimeout("tcp", targets[int(n)%len(targets)], time.Second)
				if err != nil {
					refused.Add(1)
				} else {
					accepted.Add(1)
					if n%4 == 0 {
						_ = conn.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
						_, _ = conn.Write([]byte("CONN"))
					}
					conn.Close()
				}
				time.Sleep(25 * time.Millisecond) // pacing, so that the flood lasts through the scan
			}
		})
	}
	floodDone := make(chan struct{})
	go func() { flood.Wait(); close(floodDone); once.Do(func() { close(underWay) }) }()
	defer func() { <-floodDone }()

	// A caller keeps calling through the flood.
	var latencies []time.Duration
	var failures []string
	var calling sync.WaitGroup
	calling.Go(func() { latencies, failures = callLoop(nc, idA, floodDone, 100_000) })
	defer calling.Wait()

	<-underWay
	scanBegan := time.Now()
	out, errOut, err := run(t, 20*time.Second, "appnet", env, "peers", "--on-host", "--json")
	scanTook := time.Since(scanBegan)
	select {
	case <-floodDone:
		t.Logf("the flood ended before the scan did")
	default:
	}
	if err != nil {
		t.Fatalf("peers during the flood: %v\n%s", err, errOut)
	}
	var found discovery.Peers
	if err := json.Unmarshal([]byte(out), &found); err != nil {
		t.Fatalf("peers --json: %v\n%s", err, out)
	}
	if len(found.Peers) != 2 || !slices.Equal(found.Groups["None"], []peer.ID{idA}) || !slices.Equal(found.Groups["other"], []peer.ID{idB}) {
		t.Errorf("peers --json during the flood = %s, want None: %s and other: %s", out, idA, idB)
	}
	for _, id := range []peer.ID{idA, idB} {
		if info, ok := found.Peers[id]; !ok || len(info.Connections) != 4 {
			t.Errorf("peers --json: %s has no full info (%+v): FetchInfo failed during the flood", id, info)
		}
	}

	<-floodDone
	calling.Wait()
	t.Logf("flood: %d connects accepted, %d refused; the scan took %s", accepted.Load(), refused.Load(), scanTook)
	// The workers stop only when all total connects are made or at the
	// cutoff; what matters is that the flood was under way (200 connects)
	// when the scan ran.
	if done := accepted.Load() + refused.Load(); done < 200 {
		t.Errorf("the flood made only %d connects before its cutoff: the scan did not run under it", done)
	}
	if accepted.Load() == 0 {
		t.Errorf("no connect of the flood was accepted")
	}
	checkLatencies(t, "pass_through during the flood", latencies, failures)
	// And afterwards, both peers still answer, to each other too.
	for _, id := range []peer.ID{idA, idB} {
		m, err := nc.Request(peer.CallSubject(id, "info"), nil, 5*time.Second)
		var info peer.Info
		if err != nil || json.Unmarshal(m.Data, &info) != nil || info.ID != id {
			t.Errorf("info of %s after the flood: %v %s", id, err, describeMsg(m))
		}
	}
	if errors.Is(nc.LastError(), nats.ErrConnectionClosed) || !nc.IsConnected() {
		t.Errorf("the caller was disconnected: %v", nc.LastError())
	}
}
