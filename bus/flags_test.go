package bus_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/appnet-go/appnet/bus"
)

var (
	nullInt = bus.Connect("test.null.int", func(context.Context, string) (int, error) {
		return 0, bus.Raise(bus.FlagNull)
	})
	nullString = bus.Connect("test.null.string", func(context.Context, string) (string, error) {
		return "", bus.Raise(bus.FlagNull)
	})
	nullStruct = bus.Connect("test.null.struct", func(context.Context, string) (greeting, error) {
		return greeting{}, bus.Raise(bus.FlagNull)
	})
	wordy = bus.Connect("test.wordy", func(context.Context, string) (int, error) {
		return 0, bus.Raise("WORDY")
	})
	unregistered = bus.Connect("test.unregistered", func(context.Context, string) (int, error) {
		return 0, bus.Raise("NOBODY_KNOWS")
	})
)

func init() {
	if err := bus.Flag("WORDY", func(context.Context, bus.FlagRequest) (any, error) { return "many words", nil }); err != nil {
		panic(err)
	}
}

// TestFlagsResolveToTheResultType checks that a flag answers the same,
// locally and remotely, whatever the connection's result type.
func TestFlagsResolveToTheResultType(t *testing.T) {
	t.Parallel()
	ps := startPeers(t, 2)
	ctx := context.Background()
	type outcome struct {
		value any
		err   error
	}
	both := func(local, remote func() (any, error)) (outcome, outcome) {
		l, lerr := local()
		r, rerr := remote()
		return outcome{l, lerr}, outcome{r, rerr}
	}
	for _, tc := range []struct {
		name          string
		local, remote func() (any, error)
		want          any
		says          string
	}{
		{"NULL into int", func() (any, error) { return nullInt.Call(ctx, "x") },
			func() (any, error) { return nullInt.On(ps[1].ID()).Via(ps[0]).Call(ctx, "x") }, 0, ""},
		{"NULL into string", func() (any, error) { return nullString.Call(ctx, "x") },
			func() (any, error) { return nullString.On(ps[1].ID()).Via(ps[0]).Call(ctx, "x") }, "NULL", ""},
		{"NULL into struct", func() (any, error) { return nullStruct.Call(ctx, "x") },
			func() (any, error) { return nullStruct.On(ps[1].ID()).Via(ps[0]).Call(ctx, "x") }, greeting{}, ""},
		{"a flag whose value does not fit", func() (any, error) { return wordy.Call(ctx, "x") },
			func() (any, error) { return wordy.On(ps[1].ID()).Via(ps[0]).Call(ctx, "x") }, 0,
			`flag "WORDY" (connection "test.wordy"`},
		{"a flag nobody registered", func() (any, error) { return unregistered.Call(ctx, "x") },
			func() (any, error) { return unregistered.On(ps[1].ID()).Via(ps[0]).Call(ctx, "x") }, 0,
			`answered with flag "NOBODY_KNOWS", which this peer has not registered`},
	} {
		local, remote := both(tc.local, tc.remote)
		if tc.says == "" {
			if local.err != nil || remote.err != nil || !equalJSON(t, local.value, tc.want) || !equalJSON(t, remote.value, tc.want) {
				t.Errorf("%s: local %#v, %v; remote %#v, %v; want %#v", tc.name, local.value, local.err, remote.value, remote.err, tc.want)
			}
			continue
		}
		for where, o := range map[string]outcome{"local": local, "remote": remote} {
			if o.err == nil || !strings.Contains(o.err.Error(), tc.says) {
				t.Errorf("%s, %s: err = %v, want one saying %q", tc.name, where, o.err, tc.says)
			}
		}
	}
	// A flag nobody registered is the same error either way: a 500 from
	// the handler's peer.
	_, lerr := unregistered.Call(ctx, "x")
	_, rerr := unregistered.On(ps[1].ID()).Via(ps[0]).Call(ctx, "x")
	var l, r *bus.RemoteError
	if !errors.As(lerr, &l) || !errors.As(rerr, &r) || l.Code != r.Code || l.Description != r.Description ||
		!errors.Is(lerr, bus.ErrRemote) || !errors.Is(rerr, bus.ErrRemote) {
		t.Errorf("an unregistered flag: local %v, remote %v; want the same 500", lerr, rerr)
	}
}
