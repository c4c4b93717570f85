package peer_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/appnet-go/appnet/internal/peer"
)

func TestIDIsURLSafeBase64(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		host, want, original string
	}{
		{"192.168.2.24", "MTkyLjE2OC4yLjI0OjMwMTAgLT4gTm9uZQ", "MTkyLjE2OC4yLjI0OjMwMTAgLT4gTm9uZQ=="},
		{"192.168.1.200", "MTkyLjE2OC4xLjIwMDozMDEwIC0-IE5vbmU", "MTkyLjE2OC4xLjIwMDozMDEwIC0+IE5vbmU="},
	} {
		id := peer.NewID(c.host, 3010, "None")
		if id != peer.ID(c.want) {
			t.Errorf("NewID(%s) = %s, want %s", c.host, id, c.want)
		}
		// The original's standard base64 decodes too, and parses to the
		// form peers subscribe with.
		for _, s := range []string{c.want, c.original} {
			a, err := peer.ID(s).Decode()
			if err != nil || a.String() != c.host+":3010 -> None" {
				t.Errorf("Decode(%s) = %+v, %v", s, a, err)
			}
			if got, err := peer.ParseID(s); err != nil || got != id {
				t.Errorf("ParseID(%s) = %s, %v, want %s", s, got, err, id)
			}
		}
	}
}

// TestIDFitsMicroAndURLs: the official NATS clients accept a micro
// instance ID of letters, digits, '_' and '-' only.
func TestIDFitsMicroAndURLs(t *testing.T) {
	t.Parallel()
	for _, host := range []string{"192.168.1.200", "10.255.255.254", "::1", "fe80::ffff:ffff"} {
		for _, group := range []string{"None", "a-b_c", "Z"} {
			id := string(peer.NewID(host, 65535, group))
			if strings.Trim(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != "" {
				t.Errorf("NewID(%s, %s) = %s: outside [A-Za-z0-9_-]", host, group, id)
			}
		}
	}
}

func TestDecodeGarbage(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "!!!", "aGVsbG8=", "MTI3LjAuMC4xIC0+IE5vbmU=", "MTI3LjAuMC4xOjAgLT4gTm9uZQ==", "MTI3LjAuMC4xOjEgLT4gYSBi",
		"MTI3LjAuMC4xOjMwMTAgLT4gTm9uZQ\n",     // a line break, which Go's decoder would skip
		"MTI3LjAuMC4xOjMwMTAgLT4gTm9uZR",       // trailing bits set: two strings for one ID
		"MTI3LjAuMC4xOjAzMDEwIC0-IE5vbmU",      // "127.0.0.1:03010 -> None": not as NewID writes it
		"MTkyLjE2OC4xLjIwMDozMDEwIC0-IE5vbmU=", // URL-safe with padding
	} {
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
		// Whatever decodes round-trips through NewID, and parses to it.
		id := peer.NewID(a.Host, a.Port, a.Group)
		b, err := id.Decode()
		if err != nil || b != a {
			t.Fatalf("round trip of %+v: %+v, %v", a, b, err)
		}
		if got, err := peer.ParseID(s); err != nil || got != id {
			t.Fatalf("ParseID(%q) = %q, %v, want %q", s, got, err, id)
		}
	})
}
