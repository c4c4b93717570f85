// Package examples holds runnable programs that mirror the Python
// original's examples, one folder each. Every program is configured by the
// NET_* environment; run them on loopback, for example:
//
//	export NET_HOST=127.0.0.1
//	go run ./examples/simple_connection/peer1 &
//	go run ./examples/simple_connection/peer2
package examples
