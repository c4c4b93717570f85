package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/appnet-go/appnet/internal/discovery"
	"github.com/appnet-go/appnet/internal/peer"
	"github.com/schollz/progressbar/v3"
)

// progressAfter is how long a scan runs before it gets a progress bar.
const progressAfter = 150 * time.Millisecond

// scanProgress shows a progress bar on a terminal once a scan runs longer
// than a moment: probes done of all, and peers found so far. It redraws on
// a ticker, so a bar appears even while every worker waits on a silent
// listener.
type scanProgress struct {
	mu   sync.Mutex
	last discovery.Progress
	stop chan struct{}
	done chan struct{}
}

func newScanProgress(w io.Writer) *scanProgress {
	s := &scanProgress{stop: make(chan struct{}), done: make(chan struct{})}
	f, ok := w.(*os.File)
	if !ok || !isTerminal(f) {
		close(s.done) // not a terminal: no bar
		return s
	}
	go s.draw(f)
	return s
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// update records how far the scan has got; the scanner calls it.
func (s *scanProgress) update(p discovery.Progress) {
	s.mu.Lock()
	s.last = p
	s.mu.Unlock()
}

// draw renders the bar from progressAfter on, until finish.
func (s *scanProgress) draw(w io.Writer) {
	defer close(s.done)
	select {
	case <-s.stop:
		return
	case <-time.After(progressAfter):
	}
	var bar *progressbar.ProgressBar
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		p := s.last
		s.mu.Unlock()
		if bar == nil && p.Total > 0 {
			bar = progressbar.NewOptions(p.Total, progressbar.OptionSetWriter(w),
				progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())
		}
		if bar != nil {
			bar.Describe(fmt.Sprintf("scanning, %d peers found", p.Hits))
			_ = bar.Set(p.Done)
		}
		select {
		case <-s.stop:
			if bar != nil {
				_ = bar.Finish()
			}
			return
		case <-tick.C:
		}
	}
}

// finish removes the bar.
func (s *scanProgress) finish() {
	close(s.stop)
	<-s.done
}

// printGraph prints the route mesh as Graphviz DOT: one node per peer, one
// edge per pair of peers with a route between them.
func printGraph(w io.Writer, infos []peer.Info) error {
	fmt.Fprintln(w, "graph appnet {")
	for _, info := range infos {
		shape := "ellipse"
		if info.Role == peer.RoleHub {
			shape = "box"
		}
		fmt.Fprintf(w, "  %q [label=%q, shape=%s];\n", info.ID, fmt.Sprintf("%s:%d\n%s%s\n%s", info.Host, info.Port, info.Group, hubMark(info.Hub), info.Role), shape)
	}
	// Routes join hubs (solid); leaf node connections join a leaf to its
	// hub (dashed). Each edge once, whichever end reported it.
	var edges []string
	add := func(a, b, style string) {
		if b < a {
			a, b = b, a
		}
		if e := fmt.Sprintf("  %q -- %q [style=%s];", a, b, style); !slices.Contains(edges, e) {
			edges = append(edges, e)
		}
	}
	for _, info := range infos {
		for _, to := range info.Routes {
			add(string(info.ID), to, "solid")
		}
		for _, to := range info.Leaves {
			add(string(info.ID), to, "dashed")
		}
	}
	slices.Sort(edges)
	for _, e := range edges {
		fmt.Fprintln(w, e)
	}
	_, err := fmt.Fprintln(w, "}")
	return err
}

func hubMark(hub bool) string {
	if hub {
		return " (hub)"
	}
	return ""
}
