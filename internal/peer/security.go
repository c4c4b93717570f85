package peer

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/appnet-go/appnet/internal/embedded"
	"github.com/appnet-go/appnet/internal/secretca"
	"github.com/nats-io/nats.go"
)

// Redacted is a string that never shows itself: printed, logged or
// encoded as JSON it reads "[redacted]". The shared secret is one.
type Redacted string

const redacted = "[redacted]"

func (Redacted) String() string               { return redacted }
func (Redacted) GoString() string             { return redacted }
func (Redacted) LogValue() slog.Value         { return slog.StringValue(redacted) }
func (Redacted) MarshalJSON() ([]byte, error) { return json.Marshal(redacted) }
func (Redacted) Format(f fmt.State, _ rune)   { fmt.Fprint(f, redacted) }
func (r Redacted) reveal() string             { return string(r) }

// WithSecret sets the shared secret every client and route must present.
func WithSecret(secret string) Option { return func(c *Config) { c.Secret = Redacted(secret) } }

// WithTLS sets the PEM files of the peer's certificate, its key and the CA
// that signs every peer's certificate.
func WithTLS(cert, key, ca string) Option {
	return func(c *Config) { c.TLSCert, c.TLSKey, c.TLSCA = cert, key, ca }
}

// TLSConfig loads the TLS files of the configuration: nil when none is
// set, an error naming the variable when only some are, or a file does not
// load. The result serves and dials with the peer's certificate and
// verifies the other side's against the CA, both ways.
func (c Config) TLSConfig() (*tls.Config, error) {
	if c.TLSCert == "" && c.TLSKey == "" && c.TLSCA == "" {
		return nil, nil
	}
	for _, v := range []struct{ name, value string }{{"NET_TLS_CERT", c.TLSCert}, {"NET_TLS_KEY", c.TLSKey}, {"NET_TLS_CA", c.TLSCA}} {
		if v.value == "" {
			return nil, fmt.Errorf("%w: %s is empty: TLS needs NET_TLS_CERT, NET_TLS_KEY and NET_TLS_CA together", ErrConfig, v.name)
		}
	}
	cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("%w: NET_TLS_CERT=%q, NET_TLS_KEY=%q: %v", ErrConfig, c.TLSCert, c.TLSKey, err)
	}
	pem, err := os.ReadFile(c.TLSCA)
	if err != nil {
		return nil, fmt.Errorf("%w: NET_TLS_CA=%q: %v", ErrConfig, c.TLSCA, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%w: NET_TLS_CA=%q: no PEM certificate in it", ErrConfig, c.TLSCA)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	}, nil
}

// meshTLS is the TLS of a peer's own server and of its clients of other
// peers' servers, for a peer that runs a server on host.
type meshTLS struct {
	server, client *tls.Config
	// verifyClients: clients present a certificate (NET_TLS_*); else the
	// secret, sent inside TLS once the server proved itself, suffices.
	verifyClients bool
}

// certLife is how long a certificate issued from the secret's CA is good
// for: longer than any peer runs, since nothing renews it.
const certLife = 10 * 365 * 24 * time.Hour

// meshTLS returns the TLS of a peer of this configuration on host (empty:
// of a client only, which needs no certificate of its own): the
// files of NET_TLS_* if set; else, with a secret, TLS from the CA the
// secret derives (the server's certificate is issued for host at each
// start); else none. With the secret's CA, no side sends anything that
// matters before the other proved it knows the secret: a client sends its
// token only to a server whose certificate the CA signed, and routes
// verify certificates both ways.
func (c Config) meshTLS(host string) (meshTLS, error) {
	files, err := c.TLSConfig()
	if err != nil || files != nil {
		return meshTLS{server: files, client: files, verifyClients: files != nil}, err
	}
	if c.Secret == "" {
		return meshTLS{}, nil
	}
	ca, err := secretca.Derive(c.Secret.reveal())
	if err != nil {
		return meshTLS{}, fmt.Errorf("%w: NET_SECRET: %v", ErrConfig, err)
	}
	client := &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS13}
	if host == "" {
		return meshTLS{client: client}, nil // a client only
	}
	cert, err := ca.Issue(host, certLife)
	if err != nil {
		return meshTLS{}, fmt.Errorf("%w: NET_HOST=%q: %v", ErrConfig, host, err)
	}
	return meshTLS{
		server: &tls.Config{
			Certificates: []tls.Certificate{cert},
			RootCAs:      ca.Pool(),
			ClientCAs:    ca.Pool(),
			ClientAuth:   tls.RequireAndVerifyClientCert, // routes; the client port asks for none
			MinVersion:   tls.VersionTLS13,
		},
		client: client,
	}, nil
}

