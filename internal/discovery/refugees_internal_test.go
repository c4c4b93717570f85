package discovery

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/peer"
)

// A hub whose leaves arrive from another hub by configuration reports
// that hub failed when its port refuses twice, and leaves alone one whose
// port accepts, or one not settled.
func TestAHubWhoseLeavesCameAndWhosePortRefusesIsFailed(t *testing.T) {
	t.Parallel()
	d := unjoinedLeaf(t)
	d.net.refugeesFrom = map[peer.ID]time.Time{}
	host := d.p.Config().Host
	listen := func() net.Listener {
		t.Helper()
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			t.Fatal(err)
		}
		return ln
	}
	hubAt := func(port int, fixed bool) peer.Info {
		return peer.Info{ID: peer.NewID(host, port, "None"), Role: peer.RoleHub,
			FriendlyID: peer.FriendlyID{Host: host, Port: port, Group: "None", Hub: fixed}}
	}
	closed := listen()
	gone := hubAt(closed.Addr().(*net.TCPAddr).Port, true)
	closed.Close()
	live := listen()
	defer live.Close()
	alive := hubAt(live.Addr().(*net.TCPAddr).Port, true)
	young := hubAt(gone.Port+1, false) // elected, and just learned: not settled
	leaf := func(id string, hub peer.Info) peer.Info {
		return peer.Info{ID: peer.ID(id), Role: peer.RoleLeaf, Leaves: []string{string(hub.ID)}}
	}
	for _, info := range []peer.Info{gone, alive, young, leaf("a", gone), leaf("b", alive), leaf("c", young)} {
		d.view.join(info)
	}

	// Which hubs the leaves came from are checked: the settled ones.
	d.checkRefugees(context.Background(), []string{"a", "b", "c"})
	for _, h := range []peer.Info{gone, alive} {
		if _, checked := d.net.refugeesFrom[h.ID]; !checked {
			t.Errorf("hub at port %d, settled, whose leaf came, was not checked", h.Port)
		}
	}
	if _, checked := d.net.refugeesFrom[young.ID]; checked {
		t.Error("a young elected hub whose leaf came was checked: a start's hubs restart")
	}
	// A port that accepts: the hub stays.
	d.reportIfRefused(context.Background(), alive)
	if _, known := d.view.get(alive.ID); !known {
		t.Error("a hub whose port accepts was reported failed")
	}
	// A port that refuses: the hub goes, by the check checkRefugees began.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, known := d.view.get(gone.ID); !known {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("a hub whose leaves came and whose port refuses is still in the view")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A leaf whose hub went is failed at once when its port refuses; kept
// past the patient probes while its own server answers for it (it is on
// its way to another hub); and failed after them when its port listens
// but nothing answers there (a process that froze).
func TestALeafWhoseHubWentIsKeptWhileItServes(t *testing.T) {
	t.Parallel()
	d := unjoinedLeaf(t)
	host := d.p.Config().Host
	leafAt := func(ln net.Listener) peer.Info {
		port := ln.Addr().(*net.TCPAddr).Port
		info := peer.Info{ID: peer.NewID(host, port, "None"), Role: peer.RoleLeaf,
			FriendlyID: peer.FriendlyID{Host: host, Port: port, Group: "None"}}
		d.view.join(info)
		return info
	}
	closed, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	gone := leafAt(closed)
	closed.Close()
	began := time.Now()
	if d.moverAlive(context.Background(), gone, func() {}) {
		t.Fatal("a leaf whose port refuses was taken for alive")
	}
	if took := time.Since(began); took > 3*time.Second {
		t.Errorf("a leaf whose port refuses took %s to be found gone, want about a second", took)
	}

	// Both at once: each takes the patient probes (5.5 s).
	mute, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	frozen := leafAt(mute)
	moving := unjoinedLeaf(t).p.Info() // serves, and is not on d's network
	d.view.join(moving)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	began = time.Now()
	frozenDone, movingDone := make(chan bool, 1), make(chan bool, 1)
	released := make(chan struct{})
	var once sync.Once
	go func() {
		frozenDone <- d.moverAlive(ctx, frozen, func() { t.Error("a leaf whose server never answers gave its slot back") })
	}()
	go func() { movingDone <- d.moverAlive(ctx, moving, func() { once.Do(func() { close(released) }) }) }()
	select {
	case alive := <-frozenDone:
		took := time.Since(began)
		if alive {
			t.Error("a leaf whose port listens and whose server never answers was taken for alive")
		}
		if took < 5*time.Second {
			t.Errorf("a leaf whose port listens was found gone in %s, before the patient probes (5.5 s)", took)
		}
	case <-time.After(20 * time.Second):
		cancel()
		<-frozenDone // before the test ends: its release may report
		t.Fatal("a leaf whose port listens and whose server never answers was not found gone within 20 s")
	}
	select {
	case alive := <-movingDone:
		t.Fatalf("a leaf whose server answers for it was decided on (alive %v) within the patient probes", alive)
	case <-time.After(time.Until(began.Add(9 * time.Second))): // past the patient probes and its own answer
	}
	select {
	case <-released:
	default:
		t.Error("a leaf whose server answers for it kept its slot while asked again")
	}
	cancel()
	<-movingDone
}

