// Command hub joins the myApp group as its hub and emits every line read
// from standard input as the "message" event, until the input ends.
package main

import (
	"bufio"
	"fmt"
	"log"
	"os"

	"github.com/appnet-go/appnet/bus"
	"github.com/appnet-go/appnet/examples/simple_subscription/app"
)

func main() {
	if err := app.Join(true); err != nil {
		log.Fatal(err)
	}
	p, err := bus.Default() // finds and routes to the peers on this host
	if err != nil {
		log.Fatal(err)
	}
	defer bus.Close()
	fmt.Println("ready", p.ID())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if err := app.Message.Emit(in.Text()); err != nil {
			log.Print(err)
		}
	}
}
