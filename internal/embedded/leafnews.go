package embedded

import (
	"strings"
	"sync"
)

// leafNews tells whoever waits that one of the server's leaf node
// connections was created or closed. nats-server has no callback for
// that, but says so in a notice ("Leafnode connection created",
// "Leafnode connection closed"), which the server's log adapter passes
// on. It is a hint to look at the connections again: a connection is
// created before its handshake, and a wording that changes in a later
// nats-server leaves only the waiter's own pace.
type leafNews struct {
	mu sync.Mutex
	ch chan struct{}
}

// wait returns a channel that is closed at the next news.
func (n *leafNews) wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

// tell wakes every waiter, if msg, a notice of the server, is news of a
// leaf node connection.
func (n *leafNews) tell(msg string) {
	if !strings.Contains(msg, "Leafnode connection ") {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
}

// LeafNews returns a channel that is closed the next time nats-server
// says that one of this server's leaf node connections was created or
// closed: for a leaf, a sign that [Server.Attachment] may change soon
// (a connection is created before its handshake, so not yet attached).
// It is a hint, not a record: look at Attachment again, and keep
// looking now and then without it.
func (s *Server) LeafNews() <-chan struct{} { return s.news.wait() }
