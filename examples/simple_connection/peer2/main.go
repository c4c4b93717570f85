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

	// A peer of this host that serves the connection: there already, or
	// the first to join (peer1 may be starting at the same moment).
	found, err := bus.Wait(ctx, bus.OnHost(), bus.Serving(app.ConnectedFunction.Name()))
	if err != nil {
		log.Fatalf("no peer on this host serves %s: start peer1 (%v)", app.ConnectedFunction.Name(), err)
	}
	target := found.ID

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
