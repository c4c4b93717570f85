// Command hub joins the myApp group as its hub and emits every line read
// from standard input as the "message" event, until the input ends.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/appnet-go/appnet/bus"
	"github.com/appnet-go/appnet/examples/simple_subscription/app"
)

func main() {
	listeners := flag.Int("listeners", 2, "wait (up to 10s) until this many peers of the group listen before emitting; 0: do not wait")
	flag.Parse()
	if err := app.Join(true); err != nil {
		log.Fatal(err)
	}
	p, err := bus.Default() // joins the peers on this host
	if err != nil {
		log.Fatal(err)
	}
	defer bus.Close()
	if *listeners > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := app.Audience(ctx, *listeners)
		cancel()
		if err != nil {
			log.Fatalf("waiting for %d listeners (start peer1 and peer2, or set -listeners): %v", *listeners, err)
		}
	}
	fmt.Println("ready", p.ID())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if err := app.Message.Emit(in.Text()); err != nil {
			log.Print(err)
		}
	}
}
