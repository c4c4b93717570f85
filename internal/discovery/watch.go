package discovery

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
)

// watchBacklog is how many changes a watcher may leave unread before it
// is given a Resync instead of the changes it missed.
const watchBacklog = 1024

// watcher is one Watch: a backlog of changes, delivered in order by a
// goroutine of its own, so that a slow reader never holds up the view.
type watcher struct {
	q    query
	out  chan Change
	mu   sync.Mutex
	wake chan struct{} // one token: changes or a resync are waiting
	// queue holds the changes not yet delivered; lost says that some
	// were dropped, so the next delivery is a Resync.
	queue []Change
	lost  bool
}

// push queues a change, or marks the watcher for a resync when it is too
// far behind. The view's lock is held: it never blocks.
func (w *watcher) push(c Change) {
	w.mu.Lock()
	if len(w.queue) >= watchBacklog {
		w.queue, w.lost = nil, true
	} else if !w.lost {
		w.queue = append(w.queue, c)
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Watch delivers the changes of this peer's membership view that match
// opts (the filters of [Discoverer.Peers]: its own group by default), in
// order for each peer, until ctx ends; then the channel closes. The first
// change is a Resync with the current view. A watcher that falls more than
// 1,024 changes behind gets a Resync with the view as it is then, instead
// of the changes it missed: it is never silently left wrong.
func (d *Discoverer) Watch(ctx context.Context, opts ...Option) (<-chan Change, error) {
	q := d.query(opts)
	if q.refresh {
		return nil, fmt.Errorf("watch: Refresh is not a filter: a watch follows the view as it changes")
	}
	w := &watcher{q: q, out: make(chan Change), wake: make(chan struct{}, 1), lost: true}
	d.view.mu.Lock()
	d.view.watchers[w] = struct{}{}
	d.view.mu.Unlock()
	w.wake <- struct{}{}
	go d.deliver(ctx, w)
	return w.out, nil
}

// deliver hands w's changes to its reader until ctx ends.
func (d *Discoverer) deliver(ctx context.Context, w *watcher) {
	defer func() {
		d.view.mu.Lock()
		delete(d.view.watchers, w)
		d.view.mu.Unlock()
		close(w.out)
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		}
		for {
			w.mu.Lock()
			var c Change
			switch {
			case w.lost:
				w.lost, w.queue = false, nil
				w.mu.Unlock()
				// Taken after clearing the backlog: changes from here on
				// queue behind this view.
				c = Change{Kind: Resync, Peers: d.filter(d.view.snapshot(), w.q)}
			case len(w.queue) > 0:
				c = w.queue[0]
				w.queue = w.queue[1:]
				w.mu.Unlock()
			default:
				w.mu.Unlock()
			}
			if c.Kind == 0 {
				break
			}
			select {
			case w.out <- c:
			case <-ctx.Done():
				return
			}
		}
	}
}

// String describes a query, for messages.
func (q query) String() string {
	s := "of group " + fmt.Sprint(q.groups)
	if q.allGroups {
		s = "of any group"
	}
	if q.hubsOnly {
		s += " that is a hub"
	}
	if q.onHost {
		s += " on this host"
	}
	if q.serving != "" {
		s += " serving " + q.serving
	}
	for _, k := range slices.Sorted(maps.Keys(q.values)) {
		s += fmt.Sprintf(" with %s=%s", k, q.values[k])
	}
	return s
}
