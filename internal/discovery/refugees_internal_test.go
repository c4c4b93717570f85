package discovery

import (
	"context"
	"net"
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

	d.checkRefugees(context.Background(), []string{"a", "b", "c"})
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, known := d.view.get(gone.ID); !known {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a hub whose leaves came and whose port refuses is still in the view")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(2 * refusedApart) // the other checks had their time too
	for _, h := range []peer.Info{alive, young} {
		if _, known := d.view.get(h.ID); !known {
			t.Errorf("hub at port %d (by configuration: %v) was reported failed", h.Port, h.Hub)
		}
	}
}
