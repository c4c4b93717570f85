package testnet

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Deployment starts n plain nats-servers on host (ephemeral ports), routed
// into one cluster, to stand for a NATS deployment that peers connect to
// as clients. It returns their client URLs once every server has a route
// to every other; they shut down when the test ends.
func Deployment(t testing.TB, host string, n int) []string {
	t.Helper()
	MustLoopback(t, host)
	var servers []*server.Server
	var urls []string
	for i := range n {
		opts := &server.Options{
			Host: host, Port: server.RANDOM_PORT, NoLog: true, NoSigs: true,
			Cluster: server.ClusterOpts{Name: "deployment", Host: host, Port: server.RANDOM_PORT},
		}
		if i > 0 {
			opts.Routes = server.RoutesFromStr("nats://" + servers[0].ClusterAddr().String())
		}
		s, err := server.NewServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		s.Start()
		t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
		if !s.ReadyForConnections(5*time.Second) || s.ClusterAddr() == nil {
			t.Fatalf("testnet: deployment server %d not ready in 5s", i)
		}
		servers = append(servers, s)
		urls = append(urls, s.ClientURL())
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, s := range servers {
		for s.NumRoutes() < (n-1)*server.DEFAULT_ROUTE_POOL_SIZE {
			if time.Now().After(deadline) {
				t.Fatalf("testnet: the deployment's %d servers did not all route to each other in 10s", n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	MustLoopback(t, urls...)
	return urls
}

// URLs joins deployment URLs as NET_NATS_URL takes them.
func URLs(urls ...string) string { return strings.Join(urls, ",") }
