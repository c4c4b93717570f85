package discovery

import (
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/appnet-go/appnet/peer"
)

// FindNetwork finds the network p joins, once p's server is up (as a
// leaf, unattached, unless p is a hub by configuration): it scans p's
// host, then the hosts of NET_SCAN if set (never the neighbour table: that
// takes a network discovery asked for), and asks the peers it finds for
// the network's hubs, which it returns for [Discoverer.Join]; none when p
// is to start the network. hub says that p must be a hub: when the
// network has fewer than AutoHubs and none by configuration, and when
// there is no network. When the peers found know no hub either (they are
// starting too), the oldest of them and p is to be the hub and the others
// wait for it, so that peers started together make one network, not one
// each.
func FindNetwork(ctx context.Context, p *peer.Peer) (hubs []peer.HubAddr, hub bool, err error) {
	cfg := p.Config()
	if cfg.External() {
		return nil, false, nil
	}
	var found []peer.Info
	for _, onHost := range []bool{true, false} {
		if !onHost && cfg.Scan == "" {
			break
		}
		hosts, err := Targets(cfg, onHost)
		if err != nil {
			return nil, false, err
		}
		if !onHost {
			hosts = slices.DeleteFunc(hosts, func(h string) bool { return h == cfg.Host })
		}
		infos, hubs, err := lookAround(ctx, p, hosts)
		if err != nil {
			return nil, false, err
		}
		if len(hubs) > 0 {
			return hubs, startAsHub(cfg, hubs), nil
		}
		found = append(found, infos...)
	}
	hubs = awaitOldest(ctx, p, found)
	return hubs, len(hubs) == 0 || startAsHub(cfg, hubs), nil
}

// startAsHub says whether a peer that found hubs should be a hub itself:
// when configured so, or when the network has fewer than AutoHubs and no
// hub by configuration.
func startAsHub(cfg peer.Config, hubs []peer.HubAddr) bool {
	if cfg.Hub {
		return true
	}
	if slices.ContainsFunc(hubs, func(h peer.HubAddr) bool { return h.Fixed }) {
		return false
	}
	return len(hubs) < AutoHubs
}

// lookAround scans hosts (but p's own address) and returns the infos of
// the peers found, or, as soon as one knows them, the network's hubs.
func lookAround(ctx context.Context, p *peer.Peer, hosts []string) ([]peer.Info, []peer.HubAddr, error) {
	if len(hosts) == 0 {
		return nil, nil, nil
	}
	cfg := p.Config()
	self := net.JoinHostPort(cfg.Host, strconv.Itoa(p.Server().Port()))
	opts := p.ClientOptions()
	allow, err := cfg.ScanAllowed()
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		infos []peer.Info
		hubs  []peer.HubAddr
		wg    sync.WaitGroup
	)
	scanner := Scanner{Workers: cfg.ThreadLimit, Timeout: cfg.ScanTimeout, Allow: allow,
		Skip: func(addr string) bool { return addr == self },
		OnHit: func(h Hit) {
			if !joinable(cfg, h) {
				return
			}
			wg.Go(func() {
				info, err := FetchInfo(ctx, h, 4*cfg.ScanTimeout, opts...)
				if err != nil {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				infos = append(infos, info)
				if hubs == nil && len(info.Hubs) > 0 {
					hubs = info.Hubs
					cancel() // one peer of the network is enough
				}
			})
		}}
	_, err = scanner.Scan(ctx, hosts, cfg.Ports())
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if hubs != nil {
		return infos, hubs, nil
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return nil, nil, err
	}
	return infos, nil, nil
}

// bootWait bounds how long a starting peer waits for an older one, which
// started at the same moment, to become the network's first hub.
const bootWait = 2 * time.Second

// awaitOldest handles peers found that know no hub: peers starting at the
// same moment. When p is the oldest of them it returns no hubs (p becomes
// the first hub); else it waits for the oldest to become a hub and returns
// the hubs it then knows, or none after bootWait.
func awaitOldest(ctx context.Context, p *peer.Peer, found []peer.Info) []peer.HubAddr {
	self := peer.Info{ID: p.ID(), Started: p.Started()}
	oldest := self
	for _, info := range found {
		if older(info, oldest) {
			oldest = info
		}
	}
	if oldest.ID == self.ID || p.Config().Hub {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, bootWait)
	defer cancel()
	h := Hit{Host: oldest.Host, Port: oldest.Port, ID: oldest.ID}
	for {
		info, err := FetchInfo(ctx, h, 4*p.Config().ScanTimeout, p.ClientOptions()...)
		if err == nil && len(info.Hubs) > 0 {
			return info.Hubs
		}
		select {
		case <-ctx.Done():
			return nil // it never did: this peer starts a network, merged later
		case <-time.After(20 * time.Millisecond):
		}
	}
}
