// Command peer1 starts a peer serving the app's connections and listens
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
	_ "github.com/appnet-go/appnet/examples/simple_connection/app" // registers the connections
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
