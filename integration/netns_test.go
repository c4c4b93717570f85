package integration

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/peer"
)

// netnsLab is a small network of its own: one namespace holding a bridge,
// and one namespace per peer host joined to it by a veth pair, on a /24
// that exists only inside these namespaces. Nothing in it can reach the
// machine's real interfaces, and nothing outside can reach it.
type netnsLab struct {
	t      *testing.T
	prefix string // namespace name prefix, unique per test
	subnet string // e.g. 10.251.17 (hosts .1, .2, ...)
}

// newNetnsLab makes the lab or skips the test where network namespaces
// cannot be made (not root, no iproute2, a sandbox that forbids them).
func newNetnsLab(t *testing.T, hosts int) *netnsLab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespace tests need root (ip netns); skipping")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("network namespace tests need iproute2's ip; skipping")
	}
	lab := &netnsLab{t: t, prefix: fmt.Sprintf("apn%d", rand.IntN(1_000_000)), subnet: fmt.Sprintf("10.251.%d", rand.IntN(250))}
	if err := exec.Command("ip", "netns", "add", lab.ns("br")).Run(); err != nil {
		t.Skipf("cannot create a network namespace here (%v); skipping", err)
	}
	t.Cleanup(lab.destroy)
	lab.run("br", "ip", "link", "add", "br0", "type", "bridge")
	lab.run("br", "ip", "link", "set", "br0", "up")
	for i := 1; i <= hosts; i++ {
		name := fmt.Sprintf("h%d", i)
		if err := exec.Command("ip", "netns", "add", lab.ns(name)).Run(); err != nil {
			t.Fatalf("ip netns add: %v", err)
		}
		lab.mustIP("link", "add", "v"+name, "netns", lab.ns("br"), "type", "veth", "peer", "name", "eth0", "netns", lab.ns(name))
		lab.run("br", "ip", "link", "set", "v"+name, "master", "br0", "up")
		lab.run(name, "ip", "addr", "add", lab.host(i)+"/24", "dev", "eth0")
		lab.run(name, "ip", "link", "set", "eth0", "up")
		lab.run(name, "ip", "link", "set", "lo", "up")
	}
	return lab
}

func (l *netnsLab) ns(name string) string { return l.prefix + "-" + name }
func (l *netnsLab) host(i int) string     { return fmt.Sprintf("%s.%d", l.subnet, i) }

func (l *netnsLab) mustIP(args ...string) {
	l.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		l.t.Fatalf("ip %v: %v\n%s", args, err, out)
	}
}

// run runs a command inside a namespace of the lab.
func (l *netnsLab) run(ns string, args ...string) string {
	l.t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", l.ns(ns)}, args...)...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("in %s: %v: %v\n%s", ns, args, err, out)
	}
	return string(out)
}

// link takes a host's cable out of the bridge, or puts it back.
func (l *netnsLab) link(host int, up bool) {
	l.t.Helper()
	state := "down"
	if up {
		state = "up"
	}
	l.run("br", "ip", "link", "set", fmt.Sprintf("vh%d", host), state)
}

func (l *netnsLab) destroy() {
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		if name, _, _ := strings.Cut(line, " "); strings.HasPrefix(name, l.prefix+"-") {
			_ = exec.Command("ip", "netns", "del", name).Run()
		}
	}
}

// startIn starts the appnet CLI inside a host's namespace.
func (l *netnsLab) startIn(host int, env []string, args ...string) *proc {
	l.t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", l.ns(fmt.Sprintf("h%d", host)), filepath.Join(bin, "appnet")}, args...)...)
	return startCmd(l.t, fmt.Sprintf("appnet@h%d", host), cmd, env)
}

// callIn runs `appnet call --via <host's peer>` inside a host's namespace.
func (l *netnsLab) callIn(host int, env []string, timeout time.Duration, target peer.ID) (string, error) {
	cmd := exec.Command("ip", "netns", "exec", l.ns(fmt.Sprintf("h%d", host)), filepath.Join(bin, "appnet"),
		"call", "--via", l.host(host)+":3010", "--timeout", timeout.String(), string(target), "info")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestNetnsMeshCutAndHeal runs three peers on three hosts of a real subnet
// made of network namespaces, checks that they mesh by themselves, cuts one
// host's link and checks that calls to it fail clearly within their timeout
// while the rest of the mesh works, then heals the link and checks that the
// cut peer rejoins.
func TestNetnsMeshCutAndHeal(t *testing.T) {
	lab := newNetnsLab(t, 3)
	env := func(i int) []string {
		return []string{
			"NET_HOST=" + lab.host(i),
			"NET_PORT_START=3010",
			"NET_SCAN=" + lab.subnet + ".0/29",
			"NET_SCAN_INTERVAL=300ms",
			"NET_SCAN_TIMEOUT=200ms",
			"NET_SCAN_ALLOW=127.0.0.0/8," + lab.subnet + ".0/24", // the lab's own subnet, nothing else
		}
	}
	var ids []peer.ID
	for i := 1; i <= 3; i++ {
		p := lab.startIn(i, env(i), "serve")
		ids = append(ids, peer.ID(p.waitLine("ready ", 15*time.Second)))
	}
	callable := func(from, to int, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			out, err := lab.callIn(from, env(from), time.Second, ids[to-1])
			if err == nil && strings.Contains(out, string(ids[to-1])) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("h%d cannot call h%d within %s: %v\n%s", from, to, within, err, out)
			}
		}
	}
	// They found each other through NET_SCAN: every host reaches every other
	// through its own peer's cluster.
	for from := 1; from <= 3; from++ {
		for to := 1; to <= 3; to++ {
			if from != to {
				callable(from, to, 15*time.Second)
			}
		}
	}
	var info peer.Info
	out, err := lab.callIn(1, env(1), time.Second, ids[0])
	// h1 started first: a hub, with a route to the second hub and the
	// third peer as its leaf, or as the other hub's.
	if err != nil || json.Unmarshal([]byte(out), &info) != nil || info.Role != peer.RoleHub || len(info.Routes) != 1 {
		t.Fatalf("h1's role and routes: %v %s", err, out)
	}

	// Cut h3. Every call to it ends within its timeout with a clear error;
	// h1 and h2 keep calling each other.
	lab.link(3, false)
	sawUnreachable := false
	deadline := time.Now().Add(20 * time.Second)
	for !sawUnreachable && time.Now().Before(deadline) {
		start := time.Now()
		out, err := lab.callIn(1, env(1), time.Second, ids[2])
		took := time.Since(start)
		if err == nil {
			continue // the cut is not felt yet
		}
		if took > 3*time.Second {
			t.Fatalf("a call to the cut peer took %s", took)
		}
		switch {
		case strings.Contains(out, "peer unreachable"):
			sawUnreachable = true // the route is gone: calls now fail at once
			if took > time.Second {
				t.Errorf("unreachable only after %s", took)
			}
		case !strings.Contains(out, "no answer"):
			t.Fatalf("unclear error for the cut peer: %s", out)
		}
		callable(1, 2, 2*time.Second)
	}
	if !sawUnreachable {
		t.Fatal("the route to the cut peer never went away")
	}

	// Heal: h3's leaf node connection comes back, and it joins again.
	lab.link(3, true)
	callable(1, 3, 20*time.Second)
	callable(3, 2, 20*time.Second)
}
