package discovery

import (
	"encoding/json"
	"testing"

	"github.com/appnet-go/appnet/internal/peer"
)

// A Refresh decodes only the answers whose bytes it did not get last time,
// refuses what is not a consistent Info, and keeps the last Refresh's
// answers only.
func TestARefreshDecodesOnlyWhatChanged(t *testing.T) {
	info := func(value string) []byte {
		i := peer.Info{ID: peer.NewID("127.0.0.1", 4000, "g"), FriendlyID: peer.FriendlyID{Host: "127.0.0.1", Port: 4000, Group: "g"},
			Role: peer.RoleLeaf, Hubs: []peer.HubAddr{{ID: "h", Cluster: "nats-route://127.0.0.2:5000"}}, Values: map[string]string{"v": value}}
		data, err := json.Marshal(i)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	var a answerCache
	one, two := info("1"), info("2")
	decodeAllocs := testing.AllocsPerRun(10, func() { a.decode(one) })
	a.done()

	got, ok := a.decode(one)
	if !ok || got.Values["v"] != "1" {
		t.Fatalf("the same answer again: %v %v", got, ok)
	}
	if allocs := testing.AllocsPerRun(10, func() { a.decode(one) }); allocs >= decodeAllocs/4 {
		t.Errorf("the same bytes as last time cost %v allocations, decoding them %v: decoded again", allocs, decodeAllocs)
	}
	if got, ok := a.decode(two); !ok || got.Values["v"] != "2" {
		t.Errorf("a changed answer: %v %v, want the new value", got, ok)
	}

	inconsistent := peer.Info{ID: peer.NewID("127.0.0.1", 4000, "g"), FriendlyID: peer.FriendlyID{Host: "127.0.0.9", Port: 4000, Group: "g"}}
	data, _ := json.Marshal(inconsistent)
	for _, bad := range [][]byte{[]byte(`{"id":`), []byte(`[]`), data} {
		if got, ok := a.decode(bad); ok {
			t.Errorf("%s: taken as %v, want refused", bad, got)
		}
	}

	a.done() // this Refresh had only one and two
	a.done() // the next had none: nothing is kept
	if len(a.last) != 0 {
		t.Errorf("%d answers kept after a Refresh that had none", len(a.last))
	}
}
