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

// A peer's requests and gathers take their replies on its own subject,
// net.peer.<ID>.r.<nonce>.<n>, through the one subscription that takes
// its calls (net.peer.<ID>.>), not through reply inboxes of their own
// (nats.go's request mux, _INBOX.<nonce>.*, and the gatherer's). Every
// subscription of a peer whose subject no other peer shares is one that
// every server of the network learns of and keeps, and that a hub passes
// anew to each of its leaves whenever the peer attaches or goes: at 200
// peers, after a hub kill, leaves spent a sixth of their CPU taking other
// leaves' subscriptions out and putting them back. The nonce, new at
// every start, keeps a reply to a peer that ran before under the same ID
// from being taken for one to this peer's request.

// replyToken is the token after the peer's own prefix that marks a
// reply: net.peer.<ID>.r.
const replyToken = "r."

// replies matches the replies that reach a peer's own subject to the
// requests and gathers waiting for them.
type replies struct {
	prefix string // net.peer.<ID>.r.<nonce>.
	next   atomic.Uint64

	mu      sync.Mutex
	waiting map[string]func(*nats.Msg) // by token; each takes a reply without blocking
}

// newReplies returns the replies of the peer id.
func newReplies(id ID) *replies {
	return &replies{
		prefix:  OwnPrefix(id) + replyToken + nuid.Next() + ".",
		waiting: map[string]func(*nats.Msg){},
	}
}

// request publishes msg with a reply subject of the peer's own and returns
// the reply: nats.ErrNoResponders when nobody subscribes to its subject,
// ctx's error when ctx ends first, nats.ErrTimeout when timeout (if not 0)
// passes first. It sets msg.Reply.
func (r *replies) request(ctx context.Context, nc *nats.Conn, msg *nats.Msg, timeout time.Duration) (*nats.Msg, error) {
	answer := make(chan *nats.Msg, 1)
	done, err := r.publish(nc, msg, func(m *nats.Msg) {
		select {
		case answer <- m:
		default: // it has its reply
		}
	})
	defer done()
	if err != nil {
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

// gather publishes msg with a reply subject of the peer's own and calls
// each with every reply, until each returns false or ctx ends (its error
// is returned then). Replies wait for each in a queue of their own, so
// that a slow each never holds up the subscription that takes the peer's
// calls; beyond maxGathered waiting, more are dropped.
func (r *replies) gather(ctx context.Context, nc *nats.Conn, msg *nats.Msg, each func(*nats.Msg) (more bool)) error {
	var q gathered
	q.more = make(chan struct{}, 1)
	done, err := r.publish(nc, msg, q.push)
	defer done()
	if err != nil {
		return err
	}
	for {
		for _, m := range q.take() {
			if !each(m) {
				return nil
			}
		}
		select {
		case <-q.more:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// maxGathered bounds the replies waiting for a gather's each.
const maxGathered = 1 << 16

// gathered is the queue of a gather's replies.
type gathered struct {
	mu   sync.Mutex
	msgs []*nats.Msg
	more chan struct{} // signalled when msgs grew
}

func (q *gathered) push(m *nats.Msg) {
	q.mu.Lock()
	if len(q.msgs) < maxGathered {
		q.msgs = append(q.msgs, m)
	}
	q.mu.Unlock()
	select {
	case q.more <- struct{}{}:
	default:
	}
}

func (q *gathered) take() []*nats.Msg {
	q.mu.Lock()
	defer q.mu.Unlock()
	msgs := q.msgs
	q.msgs = nil
	return msgs
}

// publish publishes msg with a reply subject of the peer's own, under a
// new token that take receives the replies to, until done.
func (r *replies) publish(nc *nats.Conn, msg *nats.Msg, take func(*nats.Msg)) (done func(), err error) {
	token := strconv.FormatUint(r.next.Add(1), 36)
	r.mu.Lock()
	r.waiting[token] = take
	r.mu.Unlock()
	done = func() {
		r.mu.Lock()
		delete(r.waiting, token)
		r.mu.Unlock()
	}
	msg.Reply = r.prefix + token
	return done, nc.PublishMsg(msg)
}

// deliver hands a reply to the request or gather it answers, and reports
// whether it is a reply to this run of the peer at all. It never blocks:
// replies to a request or gather that ended are dropped.
func (r *replies) deliver(m *nats.Msg) bool {
	token, ok := strings.CutPrefix(m.Subject, r.prefix)
	if !ok {
		return false
	}
	r.mu.Lock()
	take := r.waiting[token]
	r.mu.Unlock()
	if take != nil {
		take(m)
	}
	return true
}