// SecretCA returns the PEM certificate of the CA that the secret derives:
// what a NATS client needs, besides the secret as its token, to verify a
// peer's server (nats --tlsca) on a mesh that has a secret and no
// NET_TLS_*. It is public: it proves nothing and reveals no secret.
func (c Config) SecretCA() ([]byte, error) {
	if c.Secret == "" {
		return nil, fmt.Errorf("%w: NET_SECRET is empty: no CA to derive", ErrConfig)
	}
	ca, err := secretca.Derive(c.Secret.reveal())
	if err != nil {
		return nil, fmt.Errorf("%w: NET_SECRET: %v", ErrConfig, err)
	}
	return ca.PEM(), nil
}

// SystemPassword returns the password of the user sys
// ([embedded.SystemUser]), which opens the system account of every
// peer's server: what NATS's own monitoring (nats server list, nats server
// report connections) asks. With a secret it is derived from it (only its
// holders, and those they give the password to, know it; it does not
// reveal the secret), and used inside the TLS of the secret's CA, as the
// token is; without one it is the fixed [embedded.OpenSystemPassword], as
// anyone who can connect may call any peer. A client of a deployment
// (NET_NATS_URL) has no use for it: the deployment's system account is
// its own.
func (c Config) SystemPassword() (string, error) {
	p, err := embedded.SystemPassword(c.Secret.reveal())
	if err != nil {
		return "", fmt.Errorf("%w: NET_SECRET: %v", ErrConfig, err)
	}
	return p, nil
}

// ClientOptions returns the nats.go options a client needs to talk to
// peers of this configuration: the secret as token, and TLS: the files of
// NET_TLS_*, or, with a secret alone, the verification of each server
// against the secret's CA before the token is sent. For a client of a
// NATS deployment (NET_NATS_URL), the secret, NET_TLS_* and the
// credentials file are what the deployment asks for.
func (c Config) ClientOptions() ([]nats.Option, error) {
	if c.External() {
		t, err := c.TLSConfig()
		if err != nil {
			return nil, err
		}
		opts := clientOptions(c.Secret, t)
		if c.NATSCreds != "" {
			opts = append(opts, nats.UserCredentials(c.NATSCreds))
		}
		return opts, nil
	}
	m, err := c.meshTLS("")
	if err != nil {
		return nil, err
	}
	return clientOptions(c.Secret, m.client), nil
}

func clientOptions(secret Redacted, t *tls.Config) []nats.Option {
	var opts []nats.Option
	if secret != "" {
		opts = append(opts, nats.Token(secret.reveal()))
	}
	if t != nil {
		opts = append(opts, nats.Secure(t))
	}
	return opts
}

// ClientOptions returns the nats.go options (the secret, TLS) a client
// needs to talk to peers of this peer's configuration, loaded once at
// start.
func (p *Peer) ClientOptions() []nats.Option { return p.clientOpts }

// warnExposed logs, once at start, that a peer reachable from other
// machines lets anyone call it.
func (p *Peer) warnExposed() {
	if ip := net.ParseIP(p.cfg.Host); (ip != nil && ip.IsLoopback()) || p.cfg.External() {
		return // a client of a deployment serves nothing itself: the deployment's security applies
	}
	if p.cfg.Secret != "" {
		return
	}
	p.log.Warn("appnet: no NET_SECRET: anyone who can reach " + p.cfg.Host + " can call this peer's connections and join its cluster; set NET_SECRET (and NET_TLS_*) on a shared network")
}

// Impostors describes what this peer's server can see of others claiming
// the peer's identity: a routed server with the peer's ID as its name (or
// two routed servers sharing any peer's name), and any connection, local
// or behind a route, that subscribes to the peer's own call subjects, so
// that calls to the peer could reach it. Nothing but the peer itself
// should; a wildcard subscriber (a monitor's "net.>") is not counted. A
// client of a deployment has no view of the cluster: it gets none.
func (p *Peer) Impostors() []string {
	if p.srv == nil {
		return nil
	}
	var out []string
	for _, name := range p.srv.DuplicateNames() {
		what := "two routed servers are both named"
		if name == string(p.id) {
			what = "a routed server is named after this peer's ID"
		}
		out = append(out, what+" "+describe(ID(name)))
	}
	self, err := p.nc.GetClientID()
	if err != nil {
		return out
	}
	return append(out, p.srv.Subscribers(callPrefix(p.id), self)...)
}
