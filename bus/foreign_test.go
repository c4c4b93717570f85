package bus_test

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/appnet-go/appnet/bus"
	"github.com/appnet-go/appnet/internal/peer"
	"github.com/appnet-go/appnet/internal/testnet"
	"github.com/nats-io/nats.go"
)

var foreignShout = bus.Connect("test.foreign.shout", func(_ context.Context, s string) (string, error) { return s, nil })

// TestAForeignMemberOfADeploymentIsAMember: a program that is no Go peer,
// here raw nats.go following docs/PROTOCOL.md (an ID of its own, an
// answer to net.discover, a group's subjects), is listed by discovery on
// a NATS deployment, answers group calls, and is counted by All, which
// returns once it answered instead of waiting out its time.
func TestAForeignMemberOfADeploymentIsAMember(t *testing.T) {
	t.Parallel()
	host, port := testnet.Host(t), testnet.Ports(t)
	url := testnet.Deployment(t, host, 1)[0]
	cfg := bus.DefaultLocalConfig()
	cfg.Host, cfg.PortStart, cfg.NATSURL = host, port, url
	bus.WithRegistry(bus.DefaultRegistry())(&cfg)
	goPeer, err := bus.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer goPeer.Close()

	// The foreign member holds a port, so that its ID is its own.
	hold, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	foreignPort := hold.Addr().(*net.TCPAddr).Port
	id := peer.NewID(host, foreignPort, "workers")
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	info, _ := json.Marshal(map[string]any{
		"id": id, "host": host, "port": foreignPort, "group": "workers", "hub": false, "protocol": 3,
		"connections": []string{"test.foreign.shout"}, "cluster": "", "version": "raw",
	})
	shout := func(m *nats.Msg) {
		var s string
		_ = json.Unmarshal(m.Data, &s)
		out, _ := json.Marshal(strings.ToUpper(s))
		_ = m.RespondMsg(&nats.Msg{Data: out, Header: nats.Header{peer.HeaderPeer: []string{string(id)}}})
	}
	for _, sub := range []struct{ subject, queue string }{
		{"net.group.workers.call.test.foreign.shout", peer.QueueGroup},
		{"net.group.workers.all.>", ""},
	} {
		if _, err := nc.QueueSubscribe(sub.subject, sub.queue, shout); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := nc.Subscribe(peer.DiscoverSubject, func(m *nats.Msg) { _ = m.Respond(info) }); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	found, err := goPeer.Peers(ctx, bus.Groups("workers"), bus.Refresh())
	if err != nil {
		t.Fatal(err)
	}
	if got := found.Group("workers"); len(got) != 1 || got[0] != id || found.Peers[id].Port != foreignPort {
		t.Fatalf("workers found: %v (%+v), want the foreign member %s", got, found.Peers, id)
	}
	out, from, err := foreignShout.OnGroup("workers").Via(goPeer).Call(ctx, "hi")
	if err != nil || out != "HI" || from != id {
		t.Errorf("group call: %q from %s, %v", out, from, err)
	}
	start := time.Now()
	answers, err := foreignShout.OnGroup("workers").Via(goPeer).All(ctx, "all")
	if err != nil || len(answers) != 1 || answers[0].Value != "ALL" || answers[0].Peer != id {
		t.Errorf("All: %+v, %v", answers, err)
	}
	if waited := time.Since(start); waited > 10*time.Second {
		t.Errorf("All waited %s: it did not count the foreign member", waited)
	}
}
