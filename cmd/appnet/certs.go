package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/appnet-go/appnet/internal/certs"
	"github.com/appnet-go/appnet/peer"
)

// certsCmd writes a throwaway CA and peer certificate for trying TLS.
func certsCmd(_ context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("certs", flag.ContinueOnError)
	hosts := fs.String("hosts", "", "comma-separated addresses and names the certificate is valid for (default: NET_HOST, 127.0.0.1, localhost)")
	days := fs.Int("days", 30, "days the certificates are valid")
	if err := parse(fs, args, 1, 1); err != nil {
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
	f, err := certs.Write(fs.Arg(0), list, time.Duration(*days)*24*time.Hour)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "throwaway certificates for %s, valid %d days; every peer uses the same files:\n", strings.Join(list, ", "), *days)
	fmt.Fprintf(stdout, "export NET_TLS_CA=%s NET_TLS_CERT=%s NET_TLS_KEY=%s\n", f.CA, f.Cert, f.Key)
	return nil
}
