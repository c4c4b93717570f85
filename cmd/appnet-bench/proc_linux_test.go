package main

import (
	"os"
	"testing"
)

// The private memory of a process is part of its resident memory, and a
// Go process has some of each.
func TestUSSIsPartOfRSS(t *testing.T) {
	rss, err := readRSS(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	uss, err := readUSS(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if uss <= 0 || uss > rss {
		t.Fatalf("USS %d bytes, RSS %d bytes: want 0 < USS <= RSS", uss, rss)
	}
}
