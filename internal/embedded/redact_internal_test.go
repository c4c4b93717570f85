package embedded

import (
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	t.Parallel()
	for _, line := range []string{
		"Removed route nats://appnet:s3cret@127.0.0.1:4248",
		"Trying to connect to route on nats://appnet:s3cret@127.0.0.1:4248 and nats://x:s3cret@10.0.0.1:1",
		"[nats://appnet:s3cret@127.0.0.1:4248]",
	} {
		got := redact(line)
		if strings.Contains(got, "s3cret") || !strings.Contains(got, "[redacted]@") {
			t.Errorf("redact(%q) = %q", line, got)
		}
	}
	if got := redact("plain line, user@example"); got != "plain line, user@example" {
		t.Errorf("a line without a URL changed: %q", got)
	}
}
