package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/appnet-go/appnet/internal/proc"
)

// child is a running child process: the bench binary itself (os.Executable)
// started with the hidden childArg and a role (see child.go).
type child struct {
	cmd     *exec.Cmd
	stdin   io.Closer
	started time.Time     // just before the fork
	ready   []string      // the fields after "ready", once waitReady returned
	readyCh chan []string // gets the ready line's fields
	lines   chan []string // every other line's fields (dropped if nobody reads: a debug burst of a whole view fits)
	done    chan struct{}
	err     error
}

// startChild starts the binary exe as a child with args and env added to
// this environment, and waits (up to 10s) until it prints its ready line.
func startChild(ctx context.Context, exe string, env []string, args ...string) (*child, error) {
	c, err := launchChild(exe, env, args...)
	if err != nil {
		return nil, err
	}
	if err := c.waitReady(ctx, 10*time.Second); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// launchChild starts a child and returns at once; waitReady waits for it.
// The child dies with the bench: parent-death signal, and its stdin
// closing.
func launchChild(exe string, env []string, args ...string) (*child, error) {
	cmd := exec.Command(exe, append([]string{childArg}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = proc.DieWithParent(syscall.SIGKILL)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, stdin: stdin, done: make(chan struct{}),
		readyCh: make(chan []string, 1), lines: make(chan []string, 1024)}
	c.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go c.read(out)
	return c, nil
}

// read passes the child's ready line to readyCh and its other lines to
// lines, until its stdout closes; then it waits for the child.
func (c *child) read(out io.Reader) {
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "ready "); ok {
			select {
			case c.readyCh <- strings.Fields(rest):
			default:
			}
			continue
		}
		select {
		case c.lines <- strings.Fields(sc.Text()):
		default:
		}
	}
	c.err = c.cmd.Wait()
	close(c.done)
}

// waitReady waits up to limit for the child's ready line.
func (c *child) waitReady(ctx context.Context, limit time.Duration) error {
	wait := time.NewTimer(limit)
	defer wait.Stop()
	select {
	case c.ready = <-c.readyCh:
		return nil
	case <-c.done:
		return fmt.Errorf("child %v exited before it was ready: %v", c.cmd.Args[2:], c.err)
	case <-wait.C:
		return fmt.Errorf("child %v not ready within %s", c.cmd.Args[2:], limit)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitWord waits up to limit for a line of the child that starts with
// one of words and returns that word and the line's other fields.
func (c *child) waitWord(ctx context.Context, limit time.Duration, words ...string) (string, []string, error) {
	wait := time.NewTimer(limit)
	defer wait.Stop()
	for {
		select {
		case f := <-c.lines:
			if len(f) > 0 && slices.Contains(words, f[0]) {
				return f[0], f[1:], nil
			}
		case <-c.done:
			return "", nil, fmt.Errorf("child pid %d exited before saying %q: %v", c.pid(), words, c.err)
		case <-wait.C:
			return "", nil, fmt.Errorf("child pid %d did not say %q within %s", c.pid(), words, limit)
		case <-ctx.Done():
			return "", nil, ctx.Err()
		}
	}
}

// pid returns the child's process ID.
func (c *child) pid() int { return c.cmd.Process.Pid }

// stop sends the child SIGTERM, then SIGKILL after 3s, and waits for it.
func (c *child) stop() {
	proc.Stop(c.cmd.Process, c.done, 3*time.Second)
	_ = c.stdin.Close()
}

// children stops every child it holds, in reverse order of start.
type children []*child

func (cs *children) add(c *child) { *cs = append(*cs, c) }

func (cs *children) stopAll() {
	for i := len(*cs) - 1; i >= 0; i-- {
		(*cs)[i].stop()
	}
	*cs = nil
}

// pids returns the process IDs of the children.
func (cs children) pids() []int {
	var out []int
	for _, c := range cs {
		out = append(out, c.pid())
	}
	return out
}

// errChildGone is wrapped by a measurement's error when a child has exited.
var errChildGone = errors.New("child process exited")

// explain wraps err with errChildGone if one of the children has exited.
func (cs children) explain(err error) error {
	for _, c := range cs {
		select {
		case <-c.done:
			return fmt.Errorf("%w (pid %d: %v): %w", errChildGone, c.pid(), c.err, err)
		default:
		}
	}
	return err
}

// unixNanos parses the Unix times in nanoseconds of a child's line.
func unixNanos(fields ...string) ([]time.Time, error) {
	out := make([]time.Time, len(fields))
	for i, f := range fields {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("time %q: %v", f, err)
		}
		out[i] = time.Unix(0, n)
	}
	return out, nil
}

// ints parses the integers of a child's line.
func ints(fields ...string) ([]int64, error) {
	out := make([]int64, len(fields))
	for i, f := range fields {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("number %q: %v", f, err)
		}
		out[i] = n
	}
	return out, nil
}
