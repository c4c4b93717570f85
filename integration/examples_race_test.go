package integration

import (
	"io"
	"strings"
	"testing"
	"time"
)

// raceRounds is how many times each example's README command sequence
// runs, every process of a round started at the same moment: the
// examples wait for the peers they need (bus.Wait), so none may race.
const raceRounds = 20

func TestSimpleConnectionExampleNeverRaces(t *testing.T) {
	t.Parallel()
	for round := range raceRounds {
		_, _, env := netEnv(t)
		peer1 := start(t, "simple-peer1", env)
		peer2 := start(t, "simple-peer2", env)
		if err := peer2.wait(30 * time.Second); err != nil {
			t.Fatalf("round %d: peer2: %v\n%s", round, err, peer2.output())
		}
		for _, want := range []string{"remote: printed My Message!", "local: printed My Message!"} {
			if !strings.Contains(peer2.output(), want) {
				t.Fatalf("round %d: peer2 printed %q, want a line %q", round, peer2.output(), want)
			}
		}
		peer1.stop()
	}
}

func TestSimpleTaggedConnectionExampleNeverRaces(t *testing.T) {
	t.Parallel()
	for round := range raceRounds {
		_, _, env := netEnv(t)
		p1 := start(t, "tagged-peer1", env)
		p2 := start(t, "tagged-peer2", env)
		p3 := start(t, "tagged-peer3", env)
		if err := p3.wait(30 * time.Second); err != nil {
			t.Fatalf("round %d: peer3: %v\n%s", round, err, p3.output())
		}
		for _, want := range []string{`"My Message! Version 1"`, `"My Message! Version 2"`} {
			if strings.Count(p3.output(), want) != 1 {
				t.Fatalf("round %d: peer3 printed %q, want %s once", round, p3.output(), want)
			}
		}
		p1.stop()
		p2.stop()
	}
}

func TestSimpleSubscriptionExampleNeverRaces(t *testing.T) {
	t.Parallel()
	want := "first line|second line"
	for round := range raceRounds {
		_, _, env := netEnv(t)
		p1 := start(t, "sub-peer1", env)
		p2 := start(t, "sub-peer2", env)
		hub, in := startWithInput(t, "sub-hub", env)
		// The README pipes the lines in: they wait in the pipe until the
		// hub has its two listeners.
		if _, err := io.WriteString(in, "first line\nsecond line\n"); err != nil {
			t.Fatal(err)
		}
		in.Close()
		if err := hub.wait(30 * time.Second); err != nil {
			t.Fatalf("round %d: hub: %v\n%s", round, err, hub.output())
		}
		for _, p := range []*proc{p1, p2} {
			if !p.printed("second line", 5*time.Second) {
				t.Fatalf("round %d: %s printed %q, want both lines", round, p.name, p.output())
			}
			var got []string
			for _, l := range strings.Split(p.output(), "\n") {
				if !strings.HasPrefix(l, "ready ") {
					got = append(got, l)
				}
			}
			if strings.Join(got, "|") != want {
				t.Fatalf("round %d: %s printed %q, want %q", round, p.name, got, want)
			}
		}
		p1.stop()
		p2.stop()
	}
}

// A program that finds no peer says so and exits non-zero.
func TestExampleWithoutItsPeerFailsLoudly(t *testing.T) {
	t.Parallel()
	_, _, env := netEnv(t)
	out, errOut, err := run(t, 30*time.Second, "simple-peer2", env)
	if exitCode(err) != 1 || !strings.Contains(out+errOut, "start peer1") {
		t.Fatalf("peer2 alone: exit %v, printed %q %q; want exit 1 saying to start peer1", err, out, errOut)
	}
}
