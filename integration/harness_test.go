package integration

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	internalproc "github.com/appnet-go/appnet/internal/proc"
	"github.com/appnet-go/appnet/internal/testnet"
)

// bin is the folder holding the binaries TestMain builds.
var bin string

// programs are built once per test run: name -> package.
var programs = map[string]string{
	"appnet":       "./cmd/appnet",
	"appnet-bench": "./cmd/appnet-bench",
	"simple-peer1": "./examples/simple_connection/peer1",
	"simple-peer2": "./examples/simple_connection/peer2",
	"tagged-peer1": "./examples/simple_tagged_connection/peer1",
	"tagged-peer2": "./examples/simple_tagged_connection/peer2",
	"tagged-peer3": "./examples/simple_tagged_connection/peer3",
	"sub-hub":      "./examples/simple_subscription/hub",
	"sub-peer1":    "./examples/simple_subscription/peer1",
	"sub-peer2":    "./examples/simple_subscription/peer2",
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "appnet-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = dir
	code := func() int {
		defer os.RemoveAll(dir)
		for name, pkg := range programs {
			cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg)
			cmd.Dir = ".."
			if out, err := cmd.CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "building %s: %v\n%s", pkg, err, out)
				return 1
			}
		}
		return m.Run()
	}()
	os.Exit(code)
}

// proc is a program started by a test. Its output is kept, line by line.
type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	done chan struct{}

	mu    sync.Mutex
	lines []string
	grew  chan struct{} // closed and replaced whenever a line arrives
	err   error
}

// start runs a built program with env added to the environment. It is
// stopped (SIGTERM, then SIGKILL) when the test ends.
func start(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	return startCmd(t, name, exec.Command(filepath.Join(bin, name), args...), env)
}

// startWithInput is start with a pipe to the program's standard input.
func startWithInput(t *testing.T, name string, env []string, args ...string) (*proc, io.WriteCloser) {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, name), args...)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	return startCmd(t, name, cmd, env), in
}

func startCmd(t *testing.T, name string, cmd *exec.Cmd, env []string) *proc {
	t.Helper()
	cmd.Env = append(os.Environ(), env...)
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = internalproc.DieWithParent(syscall.SIGKILL) // even if the test binary is killed
	}
	p := &proc{t: t, name: name, cmd: cmd, done: make(chan struct{}), grew: make(chan struct{})}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout // merged: one readable log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			close(p.grew)
			p.grew = make(chan struct{})
			p.mu.Unlock()
		}
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.output())
		}
	})
	return p
}

// waitLine waits until a line starting with prefix appears and returns the
// rest of it; it fails the test after timeout or if the program exits.
func (p *proc) waitLine(prefix string, timeout time.Duration) string {
	p.t.Helper()
	deadline := time.After(timeout)
	seen := 0
	for {
		p.mu.Lock()
		for ; seen < len(p.lines); seen++ {
			if rest, ok := strings.CutPrefix(p.lines[seen], prefix); ok {
				p.mu.Unlock()
				return rest
			}
		}
		grew := p.grew
		p.mu.Unlock()
		select {
		case <-grew:
		case <-p.done:
			p.mu.Lock()
			n := len(p.lines)
			p.mu.Unlock()
			if seen == n {
				p.t.Fatalf("%s exited (%v) before printing %q:\n%s", p.name, p.exitErr(), prefix, p.output())
			}
		case <-deadline:
			p.t.Fatalf("%s did not print %q within %s:\n%s", p.name, prefix, timeout, p.output())
		}
	}
}

// wait waits for the program to exit and returns its error.
func (p *proc) wait(timeout time.Duration) error {
	p.t.Helper()
	select {
	case <-p.done:
		return p.exitErr()
	case <-time.After(timeout):
		p.t.Fatalf("%s still running after %s:\n%s", p.name, timeout, p.output())
		return nil
	}
}

// stop sends SIGTERM by PID and waits, killing the process after 5s.
func (p *proc) stop() { internalproc.Stop(p.cmd.Process, p.done, 5*time.Second) }

// kill sends SIGKILL by PID and waits for the process to go.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

func (p *proc) exitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// printed reports whether the program's output contains text, waiting for
// new lines (not polling) up to timeout or until the program exits.
func (p *proc) printed(text string, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for {
		p.mu.Lock()
		found := strings.Contains(strings.Join(p.lines, "\n"), text)
		grew := p.grew
		p.mu.Unlock()
		if found {
			return true
		}
		select {
		case <-grew:
		case <-p.done:
			return strings.Contains(p.output(), text)
		case <-deadline:
			return false
		}
	}
}

// run runs a built program to completion and returns its stdout, stderr
// and error; it fails the test if the program runs longer than timeout.
func run(t *testing.T, timeout time.Duration, name string, env []string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, name), args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %v did not finish within %s:\n%s%s", name, args, timeout, stdout.String(), stderr.String())
	}
	return stdout.String(), stderr.String(), err
}

// netEnv returns a fresh loopback host, port range start, and the NET_*
// variables that keep a peer process there.
func netEnv(t *testing.T) (host string, port int, env []string) {
	host, port = testnet.Host(t), testnet.Ports(t)
	return host, port, testnet.Env(t, host, port)
}

// exitCode returns a finished program's exit code, or -1.
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}
