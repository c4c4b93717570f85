package discovery

import (
	"slices"
	"testing"

	"github.com/appnet-go/appnet/internal/peer"
)

// A member counts once it was missing at missedChecks (two) checks in a
// row, and the check's own list is left whole for the next one.
func TestCountMissing(t *testing.T) {
	var counts map[peer.ID]int
	for i, tc := range []struct {
		missing, long []peer.ID
	}{
		{[]peer.ID{"a", "b"}, nil},
		{[]peer.ID{"b", "c"}, []peer.ID{"b"}},
		{[]peer.ID{"b", "c"}, []peer.ID{"b", "c"}},
		{nil, nil},
		{[]peer.ID{"b"}, nil},
		{[]peer.ID{"b"}, []peer.ID{"b"}},
	} {
		missing := slices.Clone(tc.missing)
		var long []peer.ID
		counts, long = countMissing(counts, missing)
		if !slices.Equal(long, tc.long) {
			t.Errorf("check %d: missing long %v, want %v", i, long, tc.long)
		}
		if !slices.Equal(missing, tc.missing) {
			t.Errorf("check %d: the list became %v", i, missing)
		}
	}
}
