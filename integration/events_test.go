package integration

import (
	"strings"
	"testing"
	"time"
)

func TestCLIEmitAndListen(t *testing.T) {
	t.Parallel()
	_, _, env := netEnv(t)
	all := start(t, "appnet", env, "listen", "--group", "g1", "news.today")
	all.waitLine("listening for ", 10*time.Second)
	hubs := start(t, "appnet", env, "listen", "--group", "g1", "--hubs-only", "news.today")
	hubs.waitLine("listening for ", 10*time.Second)
	other := start(t, "appnet", env, "listen", "--group", "g2", "news.today")
	other.waitLine("listening for ", 10*time.Second)

	emit := func(args ...string) string {
		t.Helper()
		out, errOut, err := run(t, 20*time.Second, "appnet", env, append([]string{"emit"}, args...)...)
		if err != nil {
			t.Fatalf("emit %v: %v\n%s%s", args, err, out, errOut)
		}
		from, _, _ := strings.Cut(strings.TrimSpace(out[strings.LastIndex(out, " from ")+6:]), "\n")
		return from
	}
	peerFrom := emit("g1", "news.today", `{"n":1}`)
	hubFrom := emit("--hub", "g1", "news.today", `"from the hub"`)

	waitOutput(t, all, peerFrom+` news.today {"n":1}`)
	waitOutput(t, all, hubFrom+` news.today "from the hub"`)
	waitOutput(t, hubs, hubFrom+` news.today "from the hub"`)
	if strings.Contains(hubs.output(), `{"n":1}`) {
		t.Errorf("a hubs-only listener heard a plain peer:\n%s", hubs.output())
	}
	if strings.Contains(other.output(), "news.today {") || strings.Contains(other.output(), `news.today "`) {
		t.Errorf("a listener of group g2 heard g1:\n%s", other.output())
	}

	// Bad input is refused before anything starts.
	for _, args := range [][]string{{"g1", "bad.*"}, {"g1", "ok", "{not json"}, {"bad group", "ok"}} {
		_, errOut, err := run(t, 20*time.Second, "appnet", env, append([]string{"emit"}, args...)...)
		if err == nil || errOut == "" {
			t.Errorf("emit %v: %v %q, want a clear error", args, err, errOut)
		}
	}
}

// waitOutput waits until a program's output contains s.
func waitOutput(t *testing.T, p *proc, s string) {
	t.Helper()
	if !p.printed(s, 10*time.Second) {
		t.Fatalf("%s never printed %q:\n%s", p.name, s, p.output())
	}
}

func TestNATSCLISeesAndSendsEvents(t *testing.T) {
	t.Parallel()
	_, _, env := netEnv(t)
	listener := start(t, "appnet", append(env, "NET_GROUP=myApp"), "listen", "message")
	id := strings.TrimSpace(listener.waitLine("listening for \"message\" as ", 10*time.Second))
	cli := newNATSCLI(t, peerURL(t, id))

	// nats sub shows an appnet event as readable JSON with its headers.
	home := t.TempDir()
	sub := start(t, "nats", []string{"HOME=" + home, "XDG_CONFIG_HOME=" + home, "NO_COLOR=1"},
		"--no-context", "-s", peerURL(t, id), "sub", "net.event.>", "--count", "1")
	sub.waitLine("", 10*time.Second) // "Subscribing on net.event.>"
	_, errOut, err := run(t, 20*time.Second, "appnet", append(env, "NET_GROUP=myApp"), "emit", "--headers", "myApp", "message", `{"text":"hello"}`)
	if err != nil {
		t.Fatalf("emit: %v %s", err, errOut)
	}
	waitOutput(t, sub, `{"text":"hello"}`)
	for _, want := range []string{"net.event.myApp.peer.", "Net-Emitter:", "Net-Event: message"} {
		if !strings.Contains(sub.output(), want) {
			t.Errorf("nats sub output lacks %q:\n%s", want, sub.output())
		}
	}

	// nats pub on an event subject reaches appnet subscribers, who read the
	// emitter from the subject.
	cli.must("pub", "net.event.myApp.peer."+id+".message", `{"text":"from nats"}`)
	waitOutput(t, listener, id+` message {"text":"from nats"}`)
}
