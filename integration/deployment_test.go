package integration

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/discovery"
	"github.com/appnet-go/appnet/internal/peer"
	"github.com/appnet-go/appnet/internal/testnet"
	"github.com/nats-io/nats.go/micro"
)

// The CLI against a NATS deployment: two `appnet serve` processes that are
// its clients (NET_NATS_URL, no server of their own), listed by `appnet
// peers` and `nats micro list`, called by `appnet call`, and an event from
// `appnet emit` heard by `appnet listen`.
func TestCLIOnADeployment(t *testing.T) {
	t.Parallel()
	host, _, env := netEnv(t)
	urls := testnet.Deployment(t, host, 2)
	env0 := append(env, "NET_NATS_URL="+urls[0])
	env1 := append(env, "NET_NATS_URL="+urls[1])
	a := start(t, "appnet", env0, "serve")
	idA := a.waitLine("ready ", 10*time.Second)
	b := start(t, "appnet", append(env1, "NET_GROUP=other"), "serve")
	idB := b.waitLine("ready ", 10*time.Second)
	if !strings.Contains(a.output(), "nats --server "+urls[0]) {
		t.Errorf("serve does not point at the deployment:\n%s", a.output())
	}

	// The deployment's servers learn b's subscriptions within milliseconds.
	var found discovery.Peers
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		out, errOut, err := run(t, 20*time.Second, "appnet", env0, "peers", "--json")
		if err != nil {
			t.Fatalf("peers: %v %s", err, errOut)
		}
		if err := json.Unmarshal([]byte(out), &found); err != nil {
			t.Fatalf("peers --json: %v\n%s", err, out)
		}
		if len(found.Peers) == 2 || time.Now().After(deadline) {
			break
		}
	}
	if !slices.Equal(found.Groups["None"], []peer.ID{peer.ID(idA)}) || !slices.Equal(found.Groups["other"], []peer.ID{peer.ID(idB)}) {
		t.Fatalf("peers --json on the deployment: %+v", found)
	}

	// The nats CLI, pointed at the deployment, lists both peers.
	var list []micro.Info
	newNATSCLI(t, urls[1]).mustJSON(&list, "micro", "list", "--json")
	var listed []string
	for _, l := range list {
		listed = append(listed, l.Name+"/"+l.ID)
	}
	slices.Sort(listed)
	if want := []string{"None/" + idA, "other/" + idB}; !slices.Equal(listed, want) {
		t.Errorf("nats micro list on the deployment: %v, want %v", listed, want)
	}

	out, errOut, err := run(t, 10*time.Second, "appnet", env0, "call", idB, "pass_through", `["across"]`)
	if err != nil || !strings.Contains(out, `"across"`) {
		t.Errorf("call across the deployment: %v\n%s%s", err, out, errOut)
	}

	l := start(t, "appnet", append(env1, "NET_GROUP=news"), "listen", "--group", "news", "flash")
	l.waitLine("listening for", 10*time.Second)
	for attempt := 1; ; attempt++ { // the listener's interest may take a moment to reach urls[0]
		if out, errOut, err := run(t, 10*time.Second, "appnet", append(env0, "NET_GROUP=news"), "emit", "news", "flash", `"extra"`); err != nil {
			t.Fatalf("emit: %v\n%s%s", err, out, errOut)
		}
		if l.printed(` flash "extra"`, time.Second) {
			break
		}
		if attempt == 10 {
			t.Fatalf("the listener heard none of 10 events:\n%s", l.output())
		}
	}
}
