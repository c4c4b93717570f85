package testnet

import (
	"net"
	"sync"
	"testing"
)

// Accept accepts connections on l until the test ends and hands each to
// handle, with keep: a connection kept stays open until the test's
// cleanup closes it, with l. handle runs on the accepting goroutine.
func Accept(t testing.TB, l net.Listener, handle func(c net.Conn, keep func(net.Conn))) {
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	keep := func(c net.Conn) {
		mu.Lock()
		defer mu.Unlock()
		conns = append(conns, c)
	}
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			handle(c, keep)
		}
	}()
}
