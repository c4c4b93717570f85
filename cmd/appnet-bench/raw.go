package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/appnet-go/appnet/internal/embedded"
	"github.com/appnet-go/appnet/internal/loopback"
	"github.com/nats-io/nats.go"
)

// The raw nats.go side of the bench: what a nats.go user writes over an
// embedded server, measured next to appnet.

// rawSubject is where raw responders answer; rawAllSubject is where
// every raw group responder answers (scatter-gather).
const (
	rawSubject    = "bench.echo"
	rawAllSubject = "bench.all"
)

// rawSpec is a raw child: an embedded server on host:port and a client
// of it, TCP or in-process, that answers (a responder) or counts.
type rawSpec struct {
	host      string
	port      int
	inProcess bool
	args      []string // more flags of the raw role: -queue, -count, -expect, -cpuprofile
}

// startRaw starts a raw child and checks its ready line, "<client URL>
// <cluster URL>", both on loopback.
func startRaw(ctx context.Context, exe string, s rawSpec) (*child, error) {
	args := []string{"-role", roleRaw, "-host", s.host, "-port", strconv.Itoa(s.port)}
	if s.inProcess {
		args = append(args, "-inprocess")
	}
	c, err := startChild(ctx, exe, nil, append(args, s.args...)...)
	if err != nil {
		return nil, err
	}
	if len(c.ready) != 2 {
		c.stop()
		return nil, fmt.Errorf("raw child said %q", c.ready)
	}
	if err := onLoopback(c.ready...); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

func onLoopback(urls ...string) error {
	for _, u := range urls {
		if err := loopback.Check(u); err != nil {
			return err
		}
	}
	return nil
}

// childRaw runs an embedded server on host:port and a client of it: a
// responder (on rawSubject; with -queue, in that queue group and on
// rawAllSubject too), or with -count a counting subscriber. Its ready line
// is "ready <client URL> <cluster URL>".
func childRaw(ctx context.Context, out *lineWriter, x childFlags) error {
	if err := loopback.Check(x.host); err != nil {
		return err
	}
	s, nc, err := rawServer(ctx, x.host, x.port, x.inProcess)
	if err != nil {
		return err
	}
	defer s.Close()
	defer nc.Close()
	var counter *eventCounter
	if x.count != "" {
		counter, err = countRaw(nc, x.count, x.expect, out)
	} else {
		err = respond(nc, x.queue)
	}
	if err != nil {
		return err
	}
	if err := nc.Flush(); err != nil {
		return err
	}
	out.printf("ready %s %s", s.ClientURL(), s.ClusterURL())
	if counter != nil {
		go counter.report(ctx, x.expect, out)
	}
	<-ctx.Done()
	return nil
}

// respond echoes rawSubject; with a queue, in that queue group, and
// rawAllSubject too.
func respond(nc *nats.Conn, queue string) error {
	echo := func(m *nats.Msg) { _ = m.Respond(m.Data) }
	if queue == "" {
		_, err := nc.Subscribe(rawSubject, echo)
		return err
	}
	if _, err := nc.QueueSubscribe(rawSubject, queue, echo); err != nil {
		return err
	}
	_, err := nc.Subscribe(rawAllSubject, echo)
	return err
}

// rawServer starts an embedded server on host:port and a client of it.
func rawServer(ctx context.Context, host string, port int, inProcess bool) (*embedded.Server, *nats.Conn, error) {
	s, err := standaloneServer(ctx, host, port)
	if err != nil {
		return nil, nil, err
	}
	opts := []nats.Option{nats.NoReconnect(), nats.Name("appnet-bench")}
	if inProcess {
		opts = append(opts, nats.InProcessServer(s.NATS()))
	}
	nc, err := nats.Connect(s.ClientURL(), opts...)
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	return s, nc, nil
}

// rawCall is a request-reply as a nats.go user writes it.
func rawCall(nc *nats.Conn) callFunc {
	return func(ctx context.Context) error {
		m, err := nc.RequestWithContext(ctx, rawSubject, payload)
		if err != nil {
			return err
		}
		return checkEcho(m.Data)
	}
}
