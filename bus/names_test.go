package bus_test

import (
	"context"
	"errors"
	"testing"

	"github.com/appnet-go/appnet/bus"
	"github.com/appnet-go/appnet/internal/testnet"
)

// notStarted fails the test if the default peer runs: Configure refuses
// once it does, and with no options changes nothing before.
func notStarted(t *testing.T, after string) {
	t.Helper()
	if err := bus.Configure(); err != nil {
		t.Fatalf("after %s: the default peer started (%v)", after, err)
	}
}

// Every malformed name a program passes to bus, whatever it names, is an
// error that errors.Is matches with bus.ErrInvalidName, and it comes back
// before anything starts: no port bound, no server, no scan. Not
// parallel: it watches the process's default peer.
func TestBadNamesAreOneErrorAndStartNothing(t *testing.T) {
	ctx := context.Background()
	notStarted(t, "nothing")

	flagErr := bus.Flag("a b", func(context.Context, bus.FlagRequest) (any, error) { return nil, nil })
	ev := bus.NewEvent[int]("a b", nil)
	_, subErr := ev.Subscribe(func(context.Context, bus.Delivery[int]) {})
	_, pkgSubErr := bus.Subscribe("a.*", func(context.Context, bus.Delivery[int]) {})
	conn := bus.Connect("has space", func(context.Context, int) (int, error) { return 0, nil })
	_, callErr := conn.On("irrelevant").Call(ctx, 1)
	_, _, groupErr := Echo.OnGroup("a b").Call(ctx, "x")
	_, allErr := Echo.OnGroup("a.b").All(ctx, "x")
	for _, c := range []struct {
		what string
		err  error
	}{
		{"Flag(\"a b\")", flagErr},
		{"Event(\"a b\").Emit", ev.Emit(1)},
		{"Event(\"a b\").Subscribe", subErr},
		{"Subscribe(\"a.*\")", pkgSubErr},
		{"Connect(\"has space\").Err", conn.Err()},
		{"Connect(\"has space\").On(id).Call", callErr},
		{"OnGroup(\"a b\").Call", groupErr},
		{"OnGroup(\"a.b\").All", allErr},
	} {
		if !errors.Is(c.err, bus.ErrInvalidName) {
			t.Errorf("%s: %v, want an error matching bus.ErrInvalidName", c.what, c.err)
		}
		notStarted(t, c.what)
	}

	// A malformed target is ErrInvalidID, also before anything starts.
	if _, err := Echo.On("not an id").Call(ctx, "x"); !errors.Is(err, bus.ErrInvalidID) {
		t.Errorf("On(\"not an id\").Call: %v, want ErrInvalidID", err)
	}
	notStarted(t, "On(\"not an id\").Call")

	// From a running peer, the same errors.
	cfg := bus.DefaultLocalConfig()
	cfg.Host, cfg.PortStart = testnet.Host(t), testnet.Ports(t)
	testnet.MustLoopback(t, cfg.Host)
	p, err := bus.Start(ctx, cfg, bus.WithRegistry(bus.DefaultRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	_, subErr = ev.Via(p).Subscribe(func(context.Context, bus.Delivery[int]) {})
	_, callErr = conn.On(p.ID()).Via(p).Call(ctx, 1)
	_, _, groupErr = Echo.OnGroup("a b").Via(p).Call(ctx, "x")
	_, allErr = Echo.OnGroup("a.b").Via(p).All(ctx, "x")
	for what, err := range map[string]error{
		"Event(\"a b\").Via(p).Emit":      ev.Via(p).Emit(1),
		"Event(\"a b\").Via(p).Subscribe": subErr,
		"On(p).Via(p).Call":               callErr,
		"OnGroup(\"a b\").Via(p).Call":    groupErr,
		"OnGroup(\"a.b\").Via(p).All":     allErr,
	} {
		if !errors.Is(err, bus.ErrInvalidName) {
			t.Errorf("%s: %v, want an error matching bus.ErrInvalidName", what, err)
		}
	}
	if _, err := Echo.On("not an id").Via(p).Call(ctx, "x"); !errors.Is(err, bus.ErrInvalidID) {
		t.Errorf("On(\"not an id\").Via(p).Call: %v, want ErrInvalidID", err)
	}
}
