package integration

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/discovery"
	"github.com/appnet-go/appnet/internal/peer"
)

func TestSecretRefusesCLIsWithoutIt(t *testing.T) {
	t.Parallel()
	const secret = "integration-s3cret"
	_, _, env := netEnv(t)
	withSecret := append(env, "NET_SECRET="+secret)
	p := start(t, "appnet", withSecret, "serve")
	id := p.waitLine("ready ", 10*time.Second)
	cli := newNATSCLI(t, peerURL(t, id))

	// The nats CLI verifies the peer's server against the CA the secret
	// derives (appnet ca writes it), then presents the secret as its
	// token: refused without the token, or without the CA (it cannot
	// verify the server, so it sends nothing), served with both.
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if out, errOut, err := run(t, 10*time.Second, "appnet", withSecret, "ca", ca); err != nil {
		t.Fatalf("appnet ca: %v\n%s%s", err, out, errOut)
	}
	if out, errOut, err := cli.run(30*time.Second, "--tlsca", ca, "micro", "list"); err == nil {
		t.Errorf("nats micro list without the secret succeeded:\n%s", out)
	} else if !strings.Contains(strings.ToLower(errOut+out), "authorization") {
		t.Errorf("refusal does not say why: %s%s", out, errOut)
	}
	if out, errOut, err := cli.run(30*time.Second, "--token", secret, "micro", "list"); err == nil {
		t.Errorf("nats micro list without the CA succeeded:\n%s", out)
	} else if !strings.Contains(strings.ToLower(errOut+out), "certificate") {
		t.Errorf("refusal does not say why: %s%s", out, errOut)
	}
	if out := cli.must("--tlsca", ca, "--token", secret, "micro", "list"); !strings.Contains(out, id) {
		t.Errorf("nats micro list with the secret:\n%s", out)
	}
	if out := cli.must("--tlsca", ca, "--token", secret, "request", "net.peer."+id+".call.pass_through", `{"ok":true}`); !strings.Contains(out, `{"ok":true}`) {
		t.Errorf("nats request with the secret:\n%s", out)
	}

	// The appnet CLI: refused without the secret (it cannot verify the
	// server), served with it.
	if out, errOut, err := run(t, 10*time.Second, "appnet", env, "call", id, "info"); err == nil || !strings.Contains(strings.ToLower(errOut), "certificate") {
		t.Errorf("appnet call without the secret: %v\n%s%s", err, out, errOut)
	}
	if out, errOut, err := run(t, 10*time.Second, "appnet", withSecret, "call", id, "info"); err != nil || !strings.Contains(out, id) {
		t.Errorf("appnet call with the secret: %v\n%s%s", err, out, errOut)
	}

	// A peer without the secret does not list what it serves (only the
	// address its scan found), says why and what to set, and fails.
	out, errOut, err := run(t, 20*time.Second, "appnet", env, "peers", "--on-host", "--json")
	var found discovery.Peers
	if exitCode(err) != 1 || json.Unmarshal([]byte(out), &found) != nil || len(found.Peers[peer.ID(id)].Connections) != 0 {
		t.Errorf("peers without the secret: %v, want exit 1\n%s%s", err, out, errOut)
	}
	if !strings.Contains(errOut, "certificate signed by unknown authority") || !strings.Contains(errOut, "set NET_SECRET") {
		t.Errorf("peers without the secret does not say why and what to set: %s", errOut)
	}
	// Nothing printed the secret.
	if strings.Contains(p.output(), secret) {
		t.Errorf("the peer printed its secret:\n%s", p.output())
	}
}
