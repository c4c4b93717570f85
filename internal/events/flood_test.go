package events_test

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/events"
	"github.com/appnet-go/appnet/internal/lower"
	"github.com/appnet-go/appnet/internal/peer"
	"github.com/appnet-go/appnet/internal/testnet"
	"github.com/nats-io/nats.go"
)

// TestAFloodOfLargeEventsLosesNothingUnreported floods a slow subscriber
// with 4 × 200 events of 1 MB from four raw clients, far more than the
// subscription and the server hold for it: every event must be either
// delivered or counted as dropped, in Dropped, in info's events_dropped
// and in what OnError reported.
func TestAFloodOfLargeEventsLosesNothingUnreported(t *testing.T) {
	const publishers, each = 4, 200
	host, port := testnet.Host(t), testnet.Ports(t)
	p := start(t, host, port)
	var delivered atomic.Int64
	var mu sync.Mutex
	var reported int64 // the counts OnError gave, per subject: the latest is the total
	latest := map[string]int64{}
	count := regexp.MustCompile(`(\d+) events dropped so far on (\S+)`)
	sub, err := events.Subscribe(lower.Peer(p), "flood", func(context.Context, events.Delivery[string]) {
		delivered.Add(1)
		time.Sleep(2 * time.Millisecond)
	}, events.OnError(func(err error) {
		if !errors.Is(err, events.ErrDropped) {
			t.Errorf("reported %v, want ErrDropped", err)
			return
		}
		if m := count.FindStringSubmatch(err.Error()); m != nil {
			n, _ := strconv.ParseInt(m[1], 10, 64)
			mu.Lock()
			latest[m[2]] = max(latest[m[2]], n)
			mu.Unlock()
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	emitter := peer.NewID(host, 1, "None") // any peer of the group: subscribers hear the whole group
	subject := events.Subject("None", false, emitter, "flood")
	payload := []byte(`"` + strings.Repeat("x", 1000*1000-200) + `"`)
	var wg sync.WaitGroup
	for range publishers {
		nc, err := nats.Connect(lower.Peer(p).Server().ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		wg.Go(func() {
			for range each {
				if err := nc.Publish(subject, payload); err != nil {
					t.Errorf("publish: %v", err)
					return
				}
			}
			_ = nc.FlushTimeout(30 * time.Second)
		})
	}
	wg.Wait()
	// Wait until every event is accounted for, delivered or dropped.
	total := int64(publishers * each)
	deadline := time.Now().Add(60 * time.Second)
	for delivered.Load()+sub.Dropped() < total && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // let a last report arrive; an excess would show below
	mu.Lock()
	for _, n := range latest {
		reported += n
	}
	mu.Unlock()
	got, dropped, info := delivered.Load(), sub.Dropped(), p.Info().EventsDropped
	t.Logf("%d events: %d delivered, %d dropped (info: %d, reported: %d)", total, got, dropped, info, reported)
	if got+dropped != total {
		t.Errorf("%d events lost without a count: %d delivered + %d dropped of %d", total-got-dropped, got, dropped, total)
	}
	if info != dropped {
		t.Errorf("info says %d dropped, the subscription %d", info, dropped)
	}
	if reported != dropped {
		t.Errorf("OnError reported %d dropped, the subscription counts %d", reported, dropped)
	}
	if dropped == 0 {
		t.Error("nothing dropped: the flood did not overflow the subscriber, so the test proves nothing")
	}
}

// TestASubscriberHearsOfALostConnection drops the peer's own connection
// from the server side: the subscription is told that events may have
// been lost meanwhile, and hears events again after.
func TestASubscriberHearsOfALostConnection(t *testing.T) {
	t.Parallel()
	host, port := testnet.Host(t), testnet.Ports(t)
	p := start(t, host, port)
	c := newCollector[int]()
	sub, err := events.Subscribe(lower.Peer(p), "tick", c.handle, events.OnError(c.onError))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	cid, err := p.Conn().GetClientID()
	if err != nil {
		t.Fatal(err)
	}
	if err := lower.Peer(p).Server().NATS().DisconnectClientByID(cid); err != nil {
		t.Fatal(err)
	}
	c.waitN(t, 1)
	c.mu.Lock()
	if len(c.errs) != 1 || !errors.Is(c.errs[0], events.ErrDropped) || !errors.Is(c.errs[0], peer.ErrConnectionLost) {
		t.Errorf("reported %v, want one error wrapping ErrDropped and ErrConnectionLost", c.errs)
	}
	c.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := events.Emit(lower.Peer(p), "tick", 1); err != nil {
			t.Fatal(err)
		}
		c.mu.Lock()
		n := len(c.got)
		c.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no event heard within 5 s of the reconnection")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
