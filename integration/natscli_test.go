package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/peer"
	"github.com/appnet-go/appnet/internal/testnet"
	"github.com/nats-io/nats.go/micro"
)

// The real NATS CLI, pinned in ../tools, is built at most once per test
// binary, and only by the tests that run it.
var natsCLIBuild struct {
	once sync.Once
	path string
	err  error
}

// natsBin returns the path of the nats CLI, building it the first time. A
// cold build takes about a minute.
func natsBin(t *testing.T) string {
	t.Helper()
	natsCLIBuild.once.Do(func() {
		path := filepath.Join(bin, "nats") // removed with bin by TestMain
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", path, "github.com/nats-io/natscli/nats")
		cmd.Dir = filepath.Join("..", "tools")
		start := time.Now()
		out, err := cmd.CombinedOutput()
		if err != nil {
			natsCLIBuild.err = &buildError{err: err, out: string(out), ctx: ctx.Err()}
			return
		}
		natsCLIBuild.path = path
		t.Logf("built the nats CLI in %s", time.Since(start).Round(time.Millisecond))
	})
	if natsCLIBuild.err != nil {
		t.Fatalf("building the nats CLI in ../tools: %v", natsCLIBuild.err)
	}
	return natsCLIBuild.path
}

type buildError struct {
	err error
	out string
	ctx error
}

func (e *buildError) Error() string {
	if e.ctx != nil {
		return e.err.Error() + " (" + e.ctx.Error() + ")\n" + e.out
	}
	return e.err.Error() + "\n" + e.out
}

// natsCLI runs the nats CLI against one server, with no context and a
// private, empty configuration directory.
type natsCLI struct {
	t    *testing.T
	path string
	url  string
	home string
}

func newNATSCLI(t *testing.T, url string) *natsCLI {
	t.Helper()
	testnet.MustLoopback(t, url)
	return &natsCLI{t: t, path: natsBin(t), url: url, home: t.TempDir()}
}

// run runs `nats --no-context -s <url> args...` and returns its stdout,
// stderr and error; it fails the test if the CLI runs longer than timeout.
func (c *natsCLI) run(timeout time.Duration, args ...string) (string, string, error) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.path, append([]string{"--no-context", "-s", c.url}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+c.home, "XDG_CONFIG_HOME="+c.home, "NO_COLOR=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		c.t.Fatalf("nats %v did not finish within %s:\n%s%s", args, timeout, stdout.String(), stderr.String())
	}
	return stdout.String(), stderr.String(), err
}

// must is run that fails the test when the CLI fails.
func (c *natsCLI) must(args ...string) string {
	c.t.Helper()
	out, errOut, err := c.run(30*time.Second, args...)
	if err != nil {
		c.t.Fatalf("nats %v: %v\n%s%s", args, err, out, errOut)
	}
	return out
}

// mustJSON runs the CLI and decodes its stdout into v.
func (c *natsCLI) mustJSON(v any, args ...string) {
	c.t.Helper()
	out := c.must(args...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		c.t.Fatalf("nats %v: %v in\n%s", args, err, out)
	}
}

// peerURL returns the client URL of the peer id names.
func peerURL(t *testing.T, id string) string {
	t.Helper()
	addr, err := peer.ID(id).Decode()
	if err != nil {
		t.Fatalf("peer ID %q: %v", id, err)
	}
	url := "nats://" + net.JoinHostPort(addr.Host, strconv.Itoa(addr.Port))
	testnet.MustLoopback(t, url)
	return url
}

// body is the message body the nats CLI's request printed.
func natsBody(stdout string) string {
	s := strings.TrimRight(stdout, "\n")
	if s == "nil body" {
		return ""
	}
	return s
}

