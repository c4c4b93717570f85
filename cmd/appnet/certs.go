package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/appnet-go/appnet/internal/certs"
	"github.com/appnet-go/appnet/internal/peer"
)

// certsCmd writes a throwaway CA and peer certificate for trying TLS.
func certsCmd(_ context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommand("certs", stderr)
	hosts := c.fs.String("hosts", "", "comma-separated addresses and names the certificate is valid for (default: NET_HOST, 127.0.0.1, localhost)")
	days := c.fs.Int("days", 30, "days the certificates are valid")
	if err := c.parse(args, 1, 1); err != nil {
		return err
	}
	list := strings.Split(*hosts, ",")
	if *hosts == "" {
		cfg, err := peer.ConfigFromEnv()
		if err != nil {
			return err
		}
		list = []string{cfg.Host, "127.0.0.1", "localhost"}
	}
	f, err := certs.Write(c.arg(0), list, time.Duration(*days)*24*time.Hour)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "throwaway certificates for %s, valid %d days; every peer uses the same files:\n", strings.Join(list, ", "), *days)
	fmt.Fprintf(stdout, "export NET_TLS_CA=%s NET_TLS_CERT=%s NET_TLS_KEY=%s\n", f.CA, f.Cert, f.Key)
	return nil
}

// caCmd writes the CA certificate NET_SECRET derives, which NATS clients
// need to verify a peer's server before they send the secret as token.
func caCmd(_ context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommand("ca", stderr)
	if err := c.parse(args, 0, 1); err != nil {
		return err
	}
	cfg, err := peer.ConfigFromEnv()
	if err != nil {
		return err
	}
	pem, err := cfg.SecretCA()
	if err != nil {
		return err
	}
	if len(c.args) == 0 {
		_, err = stdout.Write(pem)
		return err
	}
	if err := os.WriteFile(c.arg(0), pem, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "the CA of NET_SECRET is in %s; use it with the secret:\nnats --tlsca %s --token \"$NET_SECRET\" ...\n", c.arg(0), c.arg(0))
	return nil
}

// sysPassCmd prints the password of the system user (sys), which opens
// the system account of every peer's server to the nats CLI's server
// commands: derived from NET_SECRET, or the fixed open one without.
func sysPassCmd(_ context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommand("syspass", stderr)
	if err := c.parse(args, 0, 0); err != nil {
		return err
	}
	cfg, err := peer.ConfigFromEnv()
	if err != nil {
		return err
	}
	pass, err := cfg.SystemPassword()
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, pass)
	return err
}
