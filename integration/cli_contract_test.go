package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/peer"
)

// cliCase is one run of the CLI and what it must do.
type cliCase struct {
	args []string
	code int
	out  string // in stdout
	err  string // in stderr
}

// runCases runs each case and checks its exit code and output.
func runCases(t *testing.T, env []string, cases []cliCase) {
	t.Helper()
	for _, tc := range cases {
		out, errOut, err := run(t, 20*time.Second, "appnet", env, tc.args...)
		code := 0
		if err != nil {
			code = exitCode(err)
		}
		if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(errOut, tc.err) {
			t.Errorf("appnet %q: exit %d\nstdout %q\nstderr %q\nwant exit %d, stdout with %q, stderr with %q",
				tc.args, code, out, errOut, tc.code, tc.out, tc.err)
		}
	}
}

func TestCLIUsageAndExitCodes(t *testing.T) {
	t.Parallel()
	_, _, env := netEnv(t)
	runCases(t, env, []cliCase{
		{args: []string{"--help"}, code: 0, out: "Exit status: 0 success; 1 a remote or runtime failure"},
		{args: []string{"help"}, code: 0, out: "appnet certs [--hosts a,b] [--days n] <dir>"},
		{args: nil, code: 2, err: "no command"},
		{args: []string{"frobnicate"}, code: 2, err: "unknown command"},
		{args: []string{"peers", "--frob"}, code: 2, err: "flag provided but not defined: -frob"},
		{args: []string{"peers", "--json", "--graph"}, code: 2, err: "--json and --graph each choose the output; give one"},
		{args: []string{"call", "x"}, code: 2, err: "call takes 2 to 3 arguments, got 1"},
		{args: []string{"call", "x", "bad name"}, code: 2, err: "invalid connection name"},
		// The group is an argument, not NET_GROUP, and the message says so.
		{args: []string{"emit", "bad.group", "ev"}, code: 2, err: `emit: group "bad.group"`},
		{args: []string{"emit", "g", "bad event"}, code: 2, err: "invalid event name"},
		{args: []string{"listen", "--group", "a b", "ev"}, code: 2, err: `--group "a b"`},
	})
	_, errOut, _ := run(t, 10*time.Second, "appnet", env, "emit", "bad.group", "ev")
	if strings.Contains(errOut, "NET_GROUP") {
		t.Errorf("emit with a bad group blames NET_GROUP: %s", errOut)
	}
}

func TestCLIFlagsAfterArgumentsAndPeerNames(t *testing.T) {
	t.Parallel()
	host, port, env := netEnv(t)
	a := start(t, "appnet", env, "serve")
	idA := a.waitLine("ready ", 10*time.Second)
	b := start(t, "appnet", append(env, "NET_GROUP=other"), "serve")
	idB := b.waitLine("ready ", 10*time.Second)
	addrA := fmt.Sprintf("%s:%d", host, port)
	// The IDs of A and B differ first where the port does; a prefix up to
	// there is unique.
	common := 0
	for common < len(idA) && idA[common] == idB[common] {
		common++
	}
	dir := t.TempDir()
	runCases(t, env, []cliCase{
		// Flags after the positional arguments, as the README writes them.
		{args: []string{"call", idA, "info", "--timeout", "5s"}, code: 0, out: `"group": "None"`},
		{args: []string{"certs", dir, "--hosts", "127.0.0.1,localhost", "--days", "2"}, code: 0, out: "export NET_TLS_CA="},
		// A negative number is JSON, not a flag.
		{args: []string{"call", idA, "pass_through", "-12.5"}, code: 0, out: "-12.5"},
		// A peer by host:port and by a unique prefix of its ID.
		{args: []string{"call", addrA, "null", "--verbose"}, code: 0, out: `"NULL"`, err: fmt.Sprintf("peer %q is %s", addrA, idA)},
		{args: []string{"info", idB[:common+1], "--verbose"}, code: 0, out: `"group": "other"`, err: "whose ID starts with it"},
		{args: []string{"info", idA[:common]}, code: 1, err: "2 peers on the hosts of NET_SCAN have IDs that start with it"},
		{args: []string{"info", "nosuchprefix"}, code: 1, err: "invalid peer ID \"nosuchprefix\": it is not an ID, nor host:port, nor the start of the ID of a peer"},
		{args: []string{"info", fmt.Sprintf("%s:%d", host, port+3)}, code: 1, err: "peer unreachable: no appnet peer answers at"},
		// A base64 ID of nothing running is unreachable, said as the library says it.
		{args: []string{"info", peer.NewID(host, port+4, "None").String()}, code: 1, err: "peer unreachable"},
		// --via, given as a peer too, and said in --verbose.
		{args: []string{"call", idB, "null", "--via", addrA, "--verbose"}, code: 0, out: `"NULL"`, err: "through the server at " + addrA + " (--via)"},
		// pass_through takes anything, so no argument is fine.
		{args: []string{"call", idA, "pass_through"}, code: 0, out: "null"},
	})
	if _, err := os.Stat(filepath.Join(dir, "ca.pem")); err != nil {
		t.Errorf("certs with flags after the directory: %v", err)
	}
	// A missing argument is a bad request, not the zero value.
	tagged := start(t, "tagged-peer1", env)
	idT := tagged.waitLine("ready ", 10*time.Second)
	runCases(t, env, []cliCase{
		{args: []string{"call", idT, "myTaggedFunction"}, code: 1, err: "the call has no argument; the connection takes a string"},
		{args: []string{"call", idT, "myTaggedFunction", `"hi"`}, code: 0, out: `"hi Version 1"`},
	})
}