func TestNATSCLIMicroListInfoAndRequest(t *testing.T) {
	t.Parallel()
	host, port, env := netEnv(t)
	a := start(t, "appnet", env, "serve")
	id := a.waitLine("ready ", 10*time.Second)
	nats := newNATSCLI(t, peerURL(t, id))

	// micro list: the peer is an instance of the service named after its
	// group, with the peer ID as instance ID.
	out := nats.must("micro", "list")
	if !strings.Contains(out, "None") || !strings.Contains(out, id) || !strings.Contains(out, "appnet peer") {
		t.Errorf("micro list lacks None / %s:\n%s", id, out)
	}
	var list []micro.Info
	nats.mustJSON(&list, "micro", "list", "--json")
	if len(list) != 1 || list[0].Name != "None" || list[0].ID != id || list[0].Version != peer.Version {
		t.Errorf("micro list --json = %+v, want one instance None/%s/%s", list, id, peer.Version)
	}

	subject := func(c string) string { return peer.CallSubject(peer.ID(id), c) }
	conns := []string{"connections", "info", "null", "pass_through"}

	// micro info, as text and JSON.
	out = nats.must("micro", "info", "None")
	for _, want := range append([]string{id, "appnet peer", "host: " + host, "port: " + strconv.Itoa(port)}, subject("info")) {
		if !strings.Contains(out, want) {
			t.Errorf("micro info None lacks %q:\n%s", want, out)
		}
	}
	var info struct {
		Info  micro.Info  `json:"info"`
		Stats micro.Stats `json:"stats"`
	}
	nats.mustJSON(&info, "micro", "info", "None", "--json")
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	exe := realPath(t, filepath.Join(bin, "appnet"))
	md := info.Info.Metadata
	for k, want := range map[string]string{
		"id": id, "host": host, "port": strconv.Itoa(port), "group": "None", "hub": "false", "user": u.Username,
	} {
		if md[k] != want {
			t.Errorf("micro info metadata %s = %q, want %q (all: %v)", k, md[k], want, md)
		}
	}
	if md["executable"] == "" || realPath(t, md["executable"]) != exe {
		t.Errorf("micro info metadata executable = %q, want %s", md["executable"], exe)
	}
	if info.Info.ID != id || info.Info.Name != "None" || info.Info.Description != "appnet peer" {
		t.Errorf("micro info identity = %s/%s %q", info.Info.Name, info.Info.ID, info.Info.Description)
	}
	var names []string
	for _, ep := range info.Info.Endpoints {
		names = append(names, ep.Name)
		if ep.Subject != subject(ep.Name) || ep.Metadata["connection"] != ep.Name {
			t.Errorf("endpoint %s: subject %q metadata %v, want subject %q", ep.Name, ep.Subject, ep.Metadata, subject(ep.Name))
		}
	}
	if !slices.Equal(names, conns) {
		t.Errorf("micro info endpoints = %v, want %v", names, conns)
	}
	if len(info.Stats.Endpoints) != len(conns) {
		t.Errorf("micro info --json stats has %d endpoints, want %d", len(info.Stats.Endpoints), len(conns))
	}

	// Plain requests on the wire subjects.
	out = nats.must("request", subject("info"), "")
	var pi peer.Info
	if err := json.Unmarshal([]byte(natsBody(out)), &pi); err != nil || string(pi.ID) != id || pi.Host != host || pi.Port != port ||
		!slices.Equal(pi.Connections, conns) {
		t.Errorf("request info: %v\n%s", err, out)
	}
	if out := nats.must("request", subject("pass_through"), `{"a":1}`); natsBody(out) != `{"a":1}` {
		t.Errorf("request pass_through {\"a\":1} printed %q", out)
	}
	if out := nats.must("request", "--raw", subject("pass_through"), `[1,"two",{"3":null}]`); natsBody(out) != `[1,"two",{"3":null}]` {
		t.Errorf("request --raw pass_through printed %q", out)
	}
	out, errOut, err := nats.run(30*time.Second, "request", subject("null"), "")
	if err != nil || natsBody(out) != "" || !strings.Contains(errOut, "Net-Flag: NULL") {
		t.Errorf("request null: %v, stdout %q, stderr %q; want an empty body with Net-Flag: NULL", err, out, errOut)
	}
	out, errOut, err = nats.run(30*time.Second, "request", subject("nope"), "")
	for _, want := range []string{"Nats-Service-Error-Code: 404", "Net-Flag: INVALID_CONNECTION", `has no connection "nope"`} {
		if err != nil || !strings.Contains(errOut, want) {
			t.Errorf("request nope: %v, stderr lacks %q:\n%s%s", err, want, out, errOut)
		}
	}
}

