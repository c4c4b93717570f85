package integration

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/discovery"
	"github.com/appnet-go/appnet/internal/peer"
)

func TestCLIServePeersInfoCall(t *testing.T) {
	t.Parallel()
	host, port, env := netEnv(t)
	a := start(t, "appnet", env, "serve")
	idA := a.waitLine("ready ", 10*time.Second)
	b := start(t, "appnet", append(env, "NET_GROUP=other", "NET_IS_HUB=true"), "serve")
	idB := b.waitLine("ready ", 10*time.Second)

	out, errOut, err := run(t, 20*time.Second, "appnet", env, "peers", "--on-host", "--json")
	if err != nil {
		t.Fatalf("peers: %v %s", err, errOut)
	}
	var found discovery.Peers
	if err := json.Unmarshal([]byte(out), &found); err != nil {
		t.Fatalf("peers --json: %v\n%s", err, out)
	}
	if len(found.Peers) != 2 || !slices.Equal(found.Groups["None"], []peer.ID{peer.ID(idA)}) ||
		!slices.Equal(found.Groups["other"], []peer.ID{peer.ID(idB)}) || !found.Peers[peer.ID(idB)].Hub {
		t.Errorf("peers --json = %s", out)
	}
	out, _, err = run(t, 20*time.Second, "appnet", env, "peers", "--on-host")
	if err != nil || !strings.Contains(out, idA) || !strings.Contains(out, fmt.Sprintf("%s  %d", host, port)) {
		t.Errorf("peers table: %v\n%s", err, out)
	}

	out, _, err = run(t, 10*time.Second, "appnet", env, "info", idB)
	var info peer.Info
	if err != nil || json.Unmarshal([]byte(out), &info) != nil || info.Group != "other" || !info.Hub || info.Port != port+1 {
		t.Errorf("info: %v\n%s", err, out)
	}

	out, _, err = run(t, 10*time.Second, "appnet", env, "call", idA, "pass_through", `{"n": 12345678901234567890, "s": "x"}`)
	if err != nil || !strings.Contains(out, "12345678901234567890") {
		t.Errorf("call pass_through: %v\n%s", err, out)
	}

	for _, tc := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"call", idA, "nope"}, 1, `has no connection "nope"; it has: connections, info, null, pass_through`},
		{[]string{"call", idA, "pass_through", "{bad"}, 2, "is not JSON"},
		{[]string{"call", "garbage", "info"}, 1, "invalid peer ID"},
		{[]string{"info", peer.NewID(host, port+4, "None").String()}, 1, "peer unreachable"},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"call", idA}, 2, "takes 2 to 3 arguments"},
	} {
		_, errOut, err := run(t, 10*time.Second, "appnet", env, tc.args...)
		code := 0
		if err != nil {
			code = exitCode(err)
		}
		if code != tc.code || !strings.Contains(errOut, tc.says) {
			t.Errorf("appnet %v: exit %d, stderr %q; want exit %d saying %q", tc.args, code, errOut, tc.code, tc.says)
		}
	}
	// The peer served every bad request and still answers.
	if out, _, err := run(t, 10*time.Second, "appnet", env, "call", idA, "null"); err != nil || strings.TrimSpace(out) != `"NULL"` {
		t.Errorf("call null after bad requests: %v %q", err, out)
	}
}

func TestCLIBadEnvironmentIsAClearError(t *testing.T) {
	t.Parallel()
	_, _, env := netEnv(t)
	for _, tc := range []struct{ env, says string }{
		{"NET_PORT_START=abc", "PORT_START"},
		{"NET_GROUP=has space", "NET_GROUP"},
		{"NET_PORT_RANGE=70000", "NET_PORT_RANGE"},
		{"NET_IS_HUB=maybe", "IS_HUB"},
	} {
		_, errOut, err := run(t, 10*time.Second, "appnet", append(env, tc.env), "serve")
		if err == nil || exitCode(err) != 1 || !strings.Contains(errOut, tc.says) {
			t.Errorf("%s: %v, stderr %q; want exit 1 naming %s", tc.env, err, errOut, tc.says)
		}
	}
}

// TestDemo runs the demo beside three other peers on its port range: it
// needs the three ports left, and neither lists nor calls the strangers.
func TestDemo(t *testing.T) {
	t.Parallel()
	_, _, env := netEnv(t)
	for range 3 {
		start(t, "appnet", env, "serve").waitLine("ready ", 10*time.Second)
	}
	out, errOut, err := run(t, 60*time.Second, "appnet", env, "demo")
	if err != nil {
		t.Fatalf("demo: %v\n%s\n%s", err, out, errOut)
	}
	for _, want := range []string{
		"found 3 peers",
		`"Hello, Ada! (version 1)"`,
		`"Hello, Ada! (version 2)"`,
		`"HELLO!"`,
		"flag NOT_FOUND -> caller's handler -> -1",
		`-> "NULL"`,
		`has no connection "no.such.connection"`,
		`heard "extra, extra" from`,
		"every peer of the group answered: 3 answers",
		"peer3 stopped (exit 0)",
		"a call to a stopped peer (peer2)               error: peer unreachable",
		"peer1 stopped (exit 0)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "group None") || strings.Contains(out, "-> None") {
		t.Errorf("the demo shows the other peers of the host:\n%s", out)
	}
}