func TestCLIEmitAndListenAttachToARunningPeer(t *testing.T) {
	t.Parallel()
	host, port, env := netEnv(t)
	// A range of one port, taken by the running peer: a command that
	// started a peer of its own would find no port.
	env = append(env, "NET_PORT_RANGE=0")
	server := start(t, "appnet", env, "serve")
	server.waitLine("ready ", 10*time.Second)

	l := start(t, "appnet", env, "listen", "news", "--json", "--group", "g", "--verbose")
	l.waitLine("listening for ", 10*time.Second)
	if !l.printed(fmt.Sprintf("attached to the peer at %s:%d", host, port), time.Second) {
		t.Errorf("listen --verbose does not say it attached:\n%s", l.output())
	}
	out, errOut, err := run(t, 10*time.Second, "appnet", env, "emit", "g", "news", `{"n":1}`, "--verbose", "--json")
	if err != nil || !strings.Contains(errOut, "a client of its server, holding no port") {
		t.Fatalf("emit: %v\n%s\n%s", err, out, errOut)
	}
	var emitted struct {
		Subject, Emitter, Event string
		Value                   json.RawMessage
	}
	if err := json.Unmarshal([]byte(out), &emitted); err != nil || emitted.Event != "news" || compact(emitted.Value) != `{"n":1}` {
		t.Fatalf("emit --json printed %q (%v)", out, err)
	}
	line := l.waitLine("{", 10*time.Second)
	var heard struct {
		Emitter, Event string
		Value          json.RawMessage
	}
	if err := json.Unmarshal([]byte("{"+line), &heard); err != nil || heard.Emitter != emitted.Emitter || compact(heard.Value) != `{"n":1}` {
		t.Errorf("listen --json printed %q (%v); want the event from %s", line, err, emitted.Emitter)
	}
	// When the peer it attached to stops, listen says so and fails.
	server.stop()
	if err := l.wait(10 * time.Second); exitCode(err) != 1 || !l.printed("the connection to the peer server ended", time.Second) {
		t.Errorf("listen after its server stopped: %v\n%s", err, l.output())
	}
	// With no peer running, emit starts one of its own and says so.
	_, errOut, err = run(t, 10*time.Second, "appnet", env, "emit", "g", "news", "--verbose")
	if err != nil || !strings.Contains(errOut, "no peer runs on this host") {
		t.Errorf("emit with no peer up: %v\n%s", err, errOut)
	}
}

func TestCLIPeersOfATLSPeerWithoutCertificates(t *testing.T) {
	t.Parallel()
	host, _, env := netEnv(t)
	dir := t.TempDir()
	if out, errOut, err := run(t, 10*time.Second, "appnet", env, "certs", dir, "--hosts", host); err != nil {
		t.Fatalf("certs: %v\n%s%s", err, out, errOut)
	}
	tls := append(env, "NET_TLS_CA="+filepath.Join(dir, "ca.pem"), "NET_TLS_CERT="+filepath.Join(dir, "peer.pem"), "NET_TLS_KEY="+filepath.Join(dir, "peer-key.pem"))
	p := start(t, "appnet", tls, "serve")
	id := p.waitLine("ready ", 10*time.Second)
	runCases(t, env, []cliCase{
		{args: []string{"peers", "--on-host"}, code: 1, out: id, err: "NET_TLS_CERT, NET_TLS_KEY and NET_TLS_CA to the files its certificates came from"},
	})
	runCases(t, tls, []cliCase{
		{args: []string{"peers", "--on-host"}, code: 0, out: "connections,info,null,pass_through"},
	})
}

// compact returns JSON without insignificant space.
func compact(data []byte) string {
	var b bytes.Buffer
	if err := json.Compact(&b, data); err != nil {
		return string(data)
	}
	return b.String()
}
