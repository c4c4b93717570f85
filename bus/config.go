package bus

import (
	"log/slog"
	"time"

	"github.com/appnet-go/appnet/internal/peer"
)

// Configuration. A peer is configured by a [Config], from [DefaultConfig],
// [DefaultLocalConfig] or [ConfigFromEnv], with options on top.
type (
	// Config is the whole configuration of a peer; every field is
	// documented with its NET_* variable, its unit and its default (see
	// [DefaultConfig]; `go doc github.com/appnet-go/appnet/internal/peer.Config`
	// lists them). The fields a program usually sets have an [Option] too;
	// its registry is set only by [WithRegistry].
	Config = peer.Config
	// Option changes one setting of a [Config].
	Option = peer.Option
)

// Registry is a set of connections and flags that peers serve. [Connect]
// and [Flag] fill the default one ([DefaultRegistry]), which [New],
// [Attach] and the default peer serve; a peer started with
// [WithRegistry] serves another.
type Registry struct{ r *peer.Registry }

// DefaultConfig returns the defaults: ports 3010..3015, group "None",
// five scan workers, and the primary IPv4 address of this machine. It
// reads no environment variable.
func DefaultConfig() Config { return peer.DefaultConfig() }

// DefaultLocalConfig returns [DefaultConfig] for one machine's loopback:
// the peer binds 127.0.0.1, meets the peers of its own host only, and
// every scan it makes is confined to 127.0.0.0/8. It suits tests,
// examples and benchmarks.
func DefaultLocalConfig() Config { return peer.DefaultLocalConfig() }

// ConfigFromEnv returns [DefaultConfig] with the NET_* environment
// variables on top. An error wraps [ErrConfig] and names the variable,
// its value and what was expected.
func ConfigFromEnv() (Config, error) { return peer.ConfigFromEnv() }

// NewRegistry returns a registry with the built-in connections only
// (info, pass_through, connections, null), for a peer that serves none of
// the program's.
func NewRegistry() *Registry { return &Registry{peer.NewRegistry()} }

// WithHost sets the address to bind and advertise.
func WithHost(host string) Option { return peer.WithHost(host) }

// WithPorts sets the port range: start..start+extra.
func WithPorts(start, extra int) Option { return peer.WithPorts(start, extra) }

// WithGroup sets the peer's group.
func WithGroup(group string) Option { return peer.WithGroup(group) }

// WithHub marks the peer as a hub.
func WithHub(hub bool) Option { return peer.WithHub(hub) }

// WithDev turns on debug logging of every call.
func WithDev(dev bool) Option { return peer.WithDev(dev) }

// WithThreadLimit sets how many probes a scan runs at once.
func WithThreadLimit(n int) Option { return peer.WithThreadLimit(n) }

// WithScan sets the hosts a network discovery scans (see Config.Scan).
func WithScan(targets string) Option { return peer.WithScan(targets) }

// WithCallTimeout bounds calls whose context has no deadline.
func WithCallTimeout(d time.Duration) Option { return peer.WithCallTimeout(d) }

// WithServeTimeout sets the longest a handler runs for any call.
func WithServeTimeout(d time.Duration) Option { return peer.WithServeTimeout(d) }

// WithScanAllow confines every scan to the comma-separated CIDR blocks.
func WithScanAllow(blocks string) Option { return peer.WithScanAllow(blocks) }

// WithScanInterval sets how often the peer rescans its host; 0 turns
// rescans off.
func WithScanInterval(d time.Duration) Option { return peer.WithScanInterval(d) }

// WithScanTimeout bounds each probe of a scan.
func WithScanTimeout(d time.Duration) Option { return peer.WithScanTimeout(d) }

// WithMaxInFlight sets how many calls the peer serves at once.
func WithMaxInFlight(n int) Option { return peer.WithMaxInFlight(n) }

// WithMaxPayload sets the largest message the peer's server accepts.
func WithMaxPayload(bytes int) Option { return peer.WithMaxPayload(bytes) }

// WithMaxPending sets how many bytes the peer's server holds for one slow
// reader before it sheds messages for it.
func WithMaxPending(bytes int) Option { return peer.WithMaxPending(bytes) }

// WithNATS makes the peer a client of the NATS deployment at urls
// (comma-separated) instead of running a server (see [Config].NATSURL).
func WithNATS(urls string) Option { return peer.WithNATS(urls) }

// WithNATSCreds sets the credentials file for the deployment of
// [WithNATS].
func WithNATSCreds(file string) Option { return peer.WithNATSCreds(file) }

// WithScanMaxHosts sets the most hosts a scan may name.
func WithScanMaxHosts(n int) Option { return peer.WithScanMaxHosts(n) }

// WithRegistry sets the connections and flags the peer serves.
func WithRegistry(r *Registry) Option { return peer.WithRegistry(r.r) }

// WithLogger sets the peer's logger.
func WithLogger(l *slog.Logger) Option { return peer.WithLogger(l) }

// WithSecret sets the shared secret every client and route must present.
func WithSecret(secret string) Option { return peer.WithSecret(secret) }

// WithTLS sets the PEM files of the peer's certificate, its key and the CA
// that signs every peer's certificate.
func WithTLS(cert, key, ca string) Option { return peer.WithTLS(cert, key, ca) }
