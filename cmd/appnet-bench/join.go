package main

import (
	"context"
	"fmt"
	"time"

	"github.com/appnet-go/appnet/internal/peer"
	"github.com/nats-io/nats.go"
)

// The join scenario: a peer process started next to a running one, from
// the fork until bus.New returned and until a call through the running
// peer's server reaches it; a lone peer process; peer.Start in-process.

// joinResults holds the samples of the join scenario.
type joinResults struct {
	join      []time.Duration // fork to bus.New returned, of a peer joining a running one
	joinExec  []time.Duration // fork to the child's main package initialised
	joinNew   []time.Duration // bus.New alone
	joinCall  []time.Duration // fork to a call through the running peer's server reaching the new one
	lone      []time.Duration // fork to bus.New returned, alone on its host
	peerStart []time.Duration // peer.Start alone, in the bench process
}

// joinsPerRep is how many times a new peer joins in one repetition.
const joinsPerRep = 5

// runJoin starts a peer, then, joinsPerRep times, a second peer process on
// the same host and port range, and measures from the fork until its
// bus.New returned (it scanned the host, routed to the first and waited
// until the first answers through the cluster), and until a call from a
// client of the first peer's server reaches it. Then: a peer alone on a
// host (fork to bus.New returned), and peer.Start alone in this process.
func runJoin(ctx context.Context, exe string, o options, x *joinResults) error {
	var cs children
	defer cs.stopAll()
	spec := peerSpec{host: o.subnetHost(joinBlock, 1), port: o.port, portRange: peerPortRange}
	first, r, err := startPeer(ctx, exe, spec)
	if err != nil {
		return err
	}
	cs.add(first)
	nc, err := dialPeer(r.id)
	if err != nil {
		return err
	}
	defer nc.Close()
	for range joinsPerRep {
		if err := joinOnce(ctx, exe, spec, nc, x); err != nil {
			return err
		}
	}
	for range 3 {
		c, j, err := startPeer(ctx, exe, peerSpec{host: o.subnetHost(joinBlock, 2), port: o.port, portRange: peerPortRange})
		if err != nil {
			return err
		}
		c.stop()
		x.lone = append(x.lone, j.returned.Sub(c.started))
	}
	for range 5 {
		cfg := localConfig(o.subnetHost(joinBlock, 3), o.port, peerPortRange)
		t := time.Now()
		p, err := peer.Start(ctx, cfg)
		d := time.Since(t)
		if err != nil {
			return err
		}
		p.Close()
		x.peerStart = append(x.peerStart, d)
	}
	return nil
}

// joinOnce starts a peer child from spec next to the running one whose
// server nc is a client of, measures its join and stops it.
func joinOnce(ctx context.Context, exe string, spec peerSpec, nc *nats.Conn, x *joinResults) error {
	c, err := launchPeer(exe, spec)
	if err != nil {
		return err
	}
	defer c.stop()
	if err := c.waitReady(ctx, 10*time.Second); err != nil {
		return err
	}
	j, err := parsePeerReady(c)
	if err != nil {
		return err
	}
	call := func(ctx context.Context) error {
		m, err := nc.RequestWithContext(ctx, peer.CallSubject(j.id, peer.ConnPassThrough), payload)
		if err != nil {
			return err
		}
		return checkEcho(m.Data)
	}
	if err := waitReady(ctx, call); err != nil {
		return fmt.Errorf("calling the joined peer through the first one's server: %w", err)
	}
	x.joinCall = append(x.joinCall, time.Since(c.started))
	x.join = append(x.join, j.returned.Sub(c.started))
	x.joinExec = append(x.joinExec, j.main.Sub(c.started))
	x.joinNew = append(x.joinNew, j.returned.Sub(j.called))
	return nil
}

// joinRows adds the join scenario's rows to the discovery table.
func joinRows(t targetTable, x *joinResults) {
	t.row("join: fork to bus.New returned (serving, meshed with the running peer), ms", durs(x.join, ms), "%.1f",
		fmt.Sprintf("<= %.0f", ms(targetJoin)), func(v float64) bool { return v <= ms(targetJoin) })
	t.row("(context) join: fork to the child's main package initialised, ms", durs(x.joinExec, ms), "%.1f", "", nil)
	t.row("(context) join: bus.New alone, ms", durs(x.joinNew, ms), "%.1f", "", nil)
	t.row("(context) join: fork to a call through the running peer's server answered, ms", durs(x.joinCall, ms), "%.1f", "", nil)
	t.row(fmt.Sprintf("(context) a peer alone on its host: fork to bus.New returned, ms (raw nats-server process: %.1f)", ms(anchorProcessReady)),
		durs(x.lone, ms), "%.1f", "", nil)
	t.row("peer.Start to ready, in this process, ms", durs(x.peerStart, ms), "%.2f",
		fmt.Sprintf("< %.0f", ms(targetPeerStart)), func(v float64) bool { return v < ms(targetPeerStart) })
}
