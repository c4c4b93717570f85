package peer

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"

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

// ClientOptions returns the nats.go options a client needs to talk to
// peers of this configuration: the secret as token, TLS with the peer's
// certificate, and the NATS deployment's credentials file if any.
func (c Config) ClientOptions() ([]nats.Option, error) {
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
		if p.cfg.TLSCert == "" {
			p.log.Warn("appnet: NET_SECRET without NET_TLS_*: the secret travels in clear text, and discovery presents it to whatever answers as a peer on the scanned addresses; use TLS with it on a shared network")
		}
		return
	}
	p.log.Warn("appnet: no NET_SECRET: anyone who can reach " + p.cfg.Host + " can call this peer's connections and join its cluster; set NET_SECRET (and NET_TLS_*) on a shared network")
}
