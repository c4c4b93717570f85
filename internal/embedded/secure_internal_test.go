package embedded

import (
	"crypto/tls"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/secretca"
	"github.com/appnet-go/appnet/internal/testnet"
	"github.com/nats-io/nats-server/v2/server"
)

// meshConfig is what a peer with secret on host gives Start: TLS from the
// secret's CA, the secret as token and password.
func meshConfig(t *testing.T, host, secret string) Config {
	t.Helper()
	ca, err := secretca.Derive(secret)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(host, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return Config{Secret: secret, TLS: &tls.Config{
		Certificates: []tls.Certificate{cert}, RootCAs: ca.Pool(), ClientCAs: ca.Pool(),
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS13,
	}}
}

// lines is a nats-server logger that keeps every line.
type lines struct {
	mu  sync.Mutex
	all []string
}

func (l *lines) add(f string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, fmt.Sprintf(f, v...))
}
func (l *lines) Noticef(f string, v ...any) { l.add(f, v...) }
func (l *lines) Warnf(f string, v ...any)   { l.add(f, v...) }
func (l *lines) Fatalf(f string, v ...any)  { l.add(f, v...) }
func (l *lines) Errorf(f string, v ...any)  { l.add(f, v...) }
func (l *lines) Debugf(f string, v ...any)  { l.add(f, v...) }
func (l *lines) Tracef(f string, v ...any)  {}
func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.all, "\n")
}

func runServer(t *testing.T, opts *server.Options, log server.Logger) *server.Server {
	t.Helper()
	opts.NoLog, opts.NoSigs, opts.NoSystemAccount = true, true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	if log != nil {
		ns.SetLoggerV2(log, true, false, false)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(5 * time.Second) {
		t.Fatal("server did not start")
	}
	return ns
}

// secure gives a leaf node listener and remotes what it gives routes: a
// leaf with the same secret connects, one with another secret does not
// get past TLS.
func TestSecureLeafNodes(t *testing.T) {
	t.Parallel()
	host, port := testnet.Host(t), testnet.Ports(t)
	hubLog := &lines{}
	hubOpts := &server.Options{Host: host, Port: port, LeafNode: server.LeafNodeOpts{Host: host, Port: port + 4}}
	meshConfig(t, host, "leaf-secret").secure(hubOpts)
	hub := runServer(t, hubOpts, hubLog)
	leafURL := func() *url.URL { return &url.URL{Scheme: "nats", Host: fmt.Sprintf("%s:%d", host, port+4)} }
	for i, secret := range []string{"other-secret", "leaf-secret"} {
		opts := &server.Options{Host: host, Port: port + 1 + i, LeafNode: server.LeafNodeOpts{
			Remotes:           []*server.RemoteLeafOpts{{URLs: []*url.URL{leafURL()}}},
			ReconnectInterval: 100 * time.Millisecond,
		}}
		meshConfig(t, host, secret).secure(opts)
		runServer(t, opts, nil)
	}
	deadline := time.Now().Add(10 * time.Second)
	for hub.NumLeafNodes() < 1 || !strings.Contains(hubLog.String(), "certificate") {
		if time.Now().After(deadline) {
			t.Fatalf("leaf nodes: %d, want 1 and a refused one; hub log:\n%s", hub.NumLeafNodes(), hubLog.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := hub.NumLeafNodes(); n != 1 {
		t.Errorf("%d leaf nodes, want only the one with the secret", n)
	}
	if strings.Contains(hubLog.String(), "leaf-secret") {
		t.Error("the secret is in the hub's log")
	}
}
