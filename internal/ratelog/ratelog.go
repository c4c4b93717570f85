// Package ratelog bounds the log lines that remote input can cause. A
// hostile or broken client can send thousands of malformed messages a
// second; logging each would flood the log (and the disk), so each kind
// of warning is written at most once per interval, and what was held
// back is summarised as a count when the interval ends.
package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Interval is how often a [Logger] writes each kind of line at most.
const Interval = 10 * time.Second

// maxKinds bounds the kinds of line tracked; beyond it, new kinds share
// one budget. Kinds are fixed strings of the callers, so it is rarely
// reached.
const maxKinds = 256

// Logger writes each kind of line at most once per interval and counts
// the rest. It is safe for concurrent use; the zero value is not usable:
// make one with [New].
type Logger struct {
	log      *slog.Logger
	interval time.Duration

	mu    sync.Mutex
	kinds map[string]*kind
}

// kind is one kind of line: its budget for the current interval.
type kind struct {
	level   slog.Level
	msg     string
	held    int         // lines held back in this interval
	summary *time.Timer // writes the count of held lines when the interval ends
}

// New returns a Logger writing to log at most one line of each kind per
// interval (0 means [Interval]).
func New(log *slog.Logger, interval time.Duration) *Logger {
	if interval <= 0 {
		interval = Interval
	}
	return &Logger{log: log, interval: interval, kinds: make(map[string]*kind)}
}

// Warn logs msg with args at warning level, unless a line with the same
// msg was written in the current interval; then it is counted, and the
// count is written as one line when the interval ends.
func (r *Logger) Warn(msg string, args ...any) { r.Log(slog.LevelWarn, msg, args...) }

// Error is [Logger.Warn] at error level.
func (r *Logger) Error(msg string, args ...any) { r.Log(slog.LevelError, msg, args...) }

// Log is [Logger.Warn] at the given level; msg is the kind of the line.
func (r *Logger) Log(level slog.Level, msg string, args ...any) { r.LogKind(level, msg, msg, args...) }

// LogKind is [Logger.Log] for lines whose text varies (it names an
// address, a count): key says which lines are of one kind.
func (r *Logger) LogKind(level slog.Level, key, msg string, args ...any) {
	if !r.log.Enabled(context.Background(), level) {
		return
	}
	r.mu.Lock()
	k, ok := r.kinds[key]
	if !ok && len(r.kinds) >= maxKinds {
		key = "" // every further kind shares one budget
		k, ok = r.kinds[key]
	}
	if ok {
		k.held++
		r.mu.Unlock()
		return
	}
	k = &kind{level: level, msg: msg}
	r.kinds[key] = k
	k.summary = time.AfterFunc(r.interval, func() { r.endInterval(key) })
	r.mu.Unlock()
	r.log.Log(context.Background(), level, msg, args...)
}

// endInterval writes how many lines of a kind were held back, if any,
// and opens a new interval for it.
func (r *Logger) endInterval(key string) {
	r.mu.Lock()
	k := r.kinds[key]
	delete(r.kinds, key)
	r.mu.Unlock()
	if k != nil && k.held > 0 {
		r.log.Log(context.Background(), k.level, k.msg+" (repeated; lines held back)",
			"held", k.held, "interval", r.interval)
	}
}

// Stop cancels the pending summaries; lines still held back are dropped.
func (r *Logger) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for key, k := range r.kinds {
		k.summary.Stop()
		delete(r.kinds, key)
	}
}
