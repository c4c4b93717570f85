package discovery

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/appnet-go/appnet/internal/peer"
)

// FindNetwork finds the network p joins, once p's server is up (as a
// leaf, unattached, unless p is a hub by configuration): it scans p's
// host, then the hosts of NET_SCAN if set (never the neighbour table: that
// takes a network discovery asked for), and asks the peers it finds for
// the network's hubs, which it returns for [Discoverer.Join]; none when p
// is to start the network. hub says that p must be a hub: when configured
// so (NET_IS_HUB), and when there is no network. When the peers found
// know no hub either (they are starting too), the one at the lowest
// address of them and p is to be the hub and the others wait for it, so
// that peers started together make one network, not one each; of those,
// the lowest that is not a hub makes the second (see fillsQuota), if the
// first lets it (claimHub: of starters whose scans each saw a few of the
// others, several take themselves for the lowest). A hub found, however
// busy, is waited for (awaitFirst), a network's hubs found for longer
// (hubPatience). A peer whose scan missed the first may start a network
// of its own: networks merge, and the youngest of more
// than MaxAutoHubs hubs become leaves again. So a peer that waited for
// another starter in vain scans again before it starts one (waitRescans).
func FindNetwork(ctx context.Context, p *peer.Peer) (hubs []peer.HubAddr, hub bool, err error) {
	cfg := p.Config()
	if cfg.External() {
		return nil, false, nil
	}
	busyAgain, waitedAgain := 0, 0
	var hubSeen time.Time // when a scan first found a hub that did not say who the hubs are
	for {
		found, busy, hubs, err := scanForHubs(ctx, p)
		if err != nil || len(hubs) > 0 {
			return hubs, err == nil && (cfg.Hub || fillsQuota(p, found, hubs) && claimHub(ctx, p, hubs)), err
		}
		if len(found) == 0 && busy > 0 && busyAgain < busyRescans {
			// Servers accepted and did not greet in time: peers too busy
			// (a mass start) to be found, not the absence of a network.
			// Starting one here would make another network to merge.
			busyAgain++
			select {
			case <-ctx.Done():
				return nil, false, ctx.Err()
			case <-time.After(busyPause + rand.N(busyPause)):
			}
			continue
		}
		hubs = awaitFirst(ctx, p, found)
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
		if len(hubs) == 0 && !cfg.Hub && slices.ContainsFunc(found, isHubHit) {
			// Hubs greeted and did not answer. AutoHubs of them are a
			// network with its hubs, busy: scan and ask again
			// (hubPatience). One hub, or past that patience, or the
			// caller's deadline: the rest of the peers found are starters.
			if hubSeen.IsZero() {
				hubSeen = time.Now()
			}
			if countHubs(found) >= AutoHubs && time.Since(hubSeen) < hubPatience && timeFor(ctx, hubWait+time.Second) {
				continue
			}
			if found = slices.DeleteFunc(found, isHubHit); len(found) > 0 {
				hubs = awaitFirst(ctx, p, found)
			}
		}
		if len(hubs) == 0 && waitedInVain(p, found) && waitedAgain < waitRescans && timeFor(ctx, bootWait+time.Second) {
			// The network may have started meanwhile (waitRescans).
			waitedAgain++
			continue
		}
		return hubs, len(hubs) == 0 || cfg.Hub || fillsQuota(p, found, hubs) && claimHub(ctx, p, hubs), nil
	}
}

// waitRescans is how many times a starting peer that waited bootWait for
// the lowest of the starters it found, in vain, scans again before it
// starts a network of its own: a network started meanwhile greets as a
// hub. In loaded 200-peer starts without hubs, the lowest started the
// network 0.2–1.2 s in, and peers that waited for another starter to join
// it (and name its hubs) gave up 2.2–2.5 s in and started networks of
// their own, 3 to 50 of them in 3 of 13 starts, which took 16–23 s to
// merge, or never did. The lowest itself does not scan again: it asked
// the others again already (askAgain), and one more scan and asking made
// every start of 100 peers 0.5–0.8 s slower.
const waitRescans = 2

// waitedInVain says whether awaitFirst had p wait for another starter of
// those found: p is no hub by configuration and not the lowest of the
// starters (the peers found that did not greet as hubs).
func waitedInVain(p *peer.Peer, found []Hit) bool {
	starters := slices.DeleteFunc(slices.Clone(found), func(h Hit) bool { return h.Hub })
	return !p.Config().Hub && len(starters) > 0 && !lowest(p, starters)
}

// timeFor says whether ctx leaves at least d: a rescan that would run
// past the caller's deadline starts a network instead, as before.
func timeFor(ctx context.Context, d time.Duration) bool {
	deadline, ok := ctx.Deadline()
	return !ok || time.Until(deadline) >= d
}

// A starting peer that found nobody but listeners too busy to greet scans
// again, at most busyRescans times, busyPause to twice that apart.
const (
	busyRescans = 3
	busyPause   = 250 * time.Millisecond
)

