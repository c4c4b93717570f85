package peer

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/appnet-go/appnet/internal/flags"
	"github.com/nats-io/nats.go"
)

// FuzzAnswer feeds the caller arbitrary reply headers and bodies: it must
// return a value or a clear error, never panic.
func FuzzAnswer(f *testing.F) {
	f.Add("", "", "", []byte(`1`))
	f.Add("NULL", "", "", []byte(nil))
	f.Add("INVALID_CONNECTION", "404", "no such thing", []byte(nil))
	f.Add("", "500", "boom", []byte("goroutine 1"))
	f.Add("", "abc", "", []byte(nil))
	f.Add("WHAT\r\n", "-1", "\x00", []byte(nil))
	c := NewCaller(nil, NewRegistry(), time.Second)
	target := NewID("127.0.0.1", 3010, "None")
	f.Fuzz(func(t *testing.T, flag, code, description string, body []byte) {
		h := nats.Header{}
		if flag != "" {
			h.Set(HeaderFlag, flag)
		}
		if code != "" {
			h.Set(HeaderErrorCode, code)
		}
		if description != "" {
			h.Set(HeaderError, description)
		}
		out, err := c.answer(context.Background(), target, "conn", &nats.Msg{Header: h, Data: body})
		switch {
		case flag != "" && err != nil:
			var re *RemoteError
			if !errors.Is(err, flags.ErrUnknownFlag) && !errors.Is(err, flags.ErrInvalidConnection) && !errors.As(err, &re) {
				t.Fatalf("flag %q: unexpected error %v", flag, err)
			}
		case flag == "" && code != "":
			var re *RemoteError
			if !errors.As(err, &re) {
				t.Fatalf("code %q: err = %v, want a RemoteError", code, err)
			}
		case flag == "" && code == "" && (err != nil || string(out) != string(body)):
			t.Fatalf("plain reply: %q, %v", out, err)
		}
	})
}

// FuzzHeaderSafe checks that any error text fits in one header value.
func FuzzHeaderSafe(f *testing.F) {
	f.Add("plain")
	f.Add("two\r\nlines")
	f.Add(strings.Repeat("é", 2000))
	f.Add("\xff\xfe")
	f.Fuzz(func(t *testing.T, s string) {
		out := headerSafe(s)
		if strings.ContainsAny(out, "\r\n") || !utf8.ValidString(out) || len(out) > 1024 {
			t.Fatalf("headerSafe(%q) = %q", s, out)
		}
	})
}
