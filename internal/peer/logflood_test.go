package peer_test

import (
	"bufio"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/peer"
	"github.com/appnet-go/appnet/internal/testnet"
)

// TestMalformedHeadersDoNotFloodTheLog sends 20,000 calls whose header
// block does not parse, from a raw client: the peer must log a bounded
// number of lines about them, and keep serving.
func TestMalformedHeadersDoNotFloodTheLog(t *testing.T) {
	t.Parallel()
	var out testnet.LogBuffer
	p := startPeer(t, testnet.Host(t), testnet.Ports(t), peer.WithLogger(slog.New(slog.NewTextHandler(&out, nil))))
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(p.Server().ClientURL(), "nats://"), 5*time.Second)
	must(t, err)
	defer conn.Close()
	w := bufio.NewWriter(conn)
	w.WriteString("CONNECT {\"headers\":true,\"verbose\":false,\"pedantic\":false}\r\n")
	subject := peer.CallSubject(p.ID(), peer.ConnNull)
	const bad = "BAD/1.0\r\n\r\n" // not a NATS/1.0 header block
	hpub := fmt.Sprintf("HPUB %s junk.reply %d %d\r\n%s\r\n", subject, len(bad), len(bad), bad)
	for range 20000 {
		w.WriteString(hpub)
	}
	w.WriteString("PING\r\n")
	must(t, w.Flush())
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	for {
		line, err := r.ReadString('\n')
		must(t, err)
		if strings.HasPrefix(line, "PONG") {
			break
		}
	}
	// Every message reached the peer's connection once the server
	// answered; give its error callbacks a moment to run.
	waitCallable(t, p, p.ID())
	if n := out.Count("could not decode headers"); n < 1 || n > 3 {
		t.Errorf("%d log lines about the malformed headers, want 1 to 3 (rate-limited):\n%.2000s", n, out.String())
	}
}