// scanForHubs scans p's host, then the hosts of NET_SCAN, and returns the
// peers found, how many listeners accepted without greeting in time, and
// the network's hubs as soon as a peer found knows them.
func scanForHubs(ctx context.Context, p *peer.Peer) (found []Hit, busy int, hubs []peer.HubAddr, err error) {
	cfg := p.Config()
	for _, onHost := range []bool{true, false} {
		if !onHost && cfg.Scan == "" {
			break
		}
		hosts, err := Targets(cfg, onHost)
		if err != nil {
			return nil, 0, nil, err
		}
		if !onHost {
			hosts = slices.DeleteFunc(hosts, func(h string) bool { return h == cfg.Host })
		}
		hits, silent, hubs, err := lookAround(ctx, p, hosts)
		if err != nil {
			return nil, 0, nil, err
		}
		busy += silent
		if len(hubs) > 0 {
			return hits, busy, hubs, nil
		}
		found = append(found, hits...)
	}
	return found, busy, nil, nil
}

// fillsQuota says whether p, joining a network of hubs, may be a hub at
// once (if the network's first hub agrees: claimHub): when the network
// has fewer than AutoHubs and none by configuration, and p is at the
// lowest address of the peers found that are not hubs, so that of
// newcomers that start together few ask (the network would otherwise
// promote its oldest leaf a second later, restarting that peer's server
// under its application's subscriptions).
func fillsQuota(p *peer.Peer, found []Hit, hubs []peer.HubAddr) bool {
	if len(hubs) >= AutoHubs || slices.ContainsFunc(hubs, func(h peer.HubAddr) bool { return h.Fixed }) {
		return false
	}
	isHub := map[peer.ID]bool{}
	for _, h := range hubs {
		isHub[h.ID] = true
	}
	host, port := p.Config().Host, p.Server().Port()
	return !slices.ContainsFunc(found, func(h Hit) bool {
		return !isHub[h.ID] && compareAddr(h.Host, h.Port, host, port) < 0
	})
}

// lookAround scans hosts (but p's own address) and returns the peers
// found, in address order, how many listeners accepted but did not greet
// within NET_SCAN_TIMEOUT, and the hubs the first peer to know any knows. It asks the hubs it finds (their greeting says so) and at most
// lookInfos others for their info, and stops the scan as soon as one knows
// the hubs: a mass start of N peers must not make N² connections.
func lookAround(ctx context.Context, p *peer.Peer, hosts []string) ([]Hit, int, []peer.HubAddr, error) {
	if len(hosts) == 0 {
		return nil, 0, nil, nil
	}
	cfg := p.Config()
	self := net.JoinHostPort(cfg.Host, strconv.Itoa(p.Server().Port()))
	allow, err := cfg.ScanAllowed()
	if err != nil {
		return nil, 0, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu     sync.Mutex
		hubs   []peer.HubAddr
		asked  int
		silent int // listeners that accepted and did not greet in time
		wg     sync.WaitGroup
	)
	scanner := Scanner{Workers: cfg.ThreadLimit, Timeout: cfg.ScanTimeout, Allow: allow,
		Skip: func(addr string) bool { return addr == self },
		OnSilent: func(_ string, connected bool) {
			if connected {
				mu.Lock()
				silent++
				mu.Unlock()
			}
		},
		OnHit: func(h Hit) {
			mu.Lock()
			defer mu.Unlock()
			// A hub's greeting says so: ask it whatever the count.
			if !joinable(cfg, h) || hubs != nil || asked >= lookInfos && !h.Hub {
				return
			}
			asked++
			wg.Go(func() {
				info, err := FetchInfo(ctx, h, 4*cfg.ScanTimeout, p.ClientOptions()...)
				mu.Lock()
				defer mu.Unlock()
				if err == nil && len(info.Hubs) > 0 && hubs == nil {
					hubs = info.Hubs
					cancel() // one peer of the network is enough
				}
			})
		}}
	hits, err := scanner.Scan(ctx, hosts, cfg.Ports())
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if hubs != nil {
		return hits, silent, hubs, nil
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return nil, 0, nil, err
	}
	if len(hits) > 0 && asked == 0 {
		// Every peer found was one p may not join (no secret, say).
		return nil, silent, nil, nil
	}
	return slices.DeleteFunc(hits, func(h Hit) bool { return !joinable(cfg, h) }), silent, nil, nil
}

// lookInfos is how many of the peers found a starting peer asks for the
// network's hubs.
const lookInfos = 3

// isHubHit says whether a peer found greeted as a hub.
func isHubHit(h Hit) bool { return h.Hub }

// countHubs counts the peers found that greeted as hubs.
func countHubs(found []Hit) int {
	n := 0
	for _, h := range found {
		if h.Hub {
			n++
		}
	}
	return n
}

