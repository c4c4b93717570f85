// Command peer3 calls the tagged connection on every other peer of its
// group on this host: peer1 runs version 1 of the app, peer2 version 2, and
// each answers with its own version.
package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/appnet-go/appnet/bus"
	app "github.com/appnet-go/appnet/examples/simple_tagged_connection/app_v1"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	defer bus.Close()

	// peer1 and peer2 may be starting at the same moment: wait for both.
	peers, err := bus.WaitN(ctx, 2, bus.OnHost(), bus.Serving(app.ConnectedFunction.Name()))
	if err != nil {
		log.Fatalf("want peer1 and peer2 on this host, serving %s: %v", app.ConnectedFunction.Name(), err)
	}
	for _, target := range peers.Group("None") {
		out, err := app.ConnectedFunction.On(target).Call(ctx, "My Message!")
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s:%d answered %q\n", peers.Peers[target].Host, peers.Peers[target].Port, out)
	}
}
