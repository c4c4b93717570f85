package bus_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/appnet-go/appnet/bus"
)

// Greeting is an event of an application's shared contract; its
// transform cleans each value before it travels.
var Greeting = bus.NewEvent("example.greeting", func(s string) (any, error) {
	return strings.ToUpper(strings.TrimSpace(s)), nil
})

// Declare an event, subscribe to it on one peer and emit it from another:
// the subscriber gets the transformed value and the emitter's ID.
func ExampleNewEvent() {
	ctx := context.Background()
	cfg := exampleConfig()
	emitter, err := bus.Start(ctx, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer emitter.Close()
	listener, err := bus.Start(ctx, cfg) // same host and range: meshes with emitter
	if err != nil {
		fmt.Println(err)
		return
	}
	defer listener.Close()

	heard := make(chan bus.Delivery[string], 1)
	sub, err := Greeting.Via(listener).Subscribe(func(_ context.Context, d bus.Delivery[string]) {
		heard <- d
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sub.Close()
	// Subscribe returns once the emitter's server knows of the
	// subscription: an event emitted now reaches it.
	if err := Greeting.Via(emitter).Emit("  hello  "); err != nil {
		fmt.Println(err)
		return
	}
	select {
	case d := <-heard:
		fmt.Printf("%q from the emitter: %t\n", d.Value, d.From == emitter.ID())
	case <-time.After(5 * time.Second):
		fmt.Println("no event")
	}
	// Output: "HELLO" from the emitter: true
}

// Subscribe from the process's default peer, here configured onto a
// loopback address (a program gets the same from the NET_* environment),
// to the hubs of group "myApp" only: the event of a peer that is not a
// hub is not heard.
func ExampleSubscribe() {
	ctx := context.Background()
	cfg := exampleConfig()
	if err := bus.Configure(bus.WithHost(cfg.Host), bus.WithPorts(cfg.PortStart, cfg.PortRange), bus.WithScan(cfg.Host)); err != nil {
		fmt.Println(err)
		return
	}
	defer bus.Close()
	heard := make(chan string, 2)
	sub, err := bus.Subscribe("example.status", func(_ context.Context, d bus.Delivery[string]) {
		heard <- d.Value
	}, bus.Groups("myApp"), bus.HubsOnly())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sub.Close()

	cfg.Group = "myApp"
	worker, err := bus.Start(ctx, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer worker.Close()
	hub, err := bus.Start(ctx, cfg, bus.WithHub(true))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer hub.Close()
	status := bus.NewEvent[string]("example.status", nil)
	_ = status.Via(worker).Emit("from a worker")
	_ = status.Via(hub).Emit("from the hub")
	select {
	case v := <-heard:
		fmt.Println(v)
	case <-time.After(5 * time.Second):
		fmt.Println("no event")
	}
	// Output: from the hub
}
