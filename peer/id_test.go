package peer_test

import (
	"errors"
	"testing"

	"github.com/appnet-go/appnet/peer"
)

func TestIDMatchesTheSeed(t *testing.T) {
	t.Parallel()
	const seed = "MTkyLjE2OC4yLjI0OjMwMTAgLT4gTm9uZQ=="
	if id := peer.NewID("192.168.2.24", 3010, "None"); id != seed {
		t.Errorf("NewID = %s, want the seed's %s", id, seed)
	}
	a, err := peer.ID(seed).Decode()
	if err != nil || a.Host != "192.168.2.24" || a.Port != 3010 || a.Group != "None" {
		t.Errorf("Decode = %+v, %v", a, err)
	}
	if a.String() != "192.168.2.24:3010 -> None" {
		t.Errorf("String = %q", a.String())
	}
}

func TestDecodeGarbage(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "!!!", "aGVsbG8=", "MTI3LjAuMC4xIC0+IE5vbmU=", "MTI3LjAuMC4xOjAgLT4gTm9uZQ==", "MTI3LjAuMC4xOjEgLT4gYSBi"} {
		if _, err := peer.ParseID(s); !errors.Is(err, peer.ErrInvalidID) {
			t.Errorf("ParseID(%q) = %v, want ErrInvalidID", s, err)
		}
	}
}

func FuzzDecodeID(f *testing.F) {
	f.Add("MTkyLjE2OC4yLjI0OjMwMTAgLT4gTm9uZQ==")
	f.Add(string(peer.NewID("::1", 65535, "a-b_c")))
	f.Add("not base64")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := peer.ID(s).Decode()
		if err != nil {
			if !errors.Is(err, peer.ErrInvalidID) {
				t.Fatalf("error %v does not wrap ErrInvalidID", err)
			}
			return
		}
		// Whatever decodes round-trips through NewID.
		b, err := peer.NewID(a.Host, a.Port, a.Group).Decode()
		if err != nil || b != a {
			t.Fatalf("round trip of %+v: %+v, %v", a, b, err)
		}
	})
}
