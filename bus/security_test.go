package bus_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/appnet-go/appnet/bus"
	"github.com/appnet-go/appnet/internal/certs"
	"github.com/appnet-go/appnet/internal/lower"
	"github.com/appnet-go/appnet/internal/peer"
	"github.com/appnet-go/appnet/internal/testnet"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

func TestSecretGuardsClientsRoutesAndDiscovery(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-do-not-print"
	host, port := testnet.Host(t), testnet.Ports(t)
	logs := &testnet.LogBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	start := func(opts ...bus.Option) *bus.Peer {
		cfg := bus.DefaultLocalConfig()
		cfg.Host, cfg.PortStart, cfg.Dev, cfg.Logger = host, port, true, log
		bus.WithRegistry(bus.DefaultRegistry())(&cfg)
		p, err := bus.Start(context.Background(), cfg, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	a := start(bus.WithSecret(secret))
	b := start(bus.WithSecret(secret))
	ctx := context.Background()
	if _, err := lower.Peer(a).Call(ctx, b.ID(), "info", nil); err != nil {
		t.Fatalf("peers sharing the secret: %v", err)
	}

	// A peer without the secret (or with another) neither lists nor reaches them.
	for _, opts := range [][]bus.Option{nil, {bus.WithSecret("wrong")}} {
		stranger := start(opts...)
		found, err := stranger.Peers(ctx, bus.OnHost(), bus.AllGroups(), bus.Refresh())
		_, seesA := found.Peers[a.ID()]
		_, seesB := found.Peers[b.ID()]
		if err != nil || seesA || seesB {
			t.Errorf("a stranger lists %v (%v)", found.IDs(), err)
		}
		c, cancel := context.WithTimeout(ctx, time.Second)
		_, err = lower.Peer(stranger).Call(c, a.ID(), "info", nil)
		cancel()
		if !errors.Is(err, bus.ErrUnreachable) {
			t.Errorf("a stranger's call: %v, want ErrUnreachable", err)
		}
		// Not even a route forced by hand gets in.
		if err := lower.Peer(stranger).Server().AddRoutes(a.Info().Cluster); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Count(logs.String(), "does not share this peer's credentials"); got < 2 {
		t.Errorf("discovery said %d times why it lists no one, want once per peer per stranger:\n%s", got, logs.String())
	}
	// The forced routes are refused: for as long as they keep retrying
	// (every second), a's cluster never holds anyone but b.
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		for _, name := range lower.Peer(a).Server().RemoteNames() {
			if name != string(b.ID()) {
				t.Fatalf("a stranger joined a's cluster: %s", name)
			}
		}
	}

	// Plain NATS clients: they verify the server against the CA the
	// secret derives, then present the token. Refused without the token,
	// served with it.
	caPEM, err := a.Config().SecretCA()
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if nc, err := nats.Connect(lower.Peer(a).Server().ClientURL(), nats.Timeout(time.Second), nats.RootCAs(caFile)); err == nil {
		nc.Close()
		t.Error("a client without the secret was let in")
	} else if !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("refusal: %v, want an authorization error", err)
	}
	if nc, err := nats.Connect(lower.Peer(a).Server().ClientURL(), nats.Token(secret), nats.Timeout(time.Second)); err == nil {
		nc.Close()
		t.Error("a client that did not verify the server was let in")
	}
	nc, err := nats.Connect(lower.Peer(a).Server().ClientURL(), nats.Token(secret), nats.RootCAs(caFile), nats.Timeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Request(peer.CallSubject(b.ID(), "info"), nil, time.Second); err != nil {
		t.Errorf("a client with the secret: %v", err)
	}
	if _, err := bus.NewEvent[int]("x", nil).Via(a).Subscribe(func(context.Context, bus.Delivery[int]) {}); err != nil {
		t.Error(err)
	}

	// The secret shows nowhere: info, micro metadata, config, errors, logs.
	msg, err := nc.Request("$SRV.INFO", nil, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var svc micro.Info
	_ = json.Unmarshal(msg.Data, &svc)
	info, _ := json.Marshal(a.Info())
	cfgText, _ := json.Marshal(a.Config())
	for what, text := range map[string]string{
		"info": string(info), "micro info": string(msg.Data), "config JSON": string(cfgText),
		"config %v": fmtV(a.Config()), "logs": logs.String(),
	} {
		if strings.Contains(text, secret) {
			t.Errorf("the secret leaks through %s", what)
		}
	}
	if len(svc.Metadata) == 0 {
		t.Error("micro metadata missing")
	}
}

func TestTLSMeshRefusesPlainText(t *testing.T) {
	t.Parallel()
	cidr, hosts := testnet.Subnet(t, 3)
	port := testnet.Ports(t)
	files, err := certs.Write(t.TempDir(), hosts, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var ps []*bus.Peer
	for _, h := range hosts {
		cfg := bus.DefaultLocalConfig()
		cfg.Host, cfg.PortStart, cfg.Scan = h, port, cidr
		bus.WithRegistry(bus.DefaultRegistry())(&cfg)
		p, err := bus.Start(context.Background(), cfg, bus.WithTLS(files.Cert, files.Key, files.CA))
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		ps = append(ps, p)
	}
	// The network forms over TLS: b and c found a and attached to it.
	for _, from := range ps {
		for _, to := range ps {
			if from != to {
				waitCall(t, from, to.ID())
			}
		}
	}
	// A plain-text client is refused; so is a TLS client without a certificate.
	if nc, err := nats.Connect(lower.Peer(ps[0]).Server().ClientURL(), nats.Timeout(time.Second)); err == nil {
		nc.Close()
		t.Error("a plain-text client was let in")
	}
	if nc, err := nats.Connect(lower.Peer(ps[0]).Server().ClientURL(), nats.Timeout(time.Second), nats.RootCAs(files.CA)); err == nil {
		nc.Close()
		t.Error("a client without a certificate was let in")
	}
	nc, err := nats.Connect(lower.Peer(ps[0]).Server().ClientURL(), nats.Timeout(time.Second), nats.RootCAs(files.CA), nats.ClientCert(files.Cert, files.Key))
	if err != nil {
		t.Fatalf("a client with the peer certificate: %v", err)
	}
	nc.Close()
	// Discovery over TLS: the cluster answers, every peer is listed.
	found, err := ps[0].Peers(context.Background(), bus.Refresh())
	if err != nil || len(found.Peers) != 2 {
		t.Errorf("peers of a over TLS: %v, %v", found.IDs(), err)
	}
	// Bad TLS settings fail at start and name the variable.
	_, err = bus.Start(context.Background(), bus.DefaultLocalConfig(), bus.WithHost(hosts[0]), bus.WithTLS(files.Cert, "", files.CA))
	if !errors.Is(err, bus.ErrConfig) || !strings.Contains(err.Error(), "NET_TLS_KEY") {
		t.Errorf("half a TLS setup: %v", err)
	}
}

func waitCall(t *testing.T, from *bus.Peer, to bus.ID) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		// Through the cluster, not over a direct connection.
		_, err := from.Conn().Request(peer.CallSubject(to, "info"), nil, time.Second)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s cannot call %s: %v", from.ID(), to, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// NET_TLS_* take precedence over the CA a secret derives: the peer serves
// the files' certificate, and the secret is the token inside that TLS.
func TestTLSFilesTakePrecedenceOverTheSecret(t *testing.T) {
	t.Parallel()
	const secret = "precedence-s3cret"
	host, port := testnet.Host(t), testnet.Ports(t)
	files, err := certs.Write(t.TempDir(), []string{host}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cfg := bus.DefaultLocalConfig()
	cfg.Host, cfg.PortStart = host, port
	bus.WithRegistry(bus.DefaultRegistry())(&cfg)
	p, err := bus.Start(context.Background(), cfg, bus.WithSecret(secret), bus.WithTLS(files.Cert, files.Key, files.CA))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	caPEM, err := p.Config().SecretCA()
	if err != nil {
		t.Fatal(err)
	}
	derived := filepath.Join(t.TempDir(), "derived.pem")
	if err := os.WriteFile(derived, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	url := lower.Peer(p).Server().ClientURL()
	if nc, err := nats.Connect(url, nats.Token(secret), nats.RootCAs(derived), nats.ClientCert(files.Cert, files.Key), nats.Timeout(time.Second)); err == nil {
		nc.Close()
		t.Error("the server presented a certificate of the secret's CA despite NET_TLS_*")
	}
	if nc, err := nats.Connect(url, nats.RootCAs(files.CA), nats.ClientCert(files.Cert, files.Key), nats.Timeout(time.Second)); err == nil {
		nc.Close()
		t.Error("a client with the certificate but without the secret was let in")
	}
	nc, err := nats.Connect(url, nats.Token(secret), nats.RootCAs(files.CA), nats.ClientCert(files.Cert, files.Key), nats.Timeout(time.Second))
	if err != nil {
		t.Fatalf("the files' TLS and the secret: %v", err)
	}
	nc.Close()
}
