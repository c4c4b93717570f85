// Package examples holds runnable programs, one folder each: a shared
// contract (app) and the peers that import it. Every program is configured by the
// NET_* environment; run them on loopback, for example:
//
//	export NET_HOST=127.0.0.1
//	go run ./examples/simple_connection/peer1 &
//	go run ./examples/simple_connection/peer2
package examples
