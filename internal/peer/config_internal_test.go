package peer

import (
	"strings"
	"testing"
)

// Deployment URLs in messages never show a user, password or token.
func TestRedactURLs(t *testing.T) {
	in := "nats://alice:s3cret@n1:4222, tls://T0KEN@n2:4443,n3:4222,bob:pw@n4:4222"
	got := redactURLs(in)
	for _, secret := range []string{"alice", "s3cret", "T0KEN", "bob", "pw@"} {
		if strings.Contains(got, secret) {
			t.Errorf("redactURLs(%q) = %q: shows %q", in, got, secret)
		}
	}
	for _, host := range []string{"n1:4222", "n2:4443", "n3:4222", "n4:4222"} {
		if !strings.Contains(got, host) {
			t.Errorf("redactURLs(%q) = %q: lost %q", in, got, host)
		}
	}
	cfg := DefaultConfig()
	cfg.Host, cfg.NATSURL = "127.0.0.1", "nats://alice:s3cret@n1:4222,http://carol:hush@n2"
	if err := cfg.Validate(); err == nil || strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "hush") {
		t.Errorf("Validate: %v; want an error without the credentials", err)
	}
}
