package discovery_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/discovery"
	"github.com/appnet-go/appnet/internal/peer"
	"github.com/appnet-go/appnet/internal/testnet"
)

func TestScanFindsPeersAndSkipsOtherListenersQuickly(t *testing.T) {
	t.Parallel()
	cidr, hosts := testnet.Subnet(t, 3)
	testnet.MustLoopback(t, cidr)
	port := testnet.Ports(t)
	// hosts[0]: a silent TCP listener on the first port, then a peer.
	if err := listenSilent(t, net.JoinHostPort(hosts[0], strconv.Itoa(port))); err != nil {
		t.Fatal(err)
	}
	// hosts[1]: a web server on the first port.
	web, err := net.Listen("tcp", net.JoinHostPort(hosts[1], strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: time.Second}
	go srv.Serve(web)
	defer srv.Close()

	var want []peer.ID
	for _, h := range hosts[:2] {
		cfg := peer.DefaultLocalConfig()
		p, err := peer.Start(context.Background(), cfg, peer.WithHost(h), peer.WithPorts(port, 5))
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		want = append(want, p.ID())
	}

	ports := make([]int, 6)
	for i := range ports {
		ports[i] = port + i
	}
	timeout := 200 * time.Millisecond
	start := time.Now()
	var last discovery.Progress
	hits, err := discovery.Scanner{Workers: 4, Timeout: timeout, OnProgress: func(p discovery.Progress) { last = p }}.
		Scan(context.Background(), hosts, ports)
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	if len(hits) != 2 || hits[0].ID != want[0] || hits[1].ID != want[1] {
		t.Fatalf("hits = %+v, want %v", hits, want)
	}
	if last.Done != 18 || last.Total != 18 || last.Hits != 2 {
		t.Errorf("last progress = %+v, want 18/18 with 2 hits", last)
	}
	// The silent listener costs one timeout; the web server none.
	if elapsed > 5*timeout {
		t.Errorf("scan took %s with a %s probe timeout", elapsed, timeout)
	}
}

func TestScanStopsWithItsContext(t *testing.T) {
	t.Parallel()
	host := testnet.Host(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := discovery.Scanner{Workers: 2, Timeout: time.Second}.Scan(ctx, []string{host}, []int{testnet.Ports(t)})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestParseTargets(t *testing.T) {
	t.Parallel()
	hosts, err := discovery.ParseTargets("127.0.0.0/29, 127.0.0.3,127.1.1.1", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := "127.0.0.1 127.0.0.2 127.0.0.3 127.0.0.4 127.0.0.5 127.0.0.6 127.1.1.1"
	if got := strings.Join(hosts, " "); got != want {
		t.Errorf("hosts = %s, want %s", got, want)
	}
	for _, tc := range []struct{ in, says string }{
		{"127.0.0.1,banana", `"banana"`},
		{"10.0.0.0/8", "more than the 65536 allowed"},
		{"::1/64", `"::1/64"`},
	} {
		_, err := discovery.ParseTargets(tc.in, 0)
		if !errors.Is(err, discovery.ErrTargets) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("ParseTargets(%q) = %v, want ErrTargets saying %s", tc.in, err, tc.says)
		}
	}
	if _, err := discovery.ParseTargets("127.0.0.0/15", 1<<17); err != nil {
		t.Errorf("an explicit larger limit: %v", err)
	}
}

func TestScanRefusesTargetsOutsideTheAllowList(t *testing.T) {
	t.Parallel()
	// Skip every address, so that even a broken guard could not send a
	// packet.
	never := func(string) bool { return true }
	allow, err := peer.DefaultLocalConfig().ScanAllowed()
	if err != nil {
		t.Fatal(err)
	}
	_, err = discovery.Scanner{Workers: 1, Timeout: time.Millisecond, Skip: never, Allow: allow}.
		Scan(context.Background(), []string{"127.0.0.1", "192.0.2.1"}, []int{1})
	if !errors.Is(err, discovery.ErrTargets) || !strings.Contains(err.Error(), "192.0.2.1") {
		t.Errorf("err = %v, want a refusal naming 192.0.2.1", err)
	}
	if _, err := (discovery.Scanner{Workers: 1, Timeout: time.Millisecond, Skip: never, Allow: allow}).
		Scan(context.Background(), []string{"127.3.2.1"}, []int{1}); err != nil {
		t.Errorf("a loopback target: %v", err)
	}
}

// listenSilent listens on addr, until the test ends, as a server that
// accepts and never says a word: it holds every connection open.
func listenSilent(t *testing.T, addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	return nil
}
