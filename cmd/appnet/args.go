package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
)

// command is one run of a subcommand: its flags, its arguments once
// parsed, and where --verbose notes go.
type command struct {
	fs      *flag.FlagSet
	args    []string
	verbose bool
	stderr  io.Writer
}

// newCommand returns a command with the --verbose flag every command has.
func newCommand(name string, stderr io.Writer) *command {
	c := &command{fs: flag.NewFlagSet(name, flag.ContinueOnError), stderr: stderr}
	c.fs.SetOutput(io.Discard)
	c.fs.BoolVar(&c.verbose, "verbose", false, "say what a peer resolved to and how the command reached the network")
	return c
}

// parse parses flags wherever they are among the arguments (before,
// between or after them; "--" ends the flags) and checks the number of
// arguments. A negative number is an argument, not a flag: it is JSON.
func (c *command) parse(args []string, minArgs, maxArgs int) error {
	for len(args) > 0 {
		if isArgument(args[0]) {
			c.args, args = append(c.args, args[0]), args[1:]
			continue
		}
		if err := c.fs.Parse(args); err != nil {
			return fmt.Errorf("%w: %s: %v", errUsage, c.fs.Name(), err)
		}
		rest := c.fs.Args()
		if stopped := len(args) - len(rest); stopped > 0 && args[stopped-1] == "--" {
			c.args = append(c.args, rest...)
			break
		}
		args = rest
	}
	if n := len(c.args); n < minArgs || n > maxArgs {
		want := fmt.Sprintf("%d to %d arguments", minArgs, maxArgs)
		if minArgs == maxArgs {
			want = plural(minArgs, "argument")
		}
		return fmt.Errorf("%w: %s takes %s, got %d", errUsage, c.fs.Name(), want, n)
	}
	return nil
}

// isArgument tells an argument from a flag: anything not starting with
// "-", "-" alone, and negative numbers.
func isArgument(s string) bool {
	if !strings.HasPrefix(s, "-") || s == "-" {
		return true
	}
	return len(s) > 1 && s[1] >= '0' && s[1] <= '9' && json.Valid([]byte(s))
}

// arg returns the i-th argument, or "".
func (c *command) arg(i int) string {
	if i < len(c.args) {
		return c.args[i]
	}
	return ""
}

// note prints a --verbose note.
func (c *command) note(format string, a ...any) {
	if c.verbose {
		fmt.Fprintf(c.stderr, "appnet: "+format+"\n", a...)
	}
}

// plural returns "1 thing" or "n things".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return fmt.Sprint([]string(*m)) }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }
