package integration

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/peer"
)

// TestREADME walks the README's quick start as a newcomer would, running
// every shell command of the README against a loopback host and port
// range of its own: the README's 127.0.0.1 and 3010 (and the ID they
// make) stand for the test's. A command added to the README without being
// run here fails the test.
func TestREADME(t *testing.T) {
	t.Parallel()
	host, port, env := netEnv(t)
	r := newReadme(t, host, port)

	// 1. Get the appnet command, for real: go install into a folder of
	// the test's, a static binary. Every appnet command below runs what
	// it installed.
	r.claim("CGO_ENABLED=0 go install ./cmd/appnet")
	gobin := t.TempDir()
	install := exec.Command("go", "install", "./cmd/appnet")
	install.Dir = ".."
	install.Env = append(os.Environ(), "GOBIN="+gobin, "CGO_ENABLED=0")
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go install ./cmd/appnet: %v\n%s", err, out)
	}
	if out, err := exec.Command("go", "version", "-m", filepath.Join(gobin, "appnet")).CombinedOutput(); err != nil || !strings.Contains(string(out), "CGO_ENABLED=0") {
		t.Fatalf("go version -m of the installed appnet: %v, without CGO_ENABLED=0:\n%s", err, out)
	}
	copyFile(t, filepath.Join(gobin, "appnet"), filepath.Join(bin, "readme-appnet"))
	appnet := func(cmd string) []string {
		args := r.claim(cmd)
		if args[0] != "appnet" {
			t.Fatalf("%q is not an appnet command", cmd)
		}
		return args[1:]
	}
	mustRun := func(cmd string, wants ...string) {
		t.Helper()
		out, errOut, err := run(t, 60*time.Second, "readme-appnet", env, appnet(cmd)...)
		if err != nil {
			t.Fatalf("%s: %v\n%s%s", cmd, err, out, errOut)
		}
		for _, want := range wants {
			if !strings.Contains(out, want) {
				t.Errorf("%s printed\n%s\nwithout %q", cmd, out, want)
			}
		}
	}

	// 2. The demo.
	mustRun("appnet demo", "found 3 peers", "every peer of the group answered: 3 answers", "done:")

	// 3. A peer and a caller. The test's env already keeps NET_HOST on
	// loopback, as the export does.
	r.claim("export NET_HOST=127.0.0.1")
	serve := start(t, "readme-appnet", env, appnet("appnet serve")...)
	id := serve.waitLine("ready ", 10*time.Second)
	if id != r.id {
		t.Fatalf("appnet serve runs as %s, want %s (the README's ID for 127.0.0.1:3010)", id, r.id)
	}
	mustRun("appnet peers --on-host", id, "1 peer on 1 host")
	mustRun("appnet call 127.0.0.1:3010 info", `"group": "None"`)
	mustRun(`appnet call 127.0.0.1:3010 pass_through '{"a": 1}'`, `"a": 1`)

	// 4. Events.
	listen := start(t, "readme-appnet", env, appnet("appnet listen news")...)
	listen.waitLine("listening for ", 10*time.Second)
	mustRun(`appnet emit None news '"hello"'`, "emitted net.event.None.peer.")
	if !listen.printed(` news "hello"`, 10*time.Second) {
		t.Errorf("appnet listen did not print the event:\n%s", listen.output())
	}

	// 5. The nats CLI.
	r.claim("cd tools && go build -o /tmp/nats github.com/nats-io/natscli/nats && cd ..")
	nats := r.natsRunner(natsBin(t))
	if out := nats("/tmp/nats --no-context -s nats://127.0.0.1:3010 micro list"); !strings.Contains(out, id) {
		t.Errorf("micro list:\n%s", out)
	}
	if out := nats(`/tmp/nats --no-context -s nats://127.0.0.1:3010 request 'net.peer.MTI3LjAuMC4xOjMwMTAgLT4gTm9uZQ.call.pass_through' '{"a":1}'`); !strings.Contains(out, `{"a":1}`) {
		t.Errorf("request pass_through:\n%s", out)
	}

	// The inspection section, with $S.
	r.claim("S=nats://127.0.0.1:3010")
	for cmd, want := range map[string]string{
		"/tmp/nats --no-context -s $S micro list":                                                     id,
		"/tmp/nats --no-context -s $S micro info None":                                                "pass_through",
		"/tmp/nats --no-context -s $S micro stats None":                                               "pass_through",
		"/tmp/nats --no-context -s $S request 'net.peer.MTI3LjAuMC4xOjMwMTAgLT4gTm9uZQ.call.info' ''": `"group":"None"`,
		"/tmp/nats --no-context -s $S request 'net.group.None.call.info' ''":                          `"group":"None"`,
		"/tmp/nats --no-context -s $S --user sys --password sys server list":                          id,
		"/tmp/nats --no-context -s $S --user sys --password sys server report connections 1":          id,
	} {
		if out := nats(cmd); !strings.Contains(out, want) {
			t.Errorf("%s printed\n%s\nwithout %q", cmd, out, want)
		}
	}
	sub := r.natsStart(natsBin(t), "/tmp/nats --no-context -s $S sub --count=1 'net.event.>'")
	sub.waitLine("", 10*time.Second) // its "Subscribing on" line
	if !sub.printed("Subscribing on", 10*time.Second) {
		t.Fatalf("nats sub did not subscribe:\n%s", sub.output())
	}
	nats(`/tmp/nats --no-context -s $S pub 'net.event.myApp.peer.MTI3LjAuMC4xOjMwMTAgLT4gTm9uZQ.message' '"hi"'`)
	if err := sub.wait(10 * time.Second); err != nil || !strings.Contains(sub.output(), `"hi"`) {
		t.Errorf("nats sub --count=1: %v\n%s", err, sub.output())
	}

	// 6. The examples: each is run, built from the same package, by the
	// test named.
	for cmd, test := range map[string]string{
		"go run ./examples/simple_connection/peer1":                                      "TestSimpleConnectionExample",
		"go run ./examples/simple_connection/peer2":                                      "TestSimpleConnectionExample",
		"go run ./examples/simple_tagged_connection/peer1":                               "TestSimpleTaggedConnectionExample",
		"go run ./examples/simple_tagged_connection/peer2":                               "TestSimpleTaggedConnectionExample",
		"go run ./examples/simple_tagged_connection/peer3":                               "TestSimpleTaggedConnectionExample",
		"go run ./examples/simple_subscription/peer1":                                    "TestSimpleSubscriptionExample",
		"go run ./examples/simple_subscription/peer2":                                    "TestSimpleSubscriptionExample",
		`printf 'first line\nsecond line\n' | go run ./examples/simple_subscription/hub`: "TestSimpleSubscriptionExample",
	} {
		r.claim(cmd)
		r.ranBy(test)
	}
	// The demo run from source is the same package as the binary TestDemo
	// runs; the test command runs this test, and CI runs it (.ci/run).
	r.claim("go run ./cmd/appnet demo")
	r.ranBy("TestDemo")
	r.claim("scripts/test")
	r.done()
}

