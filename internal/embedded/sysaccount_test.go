package embedded_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/embedded"
	"github.com/appnet-go/appnet/internal/testnet"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// pinnedSystemPassword is the system user's password of the secret "one
// secret": every peer, and every version, must derive the same.
const pinnedSystemPassword = "H_nYUZMZGGClZPzhXEsm4WCwP-xmvFHAeLTPs02vMPg"

func TestSystemPassword(t *testing.T) {
	open, err := embedded.SystemPassword("")
	if err != nil || open != embedded.OpenSystemPassword {
		t.Errorf("SystemPassword(\"\") = %q, %v; want %q", open, err, embedded.OpenSystemPassword)
	}
	p, err := embedded.SystemPassword("one secret")
	if err != nil || p != pinnedSystemPassword {
		t.Errorf("SystemPassword(%q) = %q, %v; want %q: peers of two versions would not agree", "one secret", p, err, pinnedSystemPassword)
	}
	if strings.Contains(p, "one secret") {
		t.Error("the password contains the secret")
	}
}

// sysNet is a hub and a leaf of it, with or without a secret.
type sysNet struct {
	hub, leaf    *embedded.Server
	host, secret string
}

func startSysNet(t *testing.T, secret string) sysNet {
	t.Helper()
	host, port := testnet.Host(t), testnet.Ports(t)
	cfg := func(hub bool) embedded.Config {
		return embedded.Config{Host: host, PortStart: port, PortRange: 5, Secret: secret, Hub: hub, SystemLeaf: true,
			Name: func(p int) string { return "s" + strconv.Itoa(p) }}
	}
	hub, err := embedded.Start(context.Background(), cfg(true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hub.Close)
	leaf, err := embedded.Start(context.Background(), cfg(false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(leaf.Close)
	must(t, leaf.SetHubs([]string{hub.LeafURL()}))
	// Both of the leaf's connections are up: the global account's, and
	// the system account's.
	waitFor(t, func() bool { return hub.NATS().NumLeafNodes() == 2 && leaf.NATS().NumLeafNodes() == 2 })
	return sysNet{hub: hub, leaf: leaf, host: host, secret: secret}
}

func (n sysNet) connect(t *testing.T, s *embedded.Server, opts ...nats.Option) (*nats.Conn, error) {
	t.Helper()
	return nats.Connect(s.ClientURL(), append(opts, nats.NoReconnect(), nats.Timeout(2*time.Second))...)
}

// ping asks every server of the network for its stats, as `nats server
// list` does, and returns the names of those that answered within a
// second.
func ping(t *testing.T, nc *nats.Conn) []string {
	t.Helper()
	var mu sync.Mutex
	var names []string
	inbox := nats.NewInbox()
	sub, err := nc.Subscribe(inbox, func(m *nats.Msg) {
		var stats struct {
			Server struct {
				Name string `json:"name"`
			} `json:"server"`
		}
		if json.Unmarshal(m.Data, &stats) == nil {
			mu.Lock()
			names = append(names, stats.Server.Name)
			mu.Unlock()
		}
	})
	must(t, err)
	defer sub.Unsubscribe()
	must(t, nc.PublishRequest("$SYS.REQ.SERVER.PING", inbox, nil))
	time.Sleep(time.Second)
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(names)
	return names
}

// TestSystemAccount: every server has a system account that the user sys
// reaches, from a leaf as from a hub, and sees every server with; clients
// keep the global account as before; with a secret, only the password
// the secret derives opens the system account.
func TestSystemAccount(t *testing.T) {
	for _, secret := range []string{"", "sys-s3cret"} {
		t.Run("secret="+strconv.FormatBool(secret != ""), func(t *testing.T) {
			t.Parallel()
			n := startSysNet(t, secret)
			want := []string{n.hub.NATS().Name(), n.leaf.NATS().Name()}
			slices.Sort(want)
			if got := n.leaf.Leaves(); len(got) != 1 || got[0] != n.hub.NATS().Name() {
				t.Errorf("the leaf's Leaves() = %v, want its hub once", got)
			}
			if got := n.hub.Leaves(); len(got) != 1 || got[0] != n.leaf.NATS().Name() {
				t.Errorf("the hub's Leaves() = %v, want the leaf once", got)
			}
			if got := n.leaf.Hubs(); len(got) != 1 || got[0] != n.hub.LeafURL() {
				t.Errorf("the leaf's Hubs() = %v, want %s", got, n.hub.LeafURL())
			}

			// The global account, as before: no credentials without a
			// secret, the secret as token with one.
			var global []nats.Option
			if secret != "" {
				global = append(global, nats.Token(secret))
			}
			server, err := n.connect(t, n.hub, global...)
			must(t, err)
			defer server.Close()
			_, err = server.Subscribe("svc", func(m *nats.Msg) { _ = m.Respond([]byte("ok")) })
			must(t, err)
			must(t, server.Flush())
			client, err := n.connect(t, n.leaf, global...)
			must(t, err)
			defer client.Close()
			waitFor(t, func() bool {
				m, err := client.Request("svc", nil, 200*time.Millisecond)
				return err == nil && string(m.Data) == "ok"
			})
			// The global account holds no system subject.
			if _, err := client.Request("$SYS.REQ.SERVER.PING", nil, 300*time.Millisecond); err == nil {
				t.Error("a client of the global account got an answer from the system account")
			}

			sysPass, err := embedded.SystemPassword(secret)
			must(t, err)
			for _, s := range []*embedded.Server{n.leaf, n.hub} {
				sys, err := n.connect(t, s, nats.UserInfo(embedded.SystemUser, sysPass))
				must(t, err)
				if got := ping(t, sys); !slices.Equal(got, want) {
					t.Errorf("servers answering the system user on %s: %v, want %v", s.NATS().Name(), got, want)
				}
				// A monitor may not act on a server.
				errs := make(chan error, 1)
				sys.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err })
				must(t, sys.Publish("$SYS.REQ.SERVER."+s.NATS().ID()+".KICK", []byte(`{"cid":1}`)))
				select {
				case err := <-errs:
					if !errors.Is(err, nats.ErrPermissionViolation) {
						t.Errorf("KICK: %v, want a permissions violation", err)
					}
				case <-time.After(2 * time.Second):
					t.Error("the system user may KICK a client")
				}
				sys.Close()
			}

			// Credentials that must not open anything.
			refused := [][]nats.Option{
				{nats.UserInfo(embedded.SystemUser, "wrong")},
				{nats.UserInfo(embedded.SystemUser, "")},
			}
			if secret != "" {
				refused = append(refused,
					nil, // no credentials
					[]nats.Option{nats.Token("wrong")},
					[]nats.Option{nats.UserInfo(embedded.SystemUser, secret)},
					[]nats.Option{nats.UserInfo(embedded.SystemUser, embedded.OpenSystemPassword)},
					[]nats.Option{nats.UserInfo("appnet", secret)},
					[]nats.Option{nats.UserInfo("appnet", "")},
				)
			}
			for _, opts := range refused {
				for _, s := range []*embedded.Server{n.leaf, n.hub} {
					if nc, err := n.connect(t, s, opts...); err == nil {
						nc.Close()
						t.Errorf("%s accepted %d credential options that it must refuse (secret %v)", s.NATS().Name(), len(opts), secret != "")
					}
				}
			}
		})
	}
}

// TestLeavesTakeNoSystemBroadcasts: the stats every server broadcasts
// (every 10 s, more often just after start) travel between hubs, but not
// through a leaf's system account connection, either way: a leaf's idle
// traffic does not grow with the network.
func TestLeavesTakeNoSystemBroadcasts(t *testing.T) {
	t.Parallel()
	n := startSysNet(t, "")
	seen := func(s *embedded.Server) (func() []string, func()) {
		nc, err := n.connect(t, s, nats.UserInfo(embedded.SystemUser, embedded.OpenSystemPassword))
		must(t, err)
		var mu sync.Mutex
		var from []string
		_, err = nc.Subscribe("$SYS.SERVER.*.STATSZ", func(m *nats.Msg) {
			mu.Lock()
			defer mu.Unlock()
			if !slices.Contains(from, m.Subject) {
				from = append(from, m.Subject)
			}
		})
		must(t, err)
		must(t, nc.Flush())
		return func() []string {
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(from)
		}, nc.Close
	}
	atHub, closeHub := seen(n.hub)
	defer closeHub()
	atLeaf, closeLeaf := seen(n.leaf)
	defer closeLeaf()
	time.Sleep(4 * time.Second) // the first broadcasts: 0.25 s, 0.5 s, 1 s, 2 s after start
	hubStats := "$SYS.SERVER." + n.hub.NATS().ID() + ".STATSZ"
	leafStats := "$SYS.SERVER." + n.leaf.NATS().ID() + ".STATSZ"
	if got := atHub(); slices.Contains(got, leafStats) {
		t.Errorf("the hub received the leaf's stats: %v", got)
	}
	if got := atLeaf(); slices.Contains(got, hubStats) {
		t.Errorf("the leaf received the hub's stats: %v", got)
	}
	if got := atHub(); !slices.Contains(got, hubStats) {
		t.Errorf("the hub's own stats never came (%v): the test sees nothing", got)
	}
}

// TestLeafSystemInterestIsFlat: what a leaf hears of the system account's
// interest does not grow with the number of leaves (every server has
// request subjects of its own; a leaf hears of none but the network-wide
// ones). NATS's loop detection subjects ($LDS.<leaf>), one per leaf, are
// the exception, on the global account's leaf connections as here.
func TestLeafSystemInterestIsFlat(t *testing.T) {
	t.Parallel()
	n := startSysNet(t, "")
	host, port := testnet.Host(t), testnet.Ports(t)
	heard := func(s *embedded.Server) []string {
		lz, err := s.NATS().Leafz(&server.LeafzOptions{Account: embedded.SystemAccount, Subscriptions: true})
		if err != nil || len(lz.Leafs) != 1 {
			t.Fatalf("system account leaf connections of %s: %v, %v", s.NATS().Name(), lz, err)
		}
		subs := slices.DeleteFunc(lz.Leafs[0].Subs, func(s string) bool { return strings.HasPrefix(s, "$LDS.") })
		slices.Sort(subs)
		return subs
	}
	time.Sleep(200 * time.Millisecond)
	alone := heard(n.leaf)
	for range 4 {
		l, err := embedded.Start(context.Background(), embedded.Config{Host: host, PortStart: port, PortRange: 5, SystemLeaf: true,
			Name: func(p int) string { return "l" + strconv.Itoa(p) }})
		must(t, err)
		t.Cleanup(l.Close)
		must(t, l.SetHubs([]string{n.hub.LeafURL()}))
	}
	waitFor(t, func() bool { return n.hub.NATS().NumLeafNodes() == 10 })
	time.Sleep(200 * time.Millisecond)
	if with := heard(n.leaf); !slices.Equal(with, alone) {
		t.Errorf("with 5 leaves a leaf hears of %d system subscriptions, alone of %d:\n%v\n%v", len(with), len(alone), with, alone)
	}
	for _, sub := range alone {
		if strings.HasPrefix(sub, "$SYS.REQ.SERVER.") && !strings.HasPrefix(sub, "$SYS.REQ.SERVER.PING") {
			t.Errorf("a leaf hears of another server's own subject %s", sub)
		}
	}
}

// TestClientsSurviveAReload: pointing a leaf at other hubs reloads its
// configuration, accounts and users included; the global account's
// clients (a peer's own connection among them) stay connected.
func TestClientsSurviveAReload(t *testing.T) {
	for _, secret := range []string{"", "reload-s3cret"} {
		t.Run("secret="+strconv.FormatBool(secret != ""), func(t *testing.T) {
			t.Parallel()
			n := startSysNet(t, secret)
			var opts []nats.Option
			if secret != "" {
				opts = append(opts, nats.Token(secret))
			}
			dropped := make(chan error, 4)
			opts = append(opts, nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { dropped <- err }))
			nc, err := n.connect(t, n.leaf, opts...)
			must(t, err)
			defer nc.Close()
			in, err := nats.Connect("", append(opts[:len(opts)-1:len(opts)-1], nats.InProcessServer(n.leaf),
				nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { dropped <- err }))...)
			must(t, err)
			defer in.Close()
			other, err := embedded.Start(context.Background(), embedded.Config{Host: n.host, PortStart: n.hub.Port() + 1, PortRange: 5,
				Secret: secret, Hub: true})
			must(t, err)
			defer other.Close()
			must(t, other.AddRoutes(n.hub.ClusterURL()))
			must(t, n.leaf.SetHubs([]string{n.hub.LeafURL(), other.LeafURL()}))
			must(t, n.leaf.SetHubs([]string{other.LeafURL()}))
			waitFor(t, func() bool { return other.NATS().NumLeafNodes() == 2 })
			must(t, nc.Flush())
			must(t, in.Flush())
			select {
			case err := <-dropped:
				t.Errorf("a client of the global account was disconnected by the reload: %v", err)
			case <-time.After(300 * time.Millisecond):
			}
		})
	}
}

// Without SystemLeaf a leaf holds one leaf node connection (the
// application's account) and has no system account: the system user is
// refused there, plainly, rather than shown a network of one.
func TestALeafJoinsTheSystemAccountOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	hub, leaf := hubAndLeaf(t, "plain")
	must(t, leaf.SetHubs([]string{hub.LeafURL()}))
	waitFor(t, func() bool { _, conn := leaf.Attachment(); return conn != 0 })
	v, err := leaf.NATS().Varz(nil)
	must(t, err)
	if v.Leafs != 1 {
		t.Fatalf("a leaf without SystemLeaf holds %d leaf node connections, want 1", v.Leafs)
	}
	if leaf.NATS().SystemAccount() != nil {
		t.Error("a leaf without SystemLeaf has a system account")
	}
	nc, err := nats.Connect(leaf.ClientURL(), nats.UserInfo(embedded.SystemUser, embedded.OpenSystemPassword))
	if err == nil {
		nc.Close()
		t.Fatal("a leaf without a system account let the system user in")
	}
	if !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("the system user on a leaf without a system account: %v, want an authorization error", err)
	}
	plain, err := nats.Connect(leaf.ClientURL())
	must(t, err)
	plain.Close()
}
