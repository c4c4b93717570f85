package integration

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/peer"
	"github.com/appnet-go/appnet/internal/testnet"
)

// hubNet is a network of `appnet serve` processes over several loopback
// hosts: two hubs by configuration (NET_IS_HUB) or none, and leaves.
type hubNet struct {
	t     *testing.T
	hosts []string
	env   func(i int) []string
	procs []*proc
	ids   []peer.ID
}

// startHubNet starts n peers over the hosts of a fresh /27, the first two
// as hubs when hubs is set, with the extra environment variables given,
// and waits until each has started.
func startHubNet(t *testing.T, n, hosts int, hubs bool, extra ...string) *hubNet {
	t.Helper()
	cidr, hs := testnet.Subnet(t, hosts)
	port := testnet.Ports(t)
	hn := &hubNet{t: t, hosts: hs}
	hn.env = func(i int) []string {
		env := []string{
			"NET_HOST=" + hs[i%len(hs)],
			fmt.Sprintf("NET_PORT_START=%d", port),
			"NET_PORT_RANGE=9",
			"NET_SCAN=" + cidr,
			"NET_SCAN_ALLOW=127.0.0.0/8",
			"NET_NATS_URL=",
		}
		env = append(env, extra...)
		if hubs && i < 2 {
			env = append(env, "NET_IS_HUB=true")
		}
		return env
	}
	for i := range n {
		p := start(t, "appnet", hn.env(i), "serve")
		hn.procs = append(hn.procs, p)
		if i < 2 { // the hubs first, as long-lived servers are
			hn.ids = append(hn.ids, peer.ID(p.waitLine("ready ", 20*time.Second)))
		}
	}
	for _, p := range hn.procs[2:] {
		hn.ids = append(hn.ids, peer.ID(p.waitLine("ready ", 20*time.Second)))
	}
	return hn
}

// waitWhole waits until the peer i's view holds all n-1 others (appnet
// wait, through that peer's server).
func (hn *hubNet) waitWhole(i, others int, within time.Duration) {
	hn.t.Helper()
	out, errOut, err := run(hn.t, within+10*time.Second, "appnet", hn.env(i), "wait", "--all-groups",
		"--count", fmt.Sprint(others), "--timeout", within.String(), "--via", string(hn.ids[i]))
	if err != nil {
		hn.t.Fatalf("peer %d's view never held the %d others: %v\n%s%s", i, others, err, out, errOut)
	}
}

// call calls info on peer to through peer via's server (the cluster path,
// not the direct one).
func (hn *hubNet) call(via, to int) error {
	out, errOut, err := run(hn.t, 20*time.Second, "appnet", hn.env(via), "call", "--timeout", "2s",
		"--via", string(hn.ids[via]), string(hn.ids[to]), "info")
	if err != nil {
		return fmt.Errorf("%d -> %d: %v: %s%s", via, to, err, out, errOut)
	}
	return nil
}

func (hn *hubNet) info(i int) peer.Info {
	hn.t.Helper()
	out, errOut, err := run(hn.t, 20*time.Second, "appnet", hn.env(i), "info", string(hn.ids[i]))
	var info peer.Info
	if err != nil || json.Unmarshal([]byte(out), &info) != nil {
		hn.t.Fatalf("info of peer %d: %v %s%s", i, err, out, errOut)
	}
	return info
}

