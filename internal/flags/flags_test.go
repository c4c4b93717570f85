package flags_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/appnet-go/appnet/internal/flags"
)

func TestBuiltins(t *testing.T) {
	t.Parallel()
	s := flags.NewSet()
	v, err := s.Resolve(context.Background(), flags.Null, flags.Request{})
	if v != "NULL" || err != nil {
		t.Errorf("NULL resolves to %v, %v", v, err)
	}
	_, err = s.Resolve(context.Background(), flags.InvalidConnection, flags.Request{Connection: "x", Peer: "P", Detail: "peer P has no connection \"x\"; it has: a, b"})
	if !errors.Is(err, flags.ErrInvalidConnection) || !strings.Contains(err.Error(), "it has: a, b") {
		t.Errorf("INVALID_CONNECTION resolves to %v", err)
	}
	_, err = s.Resolve(context.Background(), "NOPE", flags.Request{Connection: "c"})
	if !errors.Is(err, flags.ErrUnknownFlag) || !strings.Contains(err.Error(), "NOPE") {
		t.Errorf("unknown flag: %v", err)
	}
	if got := strings.Join(s.Names(), ","); got != "INVALID_CONNECTION,NULL" {
		t.Errorf("Names = %s", got)
	}
}

func TestRegisterAndRaise(t *testing.T) {
	t.Parallel()
	s := flags.NewSet()
	if _, err := s.Register("bad name", func(context.Context, flags.Request) (any, error) { return nil, nil }); !errors.Is(err, flags.ErrInvalidName) {
		t.Errorf("bad name: %v", err)
	}
	replaced, err := s.Register("RETRY", func(_ context.Context, r flags.Request) (any, error) { panic("oops") })
	if replaced || err != nil {
		t.Fatal(replaced, err)
	}
	if _, err := s.Resolve(context.Background(), "RETRY", flags.Request{}); err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Errorf("a panicking handler: %v", err)
	}
	name, ok := flags.FromError(fmt.Errorf("wrapped: %w", flags.Raise("RETRY")))
	if !ok || name != "RETRY" {
		t.Errorf("FromError = %q, %v", name, ok)
	}
}

func ExampleRaise() {
	handler := func(_ context.Context, key string) (int, error) {
		if key == "" {
			return 0, flags.Raise(flags.Null) // the caller's NULL handler answers instead
		}
		return len(key), nil
	}
	_, err := handler(context.Background(), "")
	name, _ := flags.FromError(err)
	fmt.Println(name)
	// Output: NULL
}
