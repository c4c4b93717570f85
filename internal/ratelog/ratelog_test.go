package ratelog_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/ratelog"
	"github.com/appnet-go/appnet/internal/testnet"
)

func TestAFloodOfOneWarningIsOneLineAndACount(t *testing.T) {
	var out testnet.LogBuffer
	r := ratelog.New(slog.New(slog.NewTextHandler(&out, nil)), 50*time.Millisecond)
	defer r.Stop()
	for i := range 20000 {
		r.Warn("malformed header", "n", i)
		if i%2 == 0 {
			r.Warn("another kind")
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(out.Lines()) < 4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	lines := out.Lines()
	if len(lines) != 4 {
		t.Fatalf("%d lines, want 4 (two kinds, each once and summarised once):\n%s", len(lines), strings.Join(lines, "\n"))
	}
	want := []string{`held=19999`, `held=9999`}
	joined := strings.Join(lines, "\n")
	for _, w := range want {
		if !strings.Contains(joined, w) {
			t.Errorf("no summary with %s:\n%s", w, joined)
		}
	}
	// A new interval writes the first line again.
	r.Warn("malformed header", "n", "again")
	if got := out.Lines(); len(got) != 5 || !strings.Contains(got[4], "again") {
		t.Errorf("after the interval: %q", got)
	}
}
