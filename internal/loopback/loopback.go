// Package loopback keeps tests, examples and benchmarks on this machine:
// it picks random addresses and port ranges of 127.0.0.0/8 and refuses
// any other target. It does not import package testing, so programs
// (the benchmark) can use it.
package loopback

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
)

// Allow is the block every scan of a test or benchmark is confined to
// (peer.Config.ScanAllow, NET_SCAN_ALLOW).
const Allow = "127.0.0.0/8"

// RandomHost returns a random address of 127.0.0.0/8 (never 127.0.0.x,
// which other programs on the machine use).
func RandomHost() string {
	return fmt.Sprintf("127.%d.%d.%d", 1+rand.IntN(254), rand.IntN(256), 1+rand.IntN(254))
}

// RandomPorts returns the first port of a random range of six ports in
// 20000..31999, below Linux's ephemeral ports.
func RandomPorts() int { return 20000 + 6*rand.IntN(2000) }

// Check returns an error unless target (an address, a CIDR block,
// host:port or a URL's host) is inside 127.0.0.0/8.
func Check(target string) error {
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
		return fmt.Errorf("loopback: refusing %q: only 127.0.0.0/8 may be targeted", target)
	}
	addr, err := netip.ParseAddr(s)
	if err != nil || !addr.IsLoopback() {
		return fmt.Errorf("loopback: refusing %q: only 127.0.0.0/8 may be targeted", target)
	}
	return nil
}

// Env returns the NET_* variables that keep a child peer process on
// host, in the port range from start, scanning only host, confined to
// 127.0.0.0/8, and a peer of its own server whatever deployment the
// parent's environment names.
func Env(host string, start int) []string {
	return []string{
		"NET_HOST=" + host,
		fmt.Sprintf("NET_PORT_START=%d", start),
		"NET_PORT_RANGE=5",
		"NET_SCAN=" + host,
		"NET_SCAN_ALLOW=" + Allow,
		"NET_NATS_URL=",
		"NET_NATS_CREDS=",
	}
}