func TestNATSCLIMicroStatsCountCalls(t *testing.T) {
	t.Parallel()
	_, _, env := netEnv(t)
	// The demo peer has typed connections, so that a call can fail.
	p := start(t, "appnet", env, "demo-peer", "--version=1")
	id := p.waitLine("ready ", 10*time.Second)
	nats := newNATSCLI(t, peerURL(t, id))
	subject := func(c string) string { return peer.CallSubject(peer.ID(id), c) }

	for i := range 3 {
		arg := `{"n":` + strconv.Itoa(i) + `}`
		if out := nats.must("request", subject("pass_through"), arg); natsBody(out) != arg {
			t.Errorf("request pass_through %s printed %q", arg, out)
		}
	}
	if out := nats.must("request", subject("demo.greet"), `"Ada"`); natsBody(out) != `"Hello, Ada! (version 1)"` {
		t.Errorf("request demo.greet printed %q", out)
	}
	// A bad request is a call that failed; a flag is an answer, not an
	// error; an unknown connection is no endpoint's call.
	for _, c := range []struct{ conn, arg, says string }{
		{"demo.greet", `{"not":"a string"}`, "Nats-Service-Error-Code: 400"},
		{"demo.lookup", `"nobody"`, "Net-Flag: NOT_FOUND"},
		{"null", "", "Net-Flag: NULL"},
		{"no.such", "", "Nats-Service-Error-Code: 404"},
	} {
		out, errOut, err := nats.run(30*time.Second, "request", subject(c.conn), c.arg)
		if err != nil || !strings.Contains(errOut, c.says) {
			t.Errorf("request %s %s: %v, want %q:\n%s%s", c.conn, c.arg, err, c.says, out, errOut)
		}
	}

	var stats []micro.Stats
	nats.mustJSON(&stats, "micro", "stats", "None", "--json")
	if len(stats) != 1 || stats[0].ID != id {
		t.Fatalf("micro stats None --json: %d instances, want one with ID %s: %+v", len(stats), id, stats)
	}
	got := map[string]*micro.EndpointStats{}
	for _, ep := range stats[0].Endpoints {
		got[ep.Name] = ep
	}
	for _, want := range []struct {
		conn             string
		requests, errors int
	}{
		{"pass_through", 3, 0},
		{"demo.greet", 2, 1},
		{"demo.lookup", 1, 0},
		{"null", 1, 0},
		{"info", 0, 0},
		{"main.shout", 0, 0},
	} {
		name := strings.ReplaceAll(want.conn, ".", "_") // the micro endpoint name
		ep := got[name]
		if ep == nil {
			t.Errorf("micro stats: no endpoint %s in %+v", name, stats[0].Endpoints)
			continue
		}
		if ep.NumRequests != want.requests || ep.NumErrors != want.errors || ep.Subject != subject(want.conn) {
			t.Errorf("micro stats %s: %d requests, %d errors, subject %s; want %d, %d, %s",
				name, ep.NumRequests, ep.NumErrors, ep.Subject, want.requests, want.errors, subject(want.conn))
		}
	}
	if ep := got["demo_greet"]; ep != nil && !strings.Contains(ep.LastError, "does not decode") {
		t.Errorf("micro stats demo_greet last_error = %q, want the decoding error", ep.LastError)
	}
	if ep := got["pass_through"]; ep != nil && (ep.ProcessingTime <= 0 || ep.LastError != "") {
		t.Errorf("micro stats pass_through: processing time %s, last error %q", ep.ProcessingTime, ep.LastError)
	}
}

func TestNATSCLIMicroListSeesTheWholeCluster(t *testing.T) {
	t.Parallel()
	_, _, env := netEnv(t)
	a := start(t, "appnet", env, "serve")
	idA := a.waitLine("ready ", 10*time.Second)
	// Started with the same environment, b finds a on the host and routes
	// to it before it says it is ready.
	b := start(t, "appnet", append(env, "NET_GROUP=other"), "serve")
	idB := b.waitLine("ready ", 10*time.Second)
	nats := newNATSCLI(t, peerURL(t, idA)) // a's server only

	// Interest travels over the route asynchronously; poll until both
	// instances answer, within a deadline.
	want := map[string]string{"None": idA, "other": idB}
	var list []micro.Info
	deadline := time.Now().Add(20 * time.Second)
	for {
		list = nil
		nats.mustJSON(&list, "micro", "list", "--json")
		seen := map[string]string{}
		for _, s := range list {
			seen[s.Name] = s.ID
		}
		if len(list) == 2 && seen["None"] == want["None"] && seen["other"] == want["other"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("micro list against a's server = %+v, want None/%s and other/%s", list, idA, idB)
		}
	}
	if out := nats.must("micro", "list"); !strings.Contains(out, idA) || !strings.Contains(out, idB) {
		t.Errorf("micro list table lacks a peer:\n%s", out)
	}

	// b's details and calls to b, through a's server.
	var info struct {
		Info micro.Info `json:"info"`
	}
	nats.mustJSON(&info, "micro", "info", "other", "--json")
	if info.Info.ID != idB || info.Info.Metadata["group"] != "other" || len(info.Info.Endpoints) != 4 ||
		info.Info.Endpoints[0].Subject != peer.CallSubject(peer.ID(idB), info.Info.Endpoints[0].Name) {
		t.Errorf("micro info other through a = %+v", info.Info)
	}
	var pi peer.Info
	out := nats.must("request", peer.CallSubject(peer.ID(idB), "info"), "")
	if err := json.Unmarshal([]byte(natsBody(out)), &pi); err != nil || string(pi.ID) != idB || pi.Group != "other" {
		t.Errorf("request b's info through a: %v\n%s", err, out)
	}
}

// realPath resolves symbolic links, so that two names of one file compare
// equal.
func realPath(t *testing.T, path string) string {
	t.Helper()
	p, err := filepath.EvalSymlinks(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return p
}
