package integration

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/appnet-go/appnet/bus"
	"github.com/appnet-go/appnet/internal/events"
	"github.com/appnet-go/appnet/internal/lower"
	"github.com/appnet-go/appnet/internal/peer"
	"github.com/appnet-go/appnet/internal/testnet"
)

// TestJavaScriptExample runs examples/js/example.js, a program using only
// the official NATS JavaScript client, against two Go peers: it discovers
// them, calls one (a value, a flag, two errors), looks it up with the
// micro API, joins a group whose connection the Go peers call, and trades
// events with them. Without Node and npm it skips, unless
// APPNET_REQUIRE_NODE is set (CI sets it), where it fails.
func TestJavaScriptExample(t *testing.T) {
	t.Parallel()
	node, errNode := exec.LookPath("node")
	npm, errNPM := exec.LookPath("npm")
	if err := errors.Join(errNode, errNPM); err != nil {
		if os.Getenv("APPNET_REQUIRE_NODE") != "" {
			t.Fatalf("the JavaScript example needs Node (20) and npm: %v", err)
		}
		t.Skipf("skipping the JavaScript example: it needs Node (20) and npm, not found: %v", err)
	}
	dir, err := filepath.Abs(filepath.Join("..", "examples", "js"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	install := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
	install.Dir = dir
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in examples/js: %v\n%s", err, out)
	}

	host, port := testnet.Host(t), testnet.Ports(t)
	a := startTestPeer(t, host, port)
	b := startTestPeer(t, host, port)
	waitRoutes(t, a, b)

	// The Go side listens for the example's events before it starts.
	heard := make(chan events.Delivery[map[string]any], 16)
	if _, err := events.Subscribe(lower.Peer(b), "js.heard", func(_ context.Context, d events.Delivery[map[string]any]) { heard <- d },
		events.Groups("jsWorkers")); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(node, "example.js")
	cmd.Dir = dir
	js := startCmd(t, "node", cmd, []string{
		"APPNET_URL=" + lower.Peer(a).Server().ClientURL(), "APPNET_HOST=" + host, "APPNET_GROUP=jsWorkers",
	})
	ready := strings.Fields(js.waitLine("ready ", 30*time.Second))
	if len(ready) == 0 {
		t.Fatal("the example said ready without its ID")
	}
	jsID, err := peer.ParseID(ready[0])
	if err != nil {
		t.Fatalf("the example's ID: %v", err)
	}

	// What the example did as a client.
	for _, want := range []string{
		"peer " + string(a.ID()), "peer " + string(b.ID()),
		`pass_through answered {"hello":"from JavaScript"}`,
		"null answered with flag NULL",
		`no_such_connection answered with flag INVALID_CONNECTION: peer `,
		"a bad argument is error 400",
		"micro info None/", ": protocol 3, 4 endpoints",
	} {
		if !js.printed(want, time.Second) {
			t.Errorf("the example did not print %q", want)
		}
	}

	// Go calls the connection the example serves: in its group, by its
	// ID, on every member, and one it does not serve. The example says
	// ready once its own server has its subscriptions; b's server hears
	// of them through the route a moment later.
	deadline := time.Now().Add(10 * time.Second)
	for _, subject := range []string{peer.CallSubject(jsID, "shout"), peer.GroupCallSubject("jsWorkers", "shout"),
		peer.GroupAllSubject("jsWorkers", "shout")} {
		for !lower.Peer(b).Server().Interest(subject) {
			if time.Now().After(deadline) {
				t.Fatalf("b's server never heard of the example's %s", subject)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, from, err := lower.Peer(b).CallGroup(ctx, "jsWorkers", "shout", []byte(`"hello from go"`))
	if err != nil || string(out) != `"HELLO FROM GO"` || from != jsID {
		t.Errorf("group call: %s from %s, %v; want \"HELLO FROM GO\" from %s", out, from, err, jsID)
	}
	if out, err := lower.Peer(b).Call(ctx, jsID, "shout", []byte(`"direct"`)); err != nil || string(out) != `"DIRECT"` {
		t.Errorf("call by ID: %s, %v", out, err)
	}
	results, err := lower.Peer(b).CallAll(ctx, "jsWorkers", "shout", []byte(`"all"`), 1)
	if err != nil || len(results) != 1 || string(results[0].Value) != `"ALL"` || results[0].Peer != jsID {
		t.Errorf("scatter-gather: %+v, %v", results, err)
	}
	if _, err := lower.Peer(b).Call(ctx, jsID, "whisper", nil); !errors.Is(err, bus.ErrInvalidConnection) {
		t.Errorf("an unknown connection of the example: %v, want ErrInvalidConnection", err)
	}
	var re *peer.RemoteError
	if _, err := lower.Peer(b).Call(ctx, jsID, "shout", []byte(`42`)); !errors.As(err, &re) || re.Code != peer.CodeHandler {
		t.Errorf("a failing handler of the example: %v, want a 500 RemoteError", err)
	}

	// Events both ways: b greets until the example answers with an event
	// of its own (its subscription reaches b's server through the route).
	greeting := bus.NewEvent[string]("greeting", nil)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := greeting.Via(b).Emit("hi from go"); err != nil {
			t.Fatal(err)
		}
		select {
		case d := <-heard:
			if d.From != jsID || d.Value["heard"] != "hi from go" || d.Value["from"] != string(b.ID()) {
				t.Errorf("the example's event: %+v", d)
			}
			js.stop()
			if !strings.Contains(js.output(), "stopped") {
				t.Errorf("the example did not stop cleanly:\n%s", js.output())
			}
			return
		case <-tick.C:
		case <-ctx.Done():
			t.Fatal("the example never answered a greeting event")
		}
	}
}

// waitRoutes waits until a and b have a route to each other.
func waitRoutes(t *testing.T, a, b *bus.Peer) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(a.Info().Routes) == 0 || len(b.Info().Routes) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the two Go peers never routed to each other")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
