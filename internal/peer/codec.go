package peer

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"unicode/utf8"
)

// Func adapts a typed function to a [Handler]. The call's JSON argument is
// decoded into Req and the result is encoded as JSON. A payload that does
// not decode is an [ErrBadRequest], and so is a call without an argument,
// unless Req can mean "nothing" (an interface, a pointer or an empty
// struct): a forgotten argument must not run the function with a zero
// value it never asked for.
func Func[Req, Resp any](fn func(context.Context, Req) (Resp, error)) Handler {
	optional := optionalArg(reflect.TypeFor[Req]())
	return func(ctx context.Context, arg []byte) ([]byte, error) {
		if len(arg) == 0 && !optional {
			return nil, fmt.Errorf("%w: the call has no argument; the connection takes a %s (JSON)", ErrBadRequest, reflect.TypeFor[Req]())
		}
		req, err := Decode[Req](arg)
		if err != nil {
			return nil, fmt.Errorf("%w: argument: %v", ErrBadRequest, err)
		}
		resp, err := fn(ctx, req)
		if err != nil {
			return nil, err
		}
		return encode(resp)
	}
}

// optionalArg reports whether a call may leave out an argument of type t.
func optionalArg(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Interface, reflect.Pointer:
		return true
	case reflect.Struct:
		return t.NumField() == 0
	}
	return false
}

// Encode returns the JSON that carries v over the wire.
func Encode(v any) ([]byte, error) { return encode(v) }

func encode(v any) ([]byte, error) {
	if s, ok := v.(string); ok && plainString(s) {
		return quote(s), nil
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("value of type %T does not encode as JSON: %w", v, err)
	}
	return data, nil
}

// Decode decodes the JSON data into a T. Empty data is the zero T.
func Decode[T any](data []byte) (T, error) {
	var v T
	if len(data) == 0 {
		return v, nil
	}
	if sp, ok := any(&v).(*string); ok && len(data) >= 2 && data[0] == '"' && data[len(data)-1] == '"' && plainString(string(data[1:len(data)-1])) {
		*sp = string(data[1 : len(data)-1])
		return v, nil
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return v, fmt.Errorf("%s does not decode into %s: %w", preview(data), reflect.TypeFor[T](), err)
	}
	return v, nil
}

// plainString reports whether s is a JSON string's text as is: no
// character that encoding/json escapes or that a JSON string may not hold
// unescaped. Strings are most events' and many calls' values, and for
// them encoding and decoding come down to adding or removing the quotes,
// with exactly the bytes encoding/json would make or accept; anything
// else takes encoding/json's path.
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		case c >= utf8.RuneSelf:
			return plainUnicode(s[i:])
		}
	}
	return true
}

// plainUnicode is plainString's slow half: valid UTF-8, and no U+2028 or
// U+2029, which encoding/json escapes.
func plainUnicode(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == '"' || r == '\\' || r == '<' || r == '>' || r == '&' || r == '\u2028' || r == '\u2029' {
			return false
		}
	}
	return true
}

// quote returns s as a JSON string; s is plain.
func quote(s string) []byte {
	out := make([]byte, len(s)+2)
	out[0] = '"'
	copy(out[1:], s)
	out[len(out)-1] = '"'
	return out
}

// preview quotes the start of data for an error message.
func preview(data []byte) string {
	const limit = 64
	if len(data) > limit {
		return fmt.Sprintf("%q... (%d bytes)", data[:limit], len(data))
	}
	return fmt.Sprintf("%q", data)
}

type peerKey struct{}

// FromContext returns the peer running the handler whose context ctx is:
// in a remote call, the peer that was called; in a
// local call, the caller's own peer, if it has one.
func FromContext(ctx context.Context) (*Peer, bool) {
	p, ok := ctx.Value(peerKey{}).(*Peer)
	return p, ok && p != nil
}

// NewContext returns a context that carries p for [FromContext].
func NewContext(ctx context.Context, p *Peer) context.Context {
	return context.WithValue(ctx, peerKey{}, p)
}
