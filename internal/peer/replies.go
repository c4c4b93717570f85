package peer

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"
)

// A peer's requests take their replies on its own subject,
// net.peer.<ID>.r.<nonce>.<n>, through the one subscription that takes its
// calls (net.peer.<ID>.>), not through a reply inbox of their own
// (nats.go's request mux, _INBOX.<nonce>.*). Every subscription of a peer
// whose subject no other peer shares is one that every server of the
// network learns of and keeps, and that a hub passes anew to each of its
// leaves whenever the peer attaches or goes: at 200 peers, after a hub
// kill, leaves spent a sixth of their CPU taking other leaves'
// subscriptions out and putting them back. The nonce, new at every start,
// keeps a reply to a peer that ran before under the same ID from being
// taken for one to this peer's request.

// replyToken is the token after the peer's own prefix that marks a
// reply: net.peer.<ID>.r.
const replyToken = "r."

// replies matches the replies that reach a peer's own subject to the
// requests waiting for them.
type replies struct {
	prefix string // net.peer.<ID>.r.<nonce>.
	next   atomic.Uint64

	mu      sync.Mutex
	waiting map[string]chan *nats.Msg
}

// newReplies returns the replies of the peer id.
func newReplies(id ID) *replies {
	return &replies{
		prefix:  ownPrefix(id) + replyToken + nuid.Next() + ".",
		waiting: map[string]chan *nats.Msg{},
	}
}

// ownPrefix is the prefix of every subject of the peer id: its calls and
// the replies to its requests.
func ownPrefix(id ID) string { return SubjectRoot + ".peer." + string(id) + "." }

// request publishes msg with a reply subject of the peer's own and returns
// the reply: nats.ErrNoResponders when nobody subscribes to its subject,
// ctx's error when ctx ends first, nats.ErrTimeout when timeout (if not 0)
// passes first. It sets msg.Reply.
func (r *replies) request(ctx context.Context, nc *nats.Conn, msg *nats.Msg, timeout time.Duration) (*nats.Msg, error) {
	token := strconv.FormatUint(r.next.Add(1), 36)
	answer := make(chan *nats.Msg, 1)
	r.mu.Lock()
	r.waiting[token] = answer
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.waiting, token)
		r.mu.Unlock()
	}()
	msg.Reply = r.prefix + token
	if err := nc.PublishMsg(msg); err != nil {
		return nil, err
	}
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	select {
	case m := <-answer:
		if NoResponders(m) {
			return nil, nats.ErrNoResponders
		}
		return m, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-expired:
		return nil, nats.ErrTimeout
	}
}

// deliver hands a reply to the request it answers, and reports whether
// subject is a reply to this peer at all. It never blocks: a request
// takes the first reply, and later ones, or replies to a request that
// ended, are dropped.
func (r *replies) deliver(m *nats.Msg) bool {
	token, ok := strings.CutPrefix(m.Subject, r.prefix)
	if !ok {
		return false
	}
	r.mu.Lock()
	answer := r.waiting[token]
	r.mu.Unlock()
	if answer != nil {
		select {
		case answer <- m:
		default:
		}
	}
	return true
}