// A leaf whose connection went and that is not heard through the network
// is kept while its own server answers for it (it is attaching to a hub
// too busy to pass its interest on), and one whose port refuses is
// reported at once.
func TestASuspectLeafThatServesIsKept(t *testing.T) {
	t.Parallel()
	d := unjoinedLeaf(t)
	n := &d.net
	n.suspects, n.sawGo, n.movers = map[peer.ID]time.Time{}, map[peer.ID]bool{}, map[peer.ID]bool{}
	host := d.p.Config().Host

	attaching := unjoinedLeaf(t).p.Info() // serves, and is not on d's network
	closed, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	port := closed.Addr().(*net.TCPAddr).Port
	closed.Close()
	crashed := peer.Info{ID: peer.NewID(host, port, "None"), Role: peer.RoleLeaf,
		FriendlyID: peer.FriendlyID{Host: host, Port: port, Group: "None"}}
	for _, info := range []peer.Info{attaching, crashed} {
		d.view.join(info)
		n.suspects[info.ID], n.sawGo[info.ID] = time.Now().Add(-time.Second), true
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	began := time.Now()
	d.checkSuspects(ctx)

	for {
		if _, known := d.view.get(crashed.ID); !known {
			break
		}
		if time.Since(began) > 5*time.Second {
			t.Fatal("a suspect leaf whose port refuses was not reported within 5 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Past the three questions (1.5 s), its own server's answer, and the
	// patient probes of a mover (5.5 s).
	for time.Since(began) < 9*time.Second {
		if _, known := d.view.get(attaching.ID); !known {
			t.Fatalf("a suspect leaf whose own server answers for it was reported failed after %s", time.Since(began).Round(time.Millisecond))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A leaf attached to another hub than the one it was attached to drops
// that one from its view once its port refuses, though no hub tells it
// and the view it loaded kept it (a join of the last 3 s stands).
func TestALeafAttachedElsewhereForgetsTheHubItLostWhenItsPortRefuses(t *testing.T) {
	t.Parallel()
	_, d, host := attachedLeaf(t)
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // the port of a hub that was killed
	gone := peer.Info{ID: peer.NewID(host, port, d.p.Config().Group), Role: peer.RoleHub,
		FriendlyID: peer.FriendlyID{Host: host, Port: port, Hub: true}, Started: time.Now().Add(-time.Minute)}
	d.view.join(gone)
	d.net.leftHub = string(gone.ID)
	d.watchLeafConnection(context.Background())
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, known := d.view.get(gone.ID); !known {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the leaf's view still holds the hub it left 5 s after it attached elsewhere, though its port refuses")
		}
	}
}
