package bus_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/appnet-go/appnet/bus"
	"github.com/appnet-go/appnet/internal/testnet"
	"github.com/nats-io/nats-server/v2/server"
)

// Echo is part of an application's shared contract: every peer that
// imports the package serves it under the tag "example.echo".
var Echo = bus.Connect("example.echo", func(_ context.Context, msg string) (string, error) {
	return msg + " (echoed)", nil
})

// exampleConfig keeps the examples on a loopback address of their own.
func exampleConfig() bus.Config {
	cfg := bus.DefaultLocalConfig()
	cfg.Host, cfg.PortStart = testnet.RandomHost(), testnet.RandomPorts()
	bus.WithRegistry(bus.DefaultRegistry())(&cfg)
	return cfg
}

// Run a connection locally, then on another peer: the results are equal.
func ExampleConnect() {
	ctx := context.Background()
	cfg := exampleConfig()
	first, err := bus.Start(ctx, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer first.Close()
	second, err := bus.Start(ctx, cfg) // same host and range: meshes with first
	if err != nil {
		fmt.Println(err)
		return
	}
	defer second.Close()

	local, _ := Echo.Call(ctx, "hi")
	remote, err := Echo.On(first.ID()).Via(second).Call(ctx, "hi")
	fmt.Println(local, "|", remote, err)
	// Output: hi (echoed) | hi (echoed) <nil>
}

// Find the peers on this host: by ID and by group.
func ExamplePeer_Peers() {
	ctx := context.Background()
	cfg := exampleConfig()
	for _, group := range []string{"None", "billing"} {
		cfg.Group = group
		p, err := bus.Start(ctx, cfg)
		if err != nil {
			fmt.Println(err)
			return
		}
		defer p.Close()
	}
	cfg.Group = "None"
	me, err := bus.Start(ctx, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer me.Close()

	mine, _ := me.Peers(ctx, bus.OnHost())
	all, _ := me.Peers(ctx, bus.OnHost(), bus.AllGroups())
	fmt.Println(len(mine.Group("None")), len(mine.Group("billing")))
	fmt.Println(len(all.Group("None")), len(all.Group("billing")))
	// Output:
	// 1 0
	// 1 1
}

// A connection answers with a flag; the caller's handler for the flag
// decides what the call returns.
func ExampleFlag() {
	_ = bus.Flag("EXAMPLE_MISSING", func(_ context.Context, r bus.FlagRequest) (any, error) {
		return "", fmt.Errorf("%s: nothing under that key", r.Connection)
	})
	lookup := bus.Connect("example.lookup", func(_ context.Context, key string) (string, error) {
		if key != "answer" {
			return "", bus.Raise("EXAMPLE_MISSING")
		}
		return "42", nil
	})
	ctx := context.Background()
	fmt.Println(lookup.Call(ctx, "answer"))
	fmt.Println(lookup.Call(ctx, "question"))
	// Output:
	// 42 <nil>
	//  example.lookup: nothing under that key
}

// Calling a peer that has gone fails at once with ErrUnreachable.
func ExampleRemote_Call() {
	ctx := context.Background()
	cfg := exampleConfig()
	a, err := bus.Start(ctx, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Close()
	// "127.0.0.1:1 -> None", a peer that nobody runs.
	gone, err := bus.ParseID("MTI3LjAuMC4xOjEgLT4gTm9uZQ")
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = Echo.On(gone).Via(a).Call(ctx, "hello?")
	fmt.Println(errors.Is(err, bus.ErrUnreachable))
	// Output: true
}

// Run the same code as clients of a NATS deployment (NET_NATS_URL in the
// environment, Config.NATSURL here): no server per peer, no scan; the
// deployment connects the peers. Here the deployment is one nats-server
// started in this process on a loopback address.
func ExampleStart_deployment() {
	ctx := context.Background()
	cfg := exampleConfig()
	s, err := server.NewServer(&server.Options{Host: cfg.Host, Port: server.RANDOM_PORT, NoLog: true, NoSigs: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	s.Start()
	defer s.Shutdown()
	if !s.ReadyForConnections(5 * time.Second) {
		fmt.Println("the deployment did not start")
		return
	}
	cfg.NATSURL = s.ClientURL()

	first, err := bus.Start(ctx, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer first.Close()
	second, err := bus.Start(ctx, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer second.Close()

	found, _ := second.Peers(ctx, bus.Refresh())
	out, err := Echo.On(first.ID()).Via(second).Call(ctx, "hi")
	// A client of a deployment runs no server: it has no cluster URL.
	fmt.Println(first.Info().Cluster == "", found.Group("None")[0] == first.ID(), out, err)
	// Output: true true hi (echoed) <nil>
}
