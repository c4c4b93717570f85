// Package app is version 1 of the tagged-connection example's contract.
package app

import (
	"context"
	"fmt"

	"github.com/appnet-go/appnet/bus"
)

// ConnectedFunction is registered under the tag "myTaggedFunction", so a
// peer running version 2 of the app answers the same call.
var ConnectedFunction = bus.Connect("myTaggedFunction", func(_ context.Context, message string) (string, error) {
	fmt.Println(message)
	return message + " Version 1", nil
})
