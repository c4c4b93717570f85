package integration

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/appnet-go/appnet/internal/testnet"
)

// The benchmark command runs its call, events, group, mesh and join
// scenarios end to end, briefly, and prints every table: a smoke test, so
// that a change that breaks the benchmark is caught here rather than when
// figures are next wanted (the mesh scenario wanted every peer to route to
// every other, long after leaves came, and stopped at the first). Its
// figures are not checked: timing belongs to benchmarks.
func TestBenchCommandRuns(t *testing.T) {
	t.Parallel()
	host, port := testnet.Host(t), testnet.Ports(t)
	subnet := fmt.Sprintf("127.%d.%d.0/24", 1+rand.IntN(254), rand.IntN(256))
	testnet.MustLoopback(t, host, subnet)
	out, errOut, err := run(t, 2*time.Minute, "appnet-bench", nil,
		"-only", "calls,events,group,mesh,join", "-reps", "1", "-n", "200", "-events", "1000", "-gather", "10",
		"-host", host, "-port", strconv.Itoa(port), "-subnet", subnet)
	if err != nil {
		t.Fatalf("appnet-bench: %v\n%s%s", err, out, errOut)
	}
	for _, want := range []string{
		"raw NATS, one standalone server (TCP clients)",
		"appnet remote call, two peer processes",
		"appnet seq p50 / raw standalone seq p50",
		"appnet bus.Event -> events.Subscribe",
		"appnet / raw: scatter-gather over 5, p50",
		"mesh: 10 peers at one instant",
		"join: fork to bus.New returned",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the output lacks %q:\n%s", want, out)
		}
	}
	// Every subscriber keeps up with 1,000 events: the rows end "yes".
	for line := range strings.Lines(out) {
		if strings.Contains(line, "bus.Event -> events.Subscribe") && !strings.HasSuffix(strings.TrimSpace(line), "yes") {
			t.Errorf("appnet subscribers did not receive every event: %s", line)
		}
	}
}
