package peer_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/appnet-go/appnet/peer"
)

func TestConfigFromEnv(t *testing.T) {
	t.Setenv("NET_HOST", "127.0.0.1")
	t.Setenv("NET_PORT", "4000") // the original's name
	t.Setenv("NET_GROUP", "billing")
	t.Setenv("NET_IS_HUB", "true")
	t.Setenv("NET_SCAN_INTERVAL", "250ms")
	t.Setenv("NET_SECRET", "hush")
	c, err := peer.ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if c.Host != "127.0.0.1" || c.PortStart != 4000 || c.PortRange != 5 || c.Group != "billing" || !c.Hub ||
		c.ThreadLimit != 5 || c.ScanInterval != 250*time.Millisecond || c.Secret != "hush" {
		t.Errorf("config = %+v", c)
	}
	if got := c.Secret.String(); got != "[redacted]" {
		t.Errorf("the secret prints as %q", got)
	}
	t.Setenv("NET_PORT_START", "5000") // wins over NET_PORT
	if c, _ := peer.ConfigFromEnv(); c.PortStart != 5000 {
		t.Errorf("NET_PORT_START should win: %d", c.PortStart)
	}
}

func TestConfigFromEnvNamesTheBadVariable(t *testing.T) {
	for _, tc := range []struct{ name, value, says string }{
		{"NET_PORT_START", "abc", `NET_PORT_START="abc": want a whole number`},
		{"NET_PORT", "x", "NET_PORT"},
		{"NET_PORT", "99999", "NET_PORT=99999"},
		{"NET_THREAD_LIMIT", "-1", "NET_THREAD_LIMIT=-1"},
		{"NET_CALL_TIMEOUT", "soon", `NET_CALL_TIMEOUT="soon": want a duration`},
		{"NET_PORT_RANGE", "70000", "NET_PORT_RANGE"},
		{"NET_GROUP", "a.b", "NET_GROUP"},
		{"NET_IS_HUB", "maybe", `NET_IS_HUB="maybe": want true or false`},
		{"NET_HOST", "example.com", "NET_HOST"},
		{"NET_SCAN_TIMEOUT", "-1s", "NET_SCAN_TIMEOUT"},
		{"NET_TLS_CERT", "/nonexistent.pem", "NET_TLS_KEY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("NET_HOST", "127.0.0.1")
			t.Setenv(tc.name, tc.value)
			_, err := peer.ConfigFromEnv()
			if !errors.Is(err, peer.ErrConfig) || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("%s=%s: %v, want ErrConfig naming %s", tc.name, tc.value, err, tc.says)
			}
		})
	}
}
