package integration

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestSimpleConnectionExample(t *testing.T) {
	t.Parallel()
	_, _, env := netEnv(t)
	peer1 := start(t, "simple-peer1", env)
	peer1.waitLine("ready ", 10*time.Second)

	out, errOut, err := run(t, 30*time.Second, "simple-peer2", env)
	if err != nil {
		t.Fatalf("peer2: %v\n%s%s", err, out, errOut)
	}
	for _, want := range []string{"remote: printed My Message!", "local: printed My Message!"} {
		if !strings.Contains(out, want) {
			t.Errorf("peer2 printed %q, want a line %q", out, want)
		}
	}
	// The remote call printed the message on peer1.
	peer1.waitLine("My Message!", 5*time.Second)
}

func TestSimpleTaggedConnectionExample(t *testing.T) {
	t.Parallel()
	_, _, env := netEnv(t)
	p1 := start(t, "tagged-peer1", env)
	p1.waitLine("ready ", 10*time.Second)
	p2 := start(t, "tagged-peer2", env)
	p2.waitLine("ready ", 10*time.Second)

	out, errOut, err := run(t, 30*time.Second, "tagged-peer3", env)
	if err != nil {
		t.Fatalf("peer3: %v\n%s%s", err, out, errOut)
	}
	for _, want := range []string{`"My Message! Version 1"`, `"My Message! Version 2"`} {
		if strings.Count(out, want) != 1 {
			t.Errorf("peer3 printed %q, want %s once", out, want)
		}
	}
	p1.waitLine("My Message!", 5*time.Second)
	p2.waitLine("My Message!", 5*time.Second)
}

func TestSimpleSubscriptionExample(t *testing.T) {
	t.Parallel()
	_, _, env := netEnv(t)
	p1 := start(t, "sub-peer1", env)
	p1.waitLine("ready ", 10*time.Second)
	p2 := start(t, "sub-peer2", env)
	p2.waitLine("ready ", 10*time.Second)
	hub, in := startWithInput(t, "sub-hub", env)
	hub.waitLine("ready ", 10*time.Second)

	lines := []string{"first line", "  second, with spaces around  ", "third"}
	for _, l := range lines {
		if _, err := io.WriteString(in, l+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	in.Close()
	if err := hub.wait(10 * time.Second); err != nil {
		t.Fatalf("hub: %v\n%s", err, hub.output())
	}
	for _, p := range []*proc{p1, p2} {
		p.waitLine("third", 5*time.Second)
		var got []string
		for _, l := range strings.Split(p.output(), "\n") {
			if !strings.HasPrefix(l, "ready ") {
				got = append(got, l)
			}
		}
		want := []string{"first line", "second, with spaces around", "third"}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s printed %q, want %q once each, in order", p.name, got, want)
		}
	}
}
