package main

import (
	"errors"
	"io"
	"slices"
	"testing"
)

func TestFlagsGoAnywhere(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		want    []string
		timeout string
		verbose bool
	}{
		{[]string{"--timeout", "2s", "id", "info"}, []string{"id", "info"}, "2s", false},
		{[]string{"id", "info", "--timeout", "2s"}, []string{"id", "info"}, "2s", false},
		{[]string{"id", "--verbose", "info", "--timeout=2s"}, []string{"id", "info"}, "2s", true},
		{[]string{"id", "sum", "-12.5"}, []string{"id", "sum", "-12.5"}, "", false},
		{[]string{"id", "--", "--timeout"}, []string{"id", "--timeout"}, "", false},
		{[]string{"-", "x"}, []string{"-", "x"}, "", false},
	} {
		c := newCommand("call", io.Discard)
		timeout := c.fs.String("timeout", "", "")
		if err := c.parse(tc.args, 0, 3); err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if !slices.Equal(c.args, tc.want) || *timeout != tc.timeout || c.verbose != tc.verbose {
			t.Errorf("%q: args %q timeout %q verbose %t; want %q %q %t", tc.args, c.args, *timeout, c.verbose, tc.want, tc.timeout, tc.verbose)
		}
	}
	for _, args := range [][]string{{"a", "--nope"}, {"a", "b", "c", "d"}, {"--timeout"}} {
		c := newCommand("call", io.Discard)
		c.fs.String("timeout", "", "")
		if err := c.parse(args, 0, 3); !errors.Is(err, errUsage) {
			t.Errorf("%q: err = %v, want a usage error", args, err)
		}
	}
}
