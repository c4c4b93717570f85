package integration

import (
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/embedded"
)

// TestNATSCLIServerListSeesTheNetwork: the real nats CLI, connected to one
// leaf's server as the system user, lists every server of a network of
// two hubs and leaves (nats server list) and every server's connections
// (nats server report connections), with and without a secret; with one,
// neither the secret as token nor the open password, nor the secret as
// the system user's password, opens the system account, and without
// credentials the global account sees no server.
func TestNATSCLIServerListSeesTheNetwork(t *testing.T) {
	t.Parallel()
	for _, secret := range []string{"", "a long random secret for the system account test"} {
		t.Run("secret="+strconv.FormatBool(secret != ""), func(t *testing.T) {
			t.Parallel()
			const n = 8
			extra := []string{"NET_SYSTEM_ACCOUNT=true"} // leaves join the system account
			if secret != "" {
				extra = append(extra, "NET_SECRET="+secret)
			}
			hn := startHubNet(t, n, 3, true, extra...)
			const leaf = 5 // the CLI's server: a leaf
			hn.waitWhole(leaf, n-1, 20*time.Second)
			if info := hn.info(leaf); info.Hub {
				t.Fatalf("peer %d is a hub; want a leaf", leaf)
			}
			want := make([]string, n)
			for i, id := range hn.ids {
				want[i] = string(id)
			}
			slices.Sort(want)

			// The system user's password, as the README says to get it.
			out, errOut, err := run(t, 20*time.Second, "appnet", hn.env(leaf), "syspass")
			if err != nil {
				t.Fatalf("appnet syspass: %v\n%s%s", err, out, errOut)
			}
			pass := strings.TrimSpace(out)
			if secret == "" && pass != embedded.OpenSystemPassword || secret != "" && (pass == embedded.OpenSystemPassword || strings.Contains(pass, secret)) {
				t.Fatalf("appnet syspass printed %q", pass)
			}
			var tlsArgs []string
			if secret != "" {
				ca := filepath.Join(t.TempDir(), "ca.pem")
				if out, errOut, err := run(t, 20*time.Second, "appnet", hn.env(leaf), "ca", ca); err != nil {
					t.Fatalf("appnet ca: %v\n%s%s", err, out, errOut)
				}
				tlsArgs = []string{"--tlsca", ca}
			}
			nats := newNATSCLI(t, peerURL(t, string(hn.ids[leaf])))
			sys := append(slices.Clone(tlsArgs), "--user", embedded.SystemUser, "--password", pass)

			// nats server list: every server, hubs and leaves, answers.
			deadline := time.Now().Add(20 * time.Second)
			for {
				var list []struct {
					Server struct {
						Name    string `json:"name"`
						Cluster string `json:"cluster"`
					} `json:"server"`
				}
				nats.mustJSON(&list, append(slices.Clone(sys), "server", "list", strconv.Itoa(n), "--json")...)
				var got []string
				hubs := 0
				for _, s := range list {
					got = append(got, s.Server.Name)
					if s.Server.Cluster == embedded.DefaultClusterName {
						hubs++
					}
				}
				slices.Sort(got)
				if slices.Equal(got, want) && hubs == 2 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("nats server list through leaf %d: %v (%d in the hubs' cluster), want %v and 2", leaf, got, hubs, want)
				}
				time.Sleep(200 * time.Millisecond)
			}
			out = nats.must(append(slices.Clone(sys), "server", "list")...)
			t.Logf("nats server list through leaf %d:\n%s", leaf, out)
			if !strings.Contains(out, string(hn.ids[0])) || !strings.Contains(out, string(hn.ids[n-1])) {
				t.Errorf("nats server list (table) lacks a server:\n%s", out)
			}

			// nats server report connections: every server's connections
			// (each has its peer's own at least). A leaf knows only itself
			// (it takes no other server's periodic stats), so the CLI is told
			// how many servers to wait for.
			var conns []struct {
				Server struct {
					Name string `json:"name"`
				} `json:"server"`
				Account string `json:"account"`
			}
			nats.mustJSON(&conns, append(slices.Clone(sys), "server", "report", "connections", strconv.Itoa(n), "--json")...)
			var servers []string
			for _, c := range conns {
				if !slices.Contains(servers, c.Server.Name) {
					servers = append(servers, c.Server.Name)
				}
			}
			slices.Sort(servers)
			if !slices.Equal(servers, want) {
				t.Errorf("nats server report connections through leaf %d: connections of %v, want of %v", leaf, servers, want)
			}
			out = nats.must(append(slices.Clone(sys), "server", "report", "connections", strconv.Itoa(n))...)
			if !strings.Contains(out, "Connections per server") || !strings.Contains(out, string(hn.ids[1])) {
				t.Errorf("nats server report connections (table):\n%s", out)
			}

			// What does not open the system account.
			if secret == "" {
				// Without credentials: the global account, where every
				// appnet subject is and no server answers.
				out, errOut, err := nats.run(30*time.Second, "server", "list")
				if err == nil || !strings.Contains(out+errOut, "no results") {
					t.Errorf("nats server list without credentials: %v\n%s%s", err, out, errOut)
				}
				out, errOut, err = nats.run(30*time.Second, "--user", embedded.SystemUser, "--password", "wrong", "server", "list")
				if err == nil || !strings.Contains(out+errOut, "Authorization Violation") {
					t.Errorf("nats server list with a wrong password: %v\n%s%s", err, out, errOut)
				}
				return
			}
			for _, bad := range [][]string{
				{"--token", secret}, // the global account: no server answers
				{"--user", embedded.SystemUser, "--password", secret},
				{"--user", embedded.SystemUser, "--password", embedded.OpenSystemPassword},
				{"--user", embedded.SystemUser, "--password", ""},
				{"--user", "appnet-sys", "--password", pass}, // the leaves' own user is no client's
				{},
			} {
				args := append(append(slices.Clone(tlsArgs), bad...), "server", "list")
				out, errOut, err := nats.run(30*time.Second, args...)
				if err == nil || !strings.Contains(out+errOut, "no results") && !strings.Contains(out+errOut, "Authorization Violation") {
					t.Errorf("nats %v: %v\n%s%s", redactArgs(args, secret, pass), err, out, errOut)
				}
				if strings.Contains(out, string(hn.ids[0])) {
					t.Errorf("nats %v listed a server", redactArgs(args, secret, pass))
				}
			}
			// The secret is in no peer's output.
			for i, p := range hn.procs {
				if strings.Contains(p.output(), secret) || strings.Contains(p.output(), pass) {
					t.Errorf("peer %d printed the secret or the system password", i)
				}
			}
		})
	}
}

// redactArgs hides the secret and the password in a failure message.
func redactArgs(args []string, secrets ...string) []string {
	out := slices.Clone(args)
	for i, a := range out {
		if slices.Contains(secrets, a) {
			out[i] = "[redacted]"
		}
	}
	return out
}
