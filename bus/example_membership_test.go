package bus_test

import (
	"context"
	"fmt"

	"github.com/appnet-go/appnet/bus"
)

// Watch the network from one peer: a resync with the peers already there,
// then each peer that joins, updates its values or leaves.
func ExamplePeer_Watch() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := exampleConfig()
	a, err := bus.Start(ctx, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Close()
	changes, err := a.Watch(ctx) // a's own group
	if err != nil {
		fmt.Println(err)
		return
	}
	c := <-changes
	fmt.Println(c.Kind, "with", len(c.Peers.Peers), "peers")

	b, err := bus.Start(ctx, cfg) // same host and range: joins a's network
	if err != nil {
		fmt.Println(err)
		return
	}
	c = <-changes
	fmt.Println(c.Kind, c.ID == b.ID())
	_ = b.SetValue("state", "ready")
	c = <-changes
	fmt.Println(c.Kind, c.Info.Values["state"])
	b.Close()
	c = <-changes
	fmt.Println(c.Kind, c.ID == b.ID())
	// Output:
	// resync with 0 peers
	// joined true
	// updated ready
	// left true
}

// Choose the emitters a subscription hears, and hear what goes wrong: a
// value that does not decode into the subscription's type is reported to
// the subscription's error handler, not to its handler.
func ExampleEmitters() {
	ctx := context.Background()
	cfg := exampleConfig()
	listener, err := bus.Start(ctx, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer listener.Close()
	trusted, err := bus.Start(ctx, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer trusted.Close()
	other, err := bus.Start(ctx, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer other.Close()

	heard, failed := make(chan int, 4), make(chan error, 4)
	readings := bus.NewEvent[int]("example.reading", nil)
	sub, err := readings.Via(listener).Subscribe(func(_ context.Context, d bus.Delivery[int]) {
		heard <- d.Value
	}, bus.Emitters(trusted.ID()), bus.OnError(func(err error) { failed <- err }))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sub.Close()

	_ = readings.Via(other).Emit(1) // not heard: other is not chosen
	_ = bus.NewEvent[string]("example.reading", nil).Via(trusted).Emit("high")
	_ = readings.Via(trusted).Emit(3)
	fmt.Println("error:", <-failed != nil)
	fmt.Println("heard:", <-heard)
	// Output:
	// error: true
	// heard: 3
}
