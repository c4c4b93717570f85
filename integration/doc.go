// Package integration holds the multi-process tests: they build the appnet
// CLI and the examples, run them as separate OS processes on loopback
// addresses of their own, and check what they print and return. The nats
// CLI tests build the real nats CLI from the tools module.
package integration
