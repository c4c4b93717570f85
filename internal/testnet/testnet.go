package testnet

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
)

// allowEnv is discovery.AllowEnv (not imported, to keep this package a
// leaf): every scan in a test process, and in the peer processes a test
// starts, which inherit the environment, refuses anything outside it.
const allowEnv = "NET_SCAN_ALLOW"

// init confines this process, and the programs it starts (they inherit
// its environment), to loopback whatever the shell says: scans refuse
// anything outside 127.0.0.0/8, and no peer connects to a NATS deployment
// the shell may name (NET_NATS_URL), unless a test sets one itself.
func init() {
	os.Setenv(allowEnv, "127.0.0.0/8")
	os.Unsetenv("NET_NATS_URL")
	os.Unsetenv("NET_NATS_CREDS")
}

// Host returns a random address of 127.0.0.0/8 for the test (never
// 127.0.0.x, which other programs on the machine use).
func Host(t testing.TB) string {
	t.Helper()
	return RandomHost()
}

// RandomHost is [Host] for code without a testing.TB, such as examples.
func RandomHost() string {
	return fmt.Sprintf("127.%d.%d.%d", 1+rand.IntN(254), rand.IntN(256), 1+rand.IntN(254))
}

// RandomPorts is [Ports] for code without a testing.TB.
func RandomPorts() int { return 20000 + 6*rand.IntN(2000) }

// Subnet returns a random /27 of 127.0.0.0/8 and its first n host
// addresses, for tests of peers on several "hosts".
func Subnet(t testing.TB, n int) (cidr string, hosts []string) {
	t.Helper()
	a, b, c := 1+rand.IntN(254), rand.IntN(256), rand.IntN(8)*32
	for i := 1; i <= n; i++ {
		hosts = append(hosts, fmt.Sprintf("127.%d.%d.%d", a, b, c+i))
	}
	return fmt.Sprintf("127.%d.%d.%d/27", a, b, c), hosts
}

// Ports returns the first port of a random range of six ports in
// 20000..31999, below Linux's ephemeral ports.
func Ports(t testing.TB) int {
	t.Helper()
	return RandomPorts()
}

// MustLoopback fails the test unless every target (an address, a CIDR
// block, host:port or a URL's host) is inside 127.0.0.0/8.
func MustLoopback(t testing.TB, targets ...string) {
	t.Helper()
	for _, target := range targets {
		if err := Loopback(target); err != nil {
			t.Fatal(err)
		}
	}
}

// Loopback returns an error unless target is inside 127.0.0.0/8.
func Loopback(target string) error {
	s := target
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	if prefix, err := netip.ParsePrefix(s); err == nil {
		if prefix.Bits() >= 8 && prefix.Masked().Addr().Is4() && prefix.Masked().Addr().As4()[0] == 127 {
			return nil
		}
		return fmt.Errorf("testnet: refusing %q: tests may only target 127.0.0.0/8", target)
	}
	addr, err := netip.ParseAddr(s)
	if err != nil || !addr.IsLoopback() {
		return fmt.Errorf("testnet: refusing %q: tests may only target 127.0.0.0/8", target)
	}
	return nil
}

// Env returns the NET_* variables that keep a child peer process on host,
// in the port range from start, scanning only host.
func Env(t testing.TB, host string, start int) []string {
	t.Helper()
	MustLoopback(t, host)
	return []string{
		"NET_HOST=" + host,
		fmt.Sprintf("NET_PORT_START=%d", start),
		"NET_PORT_RANGE=5",
		"NET_SCAN=" + host,
	}
}
