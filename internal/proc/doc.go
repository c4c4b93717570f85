// Package proc stops the child processes that appnet's commands (the demo,
// the benchmark) and integration tests start: by PID, politely first.
package proc
