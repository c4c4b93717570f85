package ratelog_test

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/ratelog"
	"github.com/appnet-go/appnet/internal/testnet"
)

// The flood's length is not bounded by the interval: on a slow machine it
// spans several intervals. What must hold however long it takes is that
// every warning is either written or counted, and that each kind writes
// at most one line and one summary per interval.
func TestAFloodOfOneWarningIsOneLineAndACount(t *testing.T) {
	const interval = 100 * time.Millisecond
	var out testnet.LogBuffer
	r := ratelog.New(slog.New(slog.NewJSONHandler(&out, nil)), interval)
	defer r.Stop()
	want := map[string]int{"malformed header": 20000, "another kind": 10000}
	start := time.Now()
	for i := range 20000 {
		r.Warn("malformed header", "n", i)
		if i%2 == 0 {
			r.Warn("another kind")
		}
	}
	spanned := int(time.Since(start)/interval) + 1

	var written, counted map[string]int
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		written, counted = tally(t, out.Lines())
		done := true
		for kind, n := range want {
			done = done && written[kind]+counted[kind] == n
		}
		if done || time.Now().After(deadline) {
			break
		}
	}
	for kind, n := range want {
		if got := written[kind] + counted[kind]; got != n {
			t.Errorf("%q: %d written and %d counted, want %d in all", kind, written[kind], counted[kind], n)
		}
		if written[kind] > spanned {
			t.Errorf("%q: %d lines written over %d intervals, want at most one per interval", kind, written[kind], spanned)
		}
	}

	// Once the interval ends, the kind is written again at once.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(interval) {
		r.Warn("malformed header", "n", "again")
		if strings.Contains(out.String(), `"n":"again"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a warning after the flood's intervals was never written:\n%s", out.String())
		}
	}
}

// tally counts, per kind, the lines written and the lines the summaries
// say were held back.
func tally(t *testing.T, lines []string) (written, counted map[string]int) {
	t.Helper()
	written, counted = map[string]int{}, map[string]int{}
	for _, l := range lines {
		var rec struct {
			Msg  string
			Held int
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if kind, ok := strings.CutSuffix(rec.Msg, " (repeated; lines held back)"); ok {
			counted[kind] += rec.Held
		} else {
			written[rec.Msg]++
		}
	}
	return written, counted
}
