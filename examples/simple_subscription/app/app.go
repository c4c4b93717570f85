// Package app is the shared contract of the simple_subscription example:
// the hub emits every line typed into it as the "message" event, and every
// peer of the group prints the messages it hears from hubs.
package app

import (
	"context"
	"fmt"
	"strings"

	"github.com/appnet-go/appnet/bus"
)

// Group is the group every peer of this application joins.
const Group = "myApp"

// Message is the event the hub emits. Its transform cleans each line for
// transit.
var Message = bus.NewEvent("message", func(line string) (any, error) {
	return strings.TrimSpace(line), nil
})

// Join makes the default peer a member of the application's group, a hub
// or not. Call it first.
func Join(hub bool) error {
	return bus.Configure(bus.WithGroup(Group), bus.WithHub(hub))
}

// Listening is the value a peer sets once it listens to Message, so that
// a hub can wait for its audience before it speaks: an event emitted while
// nobody listens is gone.
const Listening = "listening"

// Listen prints every message a hub of the group emits, and then says so
// in the peer's values.
func Listen() (*bus.Subscription, error) {
	sub, err := Message.Subscribe(func(_ context.Context, d bus.Delivery[string]) {
		fmt.Println(d.Value)
	}, bus.HubsOnly())
	if err != nil {
		return nil, err
	}
	return sub, bus.SetValue(Listening, Message.Name())
}

// Audience waits until n peers of the group listen to Message.
func Audience(ctx context.Context, n int) error {
	_, err := bus.WaitN(ctx, n, bus.Groups(Group), bus.Value(Listening, Message.Name()))
	return err
}