// TestNetworkOfHubsAndLeaves: two hubs and fourteen leaves over four hosts
// form one network: every view is whole, a leaf holds one server-to-server
// connection, calls cross hubs, a plain NATS client on one leaf calls a
// peer on another, and after kill -9 of a hub and of one of its leaves the
// other leaves re-attach to the other hub, the network is whole again, and
// only the two were reported failed.
func TestNetworkOfHubsAndLeaves(t *testing.T) {
	t.Parallel()
	const n = 16
	hn := startHubNet(t, n, 4, true)
	for _, i := range []int{0, 1, 5, n - 1} {
		hn.waitWhole(i, n-1, 20*time.Second)
	}
	for _, i := range []int{0, 1} {
		if info := hn.info(i); info.Role != peer.RoleHub || !info.Hub {
			t.Errorf("peer %d: role %s, hub %v; want a hub by configuration", i, info.Role, info.Hub)
		}
	}
	leaf := hn.info(7)
	if leaf.Role != peer.RoleLeaf || len(leaf.Routes)+len(leaf.Leaves) != 1 {
		t.Errorf("peer 7: role %s, routes %v, leaf connections %v; want a leaf with one connection", leaf.Role, leaf.Routes, leaf.Leaves)
	}
	for _, pair := range [][2]int{{2, 3}, {3, 2}, {9, 14}, {14, 0}, {0, 15}, {1, 8}} {
		if err := hn.call(pair[0], pair[1]); err != nil {
			t.Error(err)
		}
	}
	// A plain NATS client connected to a leaf's server calls a peer on
	// another leaf, across the hubs.
	nc := newNATSCLI(t, peerURL(t, string(hn.ids[4])))
	out := nc.must("request", "--timeout", "5s", peer.CallSubject(hn.ids[11], peer.ConnPassThrough), `"across"`)
	if natsBody(out) != `"across"` {
		t.Errorf("nats request across the hubs answered %q", out)
	}

	// kill -9 of a hub and of one of its leaves (a host that fails): the
	// other leaves move to the other hub, and the views drop the two, and
	// only them.
	gone := -1
	for i := 2; i < n && gone < 0; i++ {
		if slices.Contains(hn.info(i).Leaves, string(hn.ids[0])) {
			gone = i
		}
	}
	if gone < 0 {
		t.Fatal("no leaf is attached to hub 0")
	}
	watcher := start(t, "appnet", hn.env(1), "watch", "--all-groups", "--via", string(hn.ids[1]))
	watcher.waitLine(time.Now().Format("2006-01-02"), 10*time.Second) // the first resync
	hn.procs[0].kill()
	hn.procs[gone].kill()
	killed := time.Now()
	for _, i := range []int{1, 6, 13} {
		if i == gone {
			continue
		}
		hn.waitWhole(i, n-3, 20*time.Second)
		deadline := time.Now().Add(20 * time.Second)
		for {
			out, errOut, err := run(t, 20*time.Second, "appnet", hn.env(i), "peers", "--json", "--on-host")
			if err != nil {
				t.Fatalf("peers: %v %s%s", err, out, errOut)
			}
			if !strings.Contains(out, string(hn.ids[0])) {
				break // the view of this peer's host no longer has the hub
			}
			if time.Now().After(deadline) {
				t.Fatalf("peer %d still lists the killed hub after 20s", i)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	t.Logf("the views dropped the killed hub within %s", time.Since(killed).Round(time.Millisecond))
	// Its leaf is asked about after the others had time to move, patiently.
	if !watcher.printed("failed "+string(hn.ids[gone]), 20*time.Second) {
		t.Errorf("the leaf killed with its hub was not reported failed:\n%s", watcher.output())
	}
	t.Logf("and the leaf killed with it within %s", time.Since(killed).Round(time.Millisecond))
	for i := 2; i < n; i++ {
		if i != gone && strings.Contains(watcher.output(), "failed "+string(hn.ids[i])) {
			t.Errorf("leaf %d, which moved to the other hub, was reported failed:\n%s", i, watcher.output())
		}
	}
	for _, pair := range [][2]int{{2, 3}, {9, 14}, {14, 1}, {5, 12}} {
		if pair[0] == gone || pair[1] == gone {
			continue
		}
		if err := hn.call(pair[0], pair[1]); err != nil {
			t.Errorf("after the hub's kill: %v", err)
		}
	}
}

// TestNetworkWithoutHubs: no peer is a hub by configuration: the network
// elects its own, and is whole; a graceful leave and a kill -9 of a leaf
// are seen by a watcher (appnet watch) and by a plain NATS subscriber to
// the membership subjects.
func TestNetworkWithoutHubs(t *testing.T) {
	t.Parallel()
	const n = 10
	hn := startHubNet(t, n, 3, false)
	for _, i := range []int{0, 4, n - 1} {
		hn.waitWhole(i, n-1, 20*time.Second)
	}
	hubs := 0
	for i := range n {
		if hn.info(i).Role == peer.RoleHub {
			hubs++
		}
	}
	if hubs < 2 || hubs > 4 {
		t.Errorf("%d elected hubs, want 2 to 4", hubs)
	}
	watcher := start(t, "appnet", hn.env(3), "watch", "--all-groups", "--via", string(hn.ids[3]))
	watcher.waitLine(time.Now().Format("2006-01-02"), 10*time.Second) // the first resync
	sub := startNATSSub(t, peerURL(t, string(hn.ids[5])), peer.MemberSubjects)
	// A hub's digest (every 5s) proves that its interest reached the hubs.
	if !sub.printed(peer.MemberDigestSubject, 15*time.Second) {
		t.Fatalf("nats sub got no digest from the hubs:\n%s", sub.output())
	}

	hn.procs[8].stop() // SIGTERM: a graceful leave
	if !watcher.printed("left "+string(hn.ids[8]), 5*time.Second) {
		t.Errorf("the watcher did not see peer 8 leave:\n%s", watcher.output())
	}
	hn.procs[9].kill()
	if !watcher.printed("failed "+string(hn.ids[9]), 15*time.Second) {
		t.Errorf("the watcher did not see peer 9 fail:\n%s", watcher.output())
	}
	for _, want := range []string{peer.MemberLeaveSubject, peer.MemberFailSubject, string(hn.ids[8]), string(hn.ids[9])} {
		if !sub.printed(want, 5*time.Second) {
			t.Errorf("nats sub %s printed no %q:\n%s", peer.MemberSubjects, want, sub.output())
		}
	}
}

// startNATSSub runs `nats sub subject` against url until the test ends,
// once it says it subscribed.
func startNATSSub(t *testing.T, url, subject string) *proc {
	t.Helper()
	testnet.MustLoopback(t, url)
	home := t.TempDir()
	cmd := exec.Command(natsBin(t), "--no-context", "-s", url, "sub", subject)
	p := startCmd(t, "nats sub", cmd, []string{"HOME=" + home, "XDG_CONFIG_HOME=" + home, "NO_COLOR=1"})
	if !p.printed("Subscribing on", 10*time.Second) {
		t.Fatalf("nats sub did not start:\n%s", p.output())
	}
	return p
}
