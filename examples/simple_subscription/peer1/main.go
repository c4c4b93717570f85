// Command peer1 joins the myApp group and prints every message a hub
// emits, until interrupted.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/appnet-go/appnet/bus"
	"github.com/appnet-go/appnet/examples/simple_subscription/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.Join(false); err != nil {
		log.Fatal(err)
	}
	defer bus.Close()
	sub, err := app.Listen()
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Close()
	p, _ := bus.Default()
	fmt.Println("ready", p.ID())
	<-ctx.Done()
}
