package peer_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/peer"
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

// TestBadConfigurationsAreRefused: every bad value of the hardening
// review is refused with an error naming the variable, the value and
// what was expected; none panics.
func TestBadConfigurationsAreRefused(t *testing.T) {
	for _, tc := range []struct{ name, value, says string }{
		{"NET_PORT_START", "041610", `NET_PORT_START="041610": want a whole number in decimal digits, without sign or leading zero`},
		{"NET_PORT_START", "0x10", `NET_PORT_START="0x10": want a whole number in decimal digits`},
		{"NET_PORT_START", "+3010", `NET_PORT_START="+3010"`},
		{"NET_PORT_START", "0", "NET_PORT_START=0: want 1 to 65535"},
		{"NET_PORT", "041610", `NET_PORT="041610"`},
		{"NET_PORT_RANGE", "9223372036854775797", "NET_PORT_RANGE=9223372036854775797: want 0 to 62525"},
		{"NET_PORT_RANGE", "99999999999999999999", `NET_PORT_RANGE="99999999999999999999": want a whole number in decimal digits that fits in 64 bits`},
		{"NET_PORT_RANGE", "-1", "NET_PORT_RANGE=-1: want 0 to"},
		{"NET_THREAD_LIMIT", "1000000", "NET_THREAD_LIMIT=1000000: want 1 to 4096"},
		{"NET_MAX_IN_FLIGHT", "0", "NET_MAX_IN_FLIGHT=0: want 1 to"},
		{"NET_SCAN_INTERVAL", "1ns", "NET_SCAN_INTERVAL=1ns: want 0 (no rescans) or at least 100ms"},
		{"NET_SCAN_INTERVAL", "-5s", "NET_SCAN_INTERVAL=-5s: want 0 (no rescans) or at least 100ms"},
		{"NET_SCAN_TIMEOUT", "1ns", "NET_SCAN_TIMEOUT=1ns: want at least 10ms"},
		{"NET_CALL_TIMEOUT", "0s", "NET_CALL_TIMEOUT=0s: want at least 10ms"},
		{"NET_SERVE_TIMEOUT", "1us", "NET_SERVE_TIMEOUT=1µs: want at least 10ms"},
		{"NET_SERVE_TIMEOUT", "9999999999h", `NET_SERVE_TIMEOUT="9999999999h": want a duration`},
		{"NET_SCAN", "not-an-address", `NET_SCAN="not-an-address": "not-an-address": want IPv4 addresses and CIDR blocks`},
		{"NET_SCAN", "127.0.0.1,10.0.0.0/8", "NET_SCAN=\"127.0.0.1,10.0.0.0/8\": more than NET_SCAN_MAX_HOSTS=65536 hosts"},
		{"NET_SCAN_ALLOW", "127.0.0.1/33", `NET_SCAN_ALLOW="127.0.0.1/33": "127.0.0.1/33": want CIDR blocks`},
		{"NET_HOST", "", `NET_HOST="": set but empty`},
		{"NET_SECRET", strings.Repeat("s", 3900), "NET_SECRET=[redacted]: 3900 bytes: want at most 1024"},
		{"NET_MAX_PAYLOAD", "100", "NET_MAX_PAYLOAD=100: want 1024 to 67108864"},
		{"NET_MAX_PENDING", "1048576", "NET_MAX_PENDING=1048576: want 2097152 to 1073741824 bytes: at least twice NET_MAX_PAYLOAD=1048576"},
	} {
		t.Run(tc.name+"="+tc.value[:min(len(tc.value), 20)], func(t *testing.T) {
			t.Setenv("NET_HOST", "127.0.0.1")
			t.Setenv(tc.name, tc.value)
			_, err := peer.ConfigFromEnv()
			if !errors.Is(err, peer.ErrConfig) || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("%s=%.40s: %v\nwant ErrConfig saying %s", tc.name, tc.value, err, tc.says)
			}
		})
	}
	t.Run("NET_SECRET names the limit", func(t *testing.T) {
		t.Setenv("NET_HOST", "127.0.0.1")
		t.Setenv("NET_SECRET", strings.Repeat("s", 3900))
		_, err := peer.ConfigFromEnv()
		if err == nil || !strings.Contains(err.Error(), "3900 bytes: want at most 1024") || strings.Count(err.Error(), "s") > 200 {
			t.Errorf("a 3,900-byte secret: %.300v", err)
		}
	})
	t.Run("NET_SCAN outside NET_SCAN_ALLOW", func(t *testing.T) {
		t.Setenv("NET_HOST", "127.0.0.1")
		t.Setenv("NET_SCAN_ALLOW", "127.0.0.0/8")
		t.Setenv("NET_SCAN", "127.0.0.1,192.0.2.0/24")
		if _, err := peer.ConfigFromEnv(); err == nil || !strings.Contains(err.Error(), `192.0.2.0/24 is outside NET_SCAN_ALLOW="127.0.0.0/8"`) {
			t.Errorf("a scan outside NET_SCAN_ALLOW: %v", err)
		}
	})
}

// TestConfigFromEnvReadsEveryField: each variable lands in its field, and
// an unset NET_HOST still means the default.
func TestConfigFromEnvReadsEveryField(t *testing.T) {
	for name, value := range map[string]string{
		"NET_SCAN_ALLOW": "127.0.0.0/8", "NET_SERVE_TIMEOUT": "30s", "NET_MAX_PAYLOAD": "2048",
		"NET_MAX_PENDING": "8388608", "NET_SCAN": "127.0.0.1", "NET_MAX_IN_FLIGHT": "7",
	} {
		t.Setenv(name, value)
	}
	c, err := peer.ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if c.Host != peer.DefaultHost() || c.ScanAllow != "127.0.0.0/8" || c.ServeTimeout != 30*time.Second ||
		c.MaxPayload != 2048 || c.MaxPending != 8<<20 || c.Scan != "127.0.0.1" || c.MaxInFlight != 7 {
		t.Errorf("config = %+v", c)
	}
	if err := peer.DefaultLocalConfig().Validate(); err != nil {
		t.Errorf("DefaultLocalConfig: %v", err)
	}
}

func TestValuesFromTheEnvironment(t *testing.T) {
	t.Setenv("NET_HOST", "127.0.0.1")
	t.Setenv("NET_VALUES", "role=render, site=paris")
	cfg, err := peer.ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Values["role"] != "render" || cfg.Values["site"] != "paris" || len(cfg.Values) != 2 {
		t.Errorf("NET_VALUES gave %v", cfg.Values)
	}
	for _, bad := range []string{"noequals", "bad key=x", "k=" + strings.Repeat("v", peer.MaxValueLen+1)} {
		t.Setenv("NET_VALUES", bad)
		if _, err := peer.ConfigFromEnv(); !errors.Is(err, peer.ErrConfig) || !strings.Contains(err.Error(), "NET_VALUES") {
			t.Errorf("NET_VALUES=%.20q: %v, want an error naming NET_VALUES", bad, err)
		}
	}
}
