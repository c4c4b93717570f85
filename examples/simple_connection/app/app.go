// Package app is the shared coding contract of the simple_connection
// example: every peer imports it, so every peer serves its connections.
package app

import (
	"context"
	"fmt"

	"github.com/appnet-go/appnet/bus"
)

// ConnectedFunction prints the message on the peer that runs it. It is
// registered without a tag, so its name is "app.connectedFunction".
var ConnectedFunction = bus.Connect("", connectedFunction)

func connectedFunction(_ context.Context, message string) (string, error) {
	fmt.Println(message)
	return "printed " + message, nil
}