// hubPatience bounds how long a starting peer whose scans found AutoHubs
// hubs or more that did not say who the network's hubs are (busy: their
// greetings came, their answers did not) scans and asks again before it
// passes them over and takes the other peers found for starters, who may
// start a network. A network with its hubs is there; one started beside
// it is a network to merge. Passing them over after one wait of hubWait,
// as before, made starters of a 200-peer start found networks of their
// own beside two hubs by configuration, which the networks' merge kept
// as two more hubs (MaxAutoHubs): 165 leaves moved to spread over four
// hubs, and the start was whole at 81 s, not 20–30 s.
//
// One hub is not enough: in a start without hubs by configuration the
// first hub greets within a second, is the busiest peer of the start,
// and every starter asks it; asking it for 30 s adds to its load for no
// gain. Three such 200-peer starts that waited for it so were whole in
// 23.6, 36.0 and 41.7 s, and five without that wait in 21.6 to 36.0 s,
// the same day.
const hubPatience = 30 * time.Second

// bootWait bounds how long a starting peer waits for another, which
// started at the same moment, to become the network's first hub; hubWait,
// how long it waits for a hub its scan found to say who the network's hubs
// are; askAgainFor, how long the lowest starter asks the others again
// (askAgain), a part of the others' bootWait, which runs meanwhile.
const (
	bootWait    = 2 * time.Second
	hubWait     = 4 * time.Second
	askAgainFor = bootWait / 4
)

// askAgain asks up to lookAgain of the peers found (the lowest addresses
// first), at once, whether they know the network's hubs now, and returns
// the first hubs one names; none if none does within askAgainFor. A peer
// at the lowest address of the starters it found asks before it starts
// the network: the first to scan found nobody and started one, and a scan
// that saw it before or while it restarted as the hub took it for a
// starter. In 200-peer starts that made two networks to merge in one run
// of three.
func askAgain(ctx context.Context, p *peer.Peer, found []Hit) []peer.HubAddr {
	found = slices.SortedFunc(slices.Values(found), func(a, b Hit) int { return compareAddr(a.Host, a.Port, b.Host, b.Port) })
	ctx, cancel := context.WithTimeout(ctx, askAgainFor)
	defer cancel()
	answers := make(chan []peer.HubAddr, lookAgain)
	asked := found[:min(len(found), lookAgain)]
	for _, h := range asked {
		go func() {
			info, err := FetchInfo(ctx, h, min(4*p.Config().ScanTimeout, askAgainFor), p.ClientOptions()...)
			if err != nil {
				answers <- nil
				return
			}
			answers <- info.Hubs
		}()
	}
	for range asked {
		select {
		case hubs := <-answers:
			if len(hubs) > 0 {
				return hubs
			}
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}

// lookAgain is how many of the peers found a starting peer asks again
// before it starts the network (askAgain).
const lookAgain = 8

// awaitFirst handles peers found that know no hub: peers starting at the
// same moment. The one at the lowest address (host, then port) becomes
// the first hub, which every one of them can tell from the scan alone:
// when that is p it returns no hubs (unless one of them knows some now:
// askAgain); else it waits for that peer to become a hub and returns the
// hubs it then knows, or none after bootWait.
//
// A hub among the peers found (its greeting said so, but it was too busy
// to answer in time) is the network, whatever the addresses: p waits for
// it, for hubWait, and returns what it names, or none; FindNetwork then
// applies the rule above to the rest, or, when AutoHubs hubs greeted,
// scans again first (hubPatience). In a 200-peer start, starters that founded
// networks of their own beside a busy hub they had seen made up to three
// networks to merge, and one never became whole in 90 s.
func awaitFirst(ctx context.Context, p *peer.Peer, found []Hit) []peer.HubAddr {
	if len(found) == 0 || p.Config().Hub {
		return nil
	}
	byAddr := func(a, b Hit) int { return compareAddr(a.Host, a.Port, b.Host, b.Port) }
	if hubs := slices.DeleteFunc(slices.Clone(found), func(h Hit) bool { return !h.Hub }); len(hubs) > 0 {
		return awaitHubs(ctx, p, slices.MinFunc(hubs, byAddr), hubWait)
	}
	if lowest(p, found) {
		return askAgain(ctx, p, found)
	}
	return awaitHubs(ctx, p, slices.MinFunc(found, byAddr), bootWait)
}

// lowest says whether p is at a lower address than every peer found.
func lowest(p *peer.Peer, found []Hit) bool {
	host, port := p.Config().Host, p.Server().Port()
	return !slices.ContainsFunc(found, func(h Hit) bool { return compareAddr(h.Host, h.Port, host, port) < 0 })
}

// awaitHubs asks peer h for the network's hubs until it names some or
// wait ends; then none: this peer starts a network, merged later.
func awaitHubs(ctx context.Context, p *peer.Peer, h Hit, wait time.Duration) []peer.HubAddr {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		info, err := FetchInfo(ctx, h, 4*p.Config().ScanTimeout, p.ClientOptions()...)
		if err == nil && len(info.Hubs) > 0 {
			return info.Hubs
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100*time.Millisecond + rand.N(200*time.Millisecond)):
			// Jittered: every peer of a mass start asks the same one.
		}
	}
}
