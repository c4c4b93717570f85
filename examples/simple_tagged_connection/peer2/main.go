// Command peer2 starts a peer serving version 2 of the app and listens
// until interrupted.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/appnet-go/appnet/bus"
	_ "github.com/appnet-go/appnet/examples/simple_tagged_connection/app_v2" // registers the connections
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p, err := bus.Default()
	if err != nil {
		log.Fatal(err)
	}
	defer bus.Close()
	fmt.Println("ready", p.ID())
	<-ctx.Done()
}
