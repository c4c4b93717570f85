package peer_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/appnet-go/appnet/internal/peer"
)

type shape struct {
	Name  string         `json:"name"`
	Tags  []string       `json:"tags"`
	Extra map[string]any `json:"extra"`
}

func FuzzFuncCodec(f *testing.F) {
	for _, s := range []string{``, `null`, `{"name":"x","tags":["a"],"extra":{"k":1.5}}`, `[1,2]`, `"str"`, `{"name":`, "\xff\xfe", `[[[[[[[[[[`} {
		f.Add([]byte(s))
	}
	h := peer.Func(func(_ context.Context, s shape) (shape, error) { return s, nil })
	f.Fuzz(func(t *testing.T, arg []byte) {
		out, err := h(context.Background(), arg)
		if err != nil {
			if !errors.Is(err, peer.ErrBadRequest) {
				t.Fatalf("error %v is not a bad request", err)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("output %q is not JSON", out)
		}
		// A second trip changes nothing: local and remote agree.
		again, err := h(context.Background(), out)
		if err != nil || string(again) != string(out) {
			t.Fatalf("second trip: %q, %v; first %q", again, err, out)
		}
	})
}

// FuzzStringCodec: strings take a short path through the codec, which
// must give exactly what encoding/json gives, both ways.
func FuzzStringCodec(f *testing.F) {
	for _, s := range []string{"", "plain text", "a\"b", "<&>", "tab\there", "\u2028", "é ü 日本", "\xff", "\\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		got, err := peer.Encode(s)
		if err != nil || string(got) != string(want) {
			t.Fatalf("Encode(%q) = %s, %v; encoding/json: %s", s, got, err, want)
		}
		// Decoding s's bytes as if they were a JSON string's inside.
		raw := []byte(`"` + s + `"`)
		var ref string
		refErr := json.Unmarshal(raw, &ref)
		dec, err := peer.Decode[string](raw)
		if (err == nil) != (refErr == nil) || (err == nil && dec != ref) {
			t.Fatalf("Decode(%q) = %q, %v; encoding/json: %q, %v", raw, dec, err, ref, refErr)
		}
	})
}
