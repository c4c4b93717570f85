package testnet

import (
	"bytes"
	"strings"
	"sync"
)

// LogBuffer is a log sink that the goroutines of several peers may write
// to at once, for tests that read what was logged.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Count returns how many times s was written.
func (l *LogBuffer) Count(s string) int { return strings.Count(l.String(), s) }

// Lines returns the lines written so far.
func (l *LogBuffer) Lines() []string { return strings.Split(strings.TrimSpace(l.String()), "\n") }
