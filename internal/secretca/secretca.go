package secretca

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"runtime/debug"
	"sync"
	"time"

	"golang.org/x/crypto/scrypt"
)

// salt binds the derivation to this use: the same secret used elsewhere
// gives another key. It is fixed, as every peer must derive the same key
// knowing the secret alone.
const salt = "appnet mesh CA v1"

// scrypt cost: about 16 MiB and a few tens of milliseconds per
// derivation, paid once per process and secret; an offline guess of the
// secret costs as much.
const (
	scryptN = 1 << 14
	scryptR = 8
	scryptP = 1
)

// CommonName is the subject of every derived CA; its key, not its name,
// tells one secret's CA from another's.
const CommonName = "appnet secret CA"

// CA is the certificate authority derived from one secret.
type CA struct {
	cert *x509.Certificate
	key  ed25519.PrivateKey
	pem  []byte
	pool *x509.CertPool
}

var cache sync.Map // secret -> *CA: derivation is deliberately slow

// Derive returns the CA of secret. The same secret gives the same
// certificate in every process and on every machine.
func Derive(secret string) (*CA, error) {
	if secret == "" {
		return nil, errors.New("secretca: empty secret")
	}
	if ca, ok := cache.Load(secret); ok {
		return ca.(*CA), nil
	}
	seed, err := scrypt.Key([]byte(secret), []byte(salt), scryptN, scryptR, scryptP, ed25519.SeedSize)
	// scrypt's 16 MiB are garbage now; without this they would stay in
	// the process's resident memory for minutes, doubling an idle peer's.
	debug.FreeOSMemory()
	if err != nil {
		return nil, fmt.Errorf("secretca: deriving the key: %w", err)
	}
	key := ed25519.NewKeyFromSeed(seed)
	pub := key.Public().(ed25519.PublicKey)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: CommonName},
		NotBefore:             time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), // no expiry (RFC 5280, 4.1.2.5)
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	// Ed25519 signatures are deterministic, so the certificate is too.
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, pub, key)
	if err != nil {
		return nil, fmt.Errorf("secretca: making the CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("secretca: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	ca := &CA{cert: cert, key: key, pool: pool, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	actual, _ := cache.LoadOrStore(secret, ca)
	return actual.(*CA), nil
}

// PEM returns the CA certificate, PEM-encoded: what a NATS client needs to
// verify a peer's server (nats --tlsca).
func (ca *CA) PEM() []byte { return ca.pem }

// Password returns a password for purpose that only holders of the
// secret can compute: the HMAC-SHA256 of purpose keyed with the CA's
// private key, base64url without padding (43 characters). It reveals
// neither the secret nor the CA's key, and a guess of the secret tested
// against it costs the scrypt of [Derive], as one tested against a
// certificate does.
func (ca *CA) Password(purpose string) string {
	mac := hmac.New(sha256.New, ca.key.Seed())
	mac.Write([]byte(purpose))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// Pool returns a pool holding the CA certificate alone.
func (ca *CA) Pool() *x509.CertPool { return ca.pool }

// Issue makes a certificate, with a fresh key, for host (an IP address
// becomes an IP SAN, anything else a DNS name), good for serving and for
// dialling (TLS server and client), valid from an hour ago for validFor.
func (ca *CA) Issue(host string, validFor time.Duration) (tls.Certificate, error) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: host},
		NotBefore:    now.Add(-time.Hour), // clocks of a LAN disagree a little
		NotAfter:     now.Add(validFor),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("secretca: issuing a certificate for %s: %w", host, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
