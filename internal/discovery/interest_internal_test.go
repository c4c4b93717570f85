package discovery

import (
	"slices"
	"testing"

	"github.com/appnet-go/appnet/internal/peer"
)

// A member counts as missing twice only when the last check missed it
// too, and the check's own list is left whole for the next one.
func TestMissingAgain(t *testing.T) {
	var before map[peer.ID]bool
	for i, tc := range []struct {
		missing, again []peer.ID
	}{
		{[]peer.ID{"a", "b"}, nil},
		{[]peer.ID{"b", "c"}, []peer.ID{"b"}},
		{[]peer.ID{"b", "c"}, []peer.ID{"b", "c"}},
		{nil, nil},
		{[]peer.ID{"a"}, nil},
	} {
		missing := slices.Clone(tc.missing)
		again := missingAgain(before, missing)
		if !slices.Equal(again, tc.again) {
			t.Errorf("check %d: missing again %v, want %v", i, again, tc.again)
		}
		if !slices.Equal(missing, tc.missing) {
			t.Errorf("check %d: the list became %v", i, missing)
		}
		before = setOf(missing)
	}
}
