package main

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the usage text in README.md and doc.go from main.go")

// The usage text exists once, in main.go; the README's CLI section and the
// package doc must say the same. `go test ./cmd/appnet -update` rewrites
// them.
func TestUsageIsTheSameEverywhere(t *testing.T) {
	for _, f := range []struct {
		path         string
		start, end   string
		render       func(string) string
		howToRewrite string
	}{
		{"../../README.md", "```text\n", "```\n", func(u string) string { return u }, "the CLI section's text block"},
		{"doc.go", "//\n//\tusage:", "\n//\n// The usage", func(u string) string { return docComment(u) }, "the usage block"},
	} {
		data, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		text := string(data)
		from := strings.Index(text, f.start)
		if from < 0 {
			t.Fatalf("%s has no %s (no %q)", f.path, f.howToRewrite, f.start)
		}
		from += len(f.start)
		if f.path == "doc.go" {
			from -= len("//\tusage:") // the block starts with the usage line
		}
		to := strings.Index(text[from:], f.end)
		if to < 0 {
			t.Fatalf("%s: %s does not end (no %q)", f.path, f.howToRewrite, f.end)
		}
		got, want := text[from:from+to], f.render(usage)
		if f.path == "doc.go" {
			got += "\n"
		}
		if got == want {
			continue
		}
		if !*update {
			t.Errorf("%s: %s differs from the usage text in main.go; run `go test ./cmd/appnet -update`\n--- got\n%s\n--- want\n%s", f.path, f.howToRewrite, got, want)
			continue
		}
		if f.path == "doc.go" {
			want = strings.TrimSuffix(want, "\n")
		}
		if err := os.WriteFile(f.path, []byte(text[:from]+want+text[from+to:]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// docComment renders the usage as a preformatted block of a Go comment.
func docComment(u string) string {
	var b strings.Builder
	for line := range strings.Lines(u) {
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			b.WriteString("//\n")
			continue
		}
		b.WriteString("//\t" + line + "\n")
	}
	return b.String()
}
