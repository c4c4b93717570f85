package discovery

import (
	"testing"

	"github.com/appnet-go/appnet/internal/peer"
)

// A hub dials only the server URLs a peer's info may name: nats:// to an
// IP address and port, no credentials, inside NET_SCAN_ALLOW when set.
// Nothing here is dialled.
func TestDialableURLs(t *testing.T) {
	open := peer.Config{}
	guarded := peer.Config{ScanAllow: "127.0.0.0/8"}
	for _, tc := range []struct {
		url           string
		open, guarded bool
	}{
		{"nats://127.1.2.3:4222", true, true},
		{"nats://192.0.2.1:4222", true, false}, // TEST-NET-1, never dialled
		{"nats://user:pw@127.1.2.3:4222", false, false},
		{"tls://127.1.2.3:4222", false, false},
		{"nats://example.invalid:4222", false, false},
		{"nats://127.1.2.3", false, false},
		{"::not a url", false, false},
		{"", false, false},
	} {
		if got := dialable(open, tc.url); got != tc.open {
			t.Errorf("dialable(%q) without NET_SCAN_ALLOW = %v, want %v", tc.url, got, tc.open)
		}
		if got := dialable(guarded, tc.url); got != tc.guarded {
			t.Errorf("dialable(%q) with NET_SCAN_ALLOW=127.0.0.0/8 = %v, want %v", tc.url, got, tc.guarded)
		}
	}
}
