// Package certs makes throwaway TLS material for trying appnet's TLS (the
// appnet certs command) and for tests: a CA, and one peer certificate it
// signs that serves and dials for every given host. Nothing here is meant
// for production keys.
package certs
