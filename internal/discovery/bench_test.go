package discovery_test

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/appnet-go/appnet/bus"
	"github.com/appnet-go/appnet/internal/peer"
	"github.com/appnet-go/appnet/internal/testnet"
)

// startBenchPeers starts n peers spread over hosts, all scanning cidr.
func startBenchPeers(b *testing.B, hosts []string, cidr string, port, n int) []*bus.Peer {
	b.Helper()
	var ps []*bus.Peer
	for i := range n {
		cfg := peer.DefaultLocalConfig()
		cfg.Host, cfg.PortStart, cfg.Scan, cfg.Registry = hosts[i%len(hosts)], port, cidr, peer.NewRegistry()
		cfg.ScanInterval = 0 // no background rescans while measuring
		cfg.ScanTimeout = 200 * time.Millisecond
		p, err := bus.Start(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { p.Close() })
		ps = append(ps, p)
	}
	return ps
}

// On-host discovery with 5 peers (the seed's peers(on_host=True, refresh=True)).
func BenchmarkPeersOnHostRefresh(b *testing.B) {
	host := testnet.Host(b)
	ps := startBenchPeers(b, []string{host}, host, testnet.Ports(b), 5)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		found, err := ps[0].Peers(ctx, bus.OnHost(), bus.Refresh())
		if err != nil || len(found.Peers) != 4 {
			b.Fatalf("%d peers, %v", len(found.Peers), err)
		}
	}
}

// The cached answer once meshed.
func BenchmarkPeersCached(b *testing.B) {
	host := testnet.Host(b)
	ps := startBenchPeers(b, []string{host}, host, testnet.Ports(b), 5)
	ctx := context.Background()
	if _, err := ps[0].Peers(ctx, bus.OnHost()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		found, err := ps[0].Peers(ctx, bus.OnHost())
		if err != nil || len(found.Peers) != 4 {
			b.Fatalf("%d peers, %v", len(found.Peers), err)
		}
	}
}

// A /27 of loopback hosts with 10 peers and a silent listener: a refresh
// once meshed (the full first scan is timed by cmd/appnet-bench).
func BenchmarkNetworkRefresh(b *testing.B) {
	cidr, hosts := testnet.Subnet(b, 5)
	port := testnet.Ports(b)
	silent, err := net.Listen("tcp", net.JoinHostPort(hosts[4], strconv.Itoa(port+5)))
	if err != nil {
		b.Fatal(err)
	}
	defer silent.Close()
	ps := startBenchPeers(b, hosts, cidr, port, 10)
	ctx := context.Background()
	start := time.Now()
	if found, err := ps[0].Peers(ctx, bus.Refresh()); err != nil || len(found.Peers) != 9 {
		b.Fatalf("first scan: %d peers, %v", len(found.Peers), err)
	}
	firstScan := time.Since(start)
	b.ResetTimer()
	for b.Loop() {
		found, err := ps[0].Peers(ctx, bus.Refresh())
		if err != nil || len(found.Peers) != 9 {
			b.Fatalf("%d peers, %v", len(found.Peers), err)
		}
	}
	b.ReportMetric(float64(firstScan.Milliseconds()), "first-scan-ms")
}
