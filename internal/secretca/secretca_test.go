package secretca_test

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/secretca"
)

// pinnedCA is the SHA-256 of the PEM CA of "one secret".
const pinnedCA = "593286e14393cf0c4b7b634791f55bf25dcee8dd01f6886d10aa94c1472d54ce"

func TestSameSecretSameCA(t *testing.T) {
	a, err := secretca.Derive("one secret")
	if err != nil {
		t.Fatal(err)
	}
	b, err := secretca.Derive("another secret")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.PEM(), b.PEM()) {
		t.Fatal("two secrets gave the same CA")
	}
	// The CA's bytes are fixed by the secret alone: this is what every
	// peer, and every version, must rebuild.
	sum := sha256.Sum256(a.PEM())
	if got := hex.EncodeToString(sum[:]); got != pinnedCA {
		t.Errorf("the CA of %q changed: sha256 %s, want %s; peers of two versions would not trust each other", "one secret", got, pinnedCA)
	}
	cert, err := a.Issue("127.0.0.1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	opts := x509.VerifyOptions{Roots: a.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	if _, err := cert.Leaf.Verify(opts); err != nil {
		t.Errorf("a certificate does not verify against its own CA: %v", err)
	}
	opts.Roots = b.Pool()
	if _, err := cert.Leaf.Verify(opts); err == nil {
		t.Error("a certificate verifies against another secret's CA")
	}
	if err := cert.Leaf.VerifyHostname("127.0.0.1"); err != nil {
		t.Error(err)
	}
	if _, err := secretca.Derive(""); err == nil {
		t.Error("an empty secret derived a CA")
	}
}

// A password is fixed by the secret and the purpose, differs for another
// of either, and does not contain the secret.
func TestPassword(t *testing.T) {
	a, err := secretca.Derive("one secret")
	if err != nil {
		t.Fatal(err)
	}
	b, err := secretca.Derive("another secret")
	if err != nil {
		t.Fatal(err)
	}
	p := a.Password("purpose")
	if len(p) != 43 || p != a.Password("purpose") {
		t.Fatalf("Password = %q, want 43 characters, the same every time", p)
	}
	if p == a.Password("another purpose") || p == b.Password("purpose") {
		t.Error("another purpose or another secret gave the same password")
	}
	if bytes.Contains([]byte(p), []byte("one secret")) {
		t.Error("the password contains the secret")
	}
}