// readme holds the README's shell commands and which of them ran.
type readme struct {
	t        *testing.T
	commands map[string]bool // command -> claimed
	order    []string
	host     string
	port     int
	id       string
	vars     map[string]string
}

func newReadme(t *testing.T, host string, port int) *readme {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	r := &readme{t: t, commands: map[string]bool{}, host: host, port: port,
		id: string(peer.NewID(host, port, "None")), vars: map[string]string{}}
	in := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "```"):
			in = !in && line == "```sh"
		case in && strings.TrimSpace(line) != "":
			cmd := strings.TrimSpace(line)
			if _, seen := r.commands[cmd]; !seen {
				r.order = append(r.order, cmd)
			}
			r.commands[cmd] = false
		}
	}
	if len(r.commands) == 0 {
		t.Fatal("no ```sh block in README.md")
	}
	return r
}

// claim marks a README command as run and returns its words, with the
// README's address and ID replaced by the test's and $variables expanded.
func (r *readme) claim(cmd string) []string {
	r.t.Helper()
	if _, ok := r.commands[cmd]; !ok {
		r.t.Fatalf("the README has no command %q (the test runs what is not there)", cmd)
	}
	r.commands[cmd] = true
	local := strings.NewReplacer(
		"MTI3LjAuMC4xOjMwMTAgLT4gTm9uZQ", r.id,
		"127.0.0.1:3010", fmt.Sprintf("%s:%d", r.host, r.port),
		"127.0.0.1", r.host,
	).Replace(cmd)
	for name, v := range r.vars {
		local = strings.ReplaceAll(local, "$"+name, v)
	}
	words := shellWords(r.t, local)
	if name, value, ok := strings.Cut(words[0], "="); ok && len(words) == 1 && !strings.Contains(name, "/") {
		r.vars[name] = value
	}
	return words
}

// ranBy checks that the test named exists in this package's sources.
func (r *readme) ranBy(test string) {
	r.t.Helper()
	files, _ := filepath.Glob("*_test.go")
	for _, f := range files {
		if data, err := os.ReadFile(f); err == nil && bytes.Contains(data, []byte("func "+test+"(t *testing.T)")) {
			return
		}
	}
	r.t.Errorf("no test %s in this package", test)
}

// done fails the test for every README command nothing ran.
func (r *readme) done() {
	r.t.Helper()
	for _, cmd := range r.order {
		if !r.commands[cmd] {
			r.t.Errorf("the README command %q is run by no test: run it in TestREADME", cmd)
		}
	}
}

// natsRunner returns a function running a README nats command with the
// nats CLI at path, in an empty configuration of its own.
func (r *readme) natsRunner(path string) func(cmd string) string {
	home := r.t.TempDir()
	return func(cmd string) string {
		r.t.Helper()
		args := r.claim(cmd)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c := exec.CommandContext(ctx, path, args[1:]...)
		c.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home, "NO_COLOR=1")
		out, err := c.CombinedOutput()
		if err != nil {
			r.t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
		return string(out)
	}
}

// natsStart starts a README nats command that runs until it is done.
func (r *readme) natsStart(path, cmd string) *proc {
	r.t.Helper()
	args := r.claim(cmd)
	home := r.t.TempDir()
	return startCmd(r.t, "nats", exec.Command(path, args[1:]...), []string{"HOME=" + home, "XDG_CONFIG_HOME=" + home, "NO_COLOR=1"})
}

// shellWords splits a command line as sh does for the README's commands:
// words, 'single' and "double" quotes; no expansion.
func shellWords(t *testing.T, line string) []string {
	var words []string
	var word strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		switch ch := line[i]; ch {
		case ' ', '\t':
			if inWord {
				words, inWord = append(words, word.String()), false
				word.Reset()
			}
		case '\'', '"':
			end := strings.IndexByte(line[i+1:], ch)
			if end < 0 {
				t.Fatalf("unbalanced quote in %q", line)
			}
			word.WriteString(line[i+1 : i+1+end])
			i += end + 1
			inWord = true
		default:
			word.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, word.String())
	}
	return words
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
