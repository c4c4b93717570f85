// Command peer2 finds the other peer on this host and runs the app's
// connected function there: the message is printed by peer1.
package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/appnet-go/appnet/bus"
	"github.com/appnet-go/appnet/examples/simple_connection/app"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	defer bus.Close()

	// The peers on this host, keyed by ID and grouped by group. Scanning
	// only this host is much faster than scanning the network.
	peers, err := bus.Peers(ctx, bus.OnHost())
	if err != nil {
		log.Fatal(err)
	}
	group := peers.Group("None")
	if len(group) == 0 {
		log.Fatal("no other peer in group None on this host: start peer1 first")
	}
	target := group[0]

	// Runs on peer1, which prints the message; the result comes back here.
	out, err := app.ConnectedFunction.On(target).Call(ctx, "My Message!")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("remote:", out)

	// Without a peer, it is a plain local call with the same result.
	out, err = app.ConnectedFunction.Call(ctx, "My Message!")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("local:", out)
}
