package ratelog_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/ratelog"
)

// syncBuffer is a bytes.Buffer safe for the summary timer's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Split(strings.TrimSpace(s.b.String()), "\n")
}

func TestAFloodOfOneWarningIsOneLineAndACount(t *testing.T) {
	var out syncBuffer
	r := ratelog.New(slog.New(slog.NewTextHandler(&out, nil)), 50*time.Millisecond)
	defer r.Stop()
	for i := range 20000 {
		r.Warn("malformed header", "n", i)
		if i%2 == 0 {
			r.Warn("another kind")
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(out.lines()) < 4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	lines := out.lines()
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
	if got := out.lines(); len(got) != 5 || !strings.Contains(got[4], "again") {
		t.Errorf("after the interval: %q", got)
	}
}
