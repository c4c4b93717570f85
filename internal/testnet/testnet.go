package testnet

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/appnet-go/appnet/internal/loopback"
)

// Host returns a random address of 127.0.0.0/8 for the test (never
// 127.0.0.x, which other programs on the machine use).
func Host(t testing.TB) string {
	t.Helper()
	return RandomHost()
}

// RandomHost is [Host] for code without a testing.TB, such as examples.
func RandomHost() string { return loopback.RandomHost() }

// RandomPorts is [Ports] for code without a testing.TB.
func RandomPorts() int { return loopback.RandomPorts() }

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
func Loopback(target string) error { return loopback.Check(target) }

// Env returns the NET_* variables that keep a child peer process on host,
// in the port range from start, scanning only host, every scan confined to
// 127.0.0.0/8, and with no NATS deployment whatever the shell names.
// Tests give them to every program they start (later variables win over
// the inherited environment), and configure in-process peers from
// peer.DefaultLocalConfig: nothing changes the test process's own
// environment.
func Env(t testing.TB, host string, start int) []string {
	t.Helper()
	MustLoopback(t, host)
	return loopback.Env(host, start)
}
