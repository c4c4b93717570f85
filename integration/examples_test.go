package integration

import (
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
