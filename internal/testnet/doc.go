// Package testnet gives every test a loopback address and port range of its
// own, so tests run in parallel packages without colliding, and refuses any
// target outside 127.0.0.0/8, so no test can reach a real network.
package testnet
