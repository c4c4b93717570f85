package peer

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Config is everything that shapes a peer. Make one with [DefaultConfig],
// [DefaultLocalConfig] or [ConfigFromEnv]; options passed to [Start]
// override it. Each field names the NET_* environment variable that
// [ConfigFromEnv] reads into it; the defaults are [DefaultConfig]'s.
type Config struct {
	// Host is the address the peer binds and advertises (NET_HOST). The
	// default is this machine's primary non-loopback IPv4 address, or
	// 127.0.0.1.
	Host string
	// PortStart is the first port the peer tries (NET_PORT_START; NET_PORT,
	// the original's name, is accepted too). Default 3010.
	PortStart int
	// PortRange is how many more ports are tried (NET_PORT_RANGE): the
	// peer binds the first free port of PortStart..PortStart+PortRange.
	// Default 5.
	PortRange int
	// Group is the peer's group: a subject token and micro service name
	// (NET_GROUP). Default "None".
	Group string
	// Hub marks the peer as the centre of its application (NET_IS_HUB).
	Hub bool
	// Dev logs every local and remote call at debug level (NET_DEV).
	Dev bool
	// SystemAccount makes a leaf join its hubs' NATS system account
	// through a second leaf node connection (NET_SYSTEM_ACCOUNT), so that
	// `nats server list` on any server lists every server of the network,
	// not only the hubs and itself. It costs each leaf a connection (about
	// 1 MB) and each hub one per leaf; set it on every peer, or on none.
	SystemAccount bool
	// ThreadLimit is how many hosts × ports a scan probes at once
	// (NET_THREAD_LIMIT). Default 5.
	ThreadLimit int
	// Scan lists the hosts a network discovery scans (NET_SCAN): IPv4
	// addresses and CIDR blocks, comma-separated (at most ScanMaxHosts
	// hosts). Empty means the kernel's neighbour table and this host.
	Scan string
	// ScanAllow, when set, confines every scan of the process to these
	// comma-separated CIDR blocks (NET_SCAN_ALLOW): a scan that would
	// probe anything outside them fails instead, and a Scan outside them
	// is refused at start. Tests and benchmarks set 127.0.0.0/8.
	ScanAllow string
	// ScanMaxHosts is the most hosts Scan may name (NET_SCAN_MAX_HOSTS): a
	// /16 unless raised on purpose. Default 65536.
	ScanMaxHosts int
	// ScanTimeout bounds each probe of a scan: the TCP dial and the wait
	// for the NATS greeting (NET_SCAN_TIMEOUT). Default 250ms.
	ScanTimeout time.Duration
	// ScanInterval is how often a peer rescans its own host for peers it
	// has not met (NET_SCAN_INTERVAL): peers that started at the same
	// instant miss each other's first scan. 0 turns rescans off. Default 5s.
	ScanInterval time.Duration
	// CallTimeout is the caller's side (NET_CALL_TIMEOUT): how long a call
	// this peer makes waits for its answer when the call's context has no
	// deadline. Default 10s.
	CallTimeout time.Duration
	// ServeTimeout is the serving side (NET_SERVE_TIMEOUT): the longest a
	// handler of this peer runs for any call, whatever the caller asked.
	// A caller's Net-Timeout shorter than it ends the handler's context
	// sooner; a call without one gets ServeTimeout. It bounds how long a
	// call's slot is held for a caller that has gone. Keep it at least as
	// long as the callers' CallTimeout. Default 1m.
	ServeTimeout time.Duration
	// MaxInFlight is how many calls the peer serves at once
	// (NET_MAX_IN_FLIGHT); beyond it, callers get a 503 answer instead of
	// queueing without bound. The default connections (info,
	// pass_through, connections, null) have slots of their own. Default
	// 1024.
	MaxInFlight int
	// MaxPayload is the largest message, in bytes, the peer's server
	// accepts from any client (NET_MAX_PAYLOAD); a client that sends a
	// larger one is disconnected. Default 1 MiB, the NATS default.
	MaxPayload int
	// MaxPending is how many bytes the peer's server holds for one
	// client that reads slower than others write to it
	// (NET_MAX_PENDING). Past three quarters of it, the server drops
	// further messages for that client, so that a flood is shed early
	// and never makes NATS disconnect a reader (the peer's own connection
	// above all). Drops for the peer's subscriptions are counted. Default
	// 64 MiB, the NATS default.
	MaxPending int

	// NATSURL, when set, makes the peer a client of that NATS deployment
	// (NET_NATS_URL: one or more URLs, comma-separated) instead of running
	// a server of its own: no scan and no routes; the deployment connects
	// every peer, and discovery asks it. The peer still holds the first
	// free port of its range, which keeps its ID unique on its host.
	NATSURL string
	// NATSCreds is a NATS credentials file (JWT and NKey seed) for the
	// deployment of NATSURL (NET_NATS_CREDS).
	NATSCreds string

	// Secret, when set, is required of every client and every route
	// (NET_SECRET, at most MaxSecretLen bytes): a peer or client without
	// it cannot call, emit, subscribe or join. Without the TLS files, it
	// also derives the CA of the mesh's TLS, so that no peer presents it
	// to a server that has not proved it knows it (see [Config.SecretCA]).
	Secret Redacted
	// TLSCert, TLSKey and TLSCA (PEM files: NET_TLS_CERT, NET_TLS_KEY,
	// NET_TLS_CA) turn on TLS for clients and routes, with certificates
	// verified both ways; all three or none. They take precedence over the
	// CA the secret derives.
	TLSCert string
	TLSKey  string
	TLSCA   string

	// Values are the peer's own key/value pairs at start
	// (NET_VALUES=key=value,key2=value2); [Peer.SetValue] changes them at
	// run time. See [ValidateValue] for the limits.
	Values map[string]string

	// Registry holds the connections and flags the peer serves; nil means
	// a fresh [NewRegistry].
	Registry *Registry
	// Logger receives the peer's logs; nil means slog.Default(), or a
	// debug-level stderr logger when Dev is set.
	Logger *slog.Logger

	// leaf starts the server as a leaf ([AsLeaf]).
	leaf bool
}

// MaxSecretLen bounds NET_SECRET: a client presents it in its CONNECT
// line, which NATS limits to 4 KiB with everything else in it.
const MaxSecretLen = 1024

// DefaultConfig returns the defaults of the Python original: ports
// 3010..3015, group "None", five scan workers, and the primary IPv4
// address of this machine. It reads no environment variable, and is the
// one place where the defaults are written.
func DefaultConfig() Config {
	return Config{
		Host:         DefaultHost(),
		PortStart:    3010,
		PortRange:    5,
		Group:        "None",
		ThreadLimit:  5,
		ScanMaxHosts: 1 << 16,
		ScanTimeout:  250 * time.Millisecond,
		ScanInterval: 5 * time.Second,
		CallTimeout:  10 * time.Second,
		ServeTimeout: time.Minute,
		MaxInFlight:  1024,
		MaxPayload:   1 << 20,
		MaxPending:   64 << 20,
	}
}

// DefaultLocalConfig returns [DefaultConfig] for one machine's loopback:
// the peer binds 127.0.0.1 (set Host to another address of 127.0.0.0/8 to
// keep peers apart), meets the peers of its own host only, and every scan
// it makes is confined to 127.0.0.0/8 (ScanAllow), so that no setting
// made later can send a probe off the machine. It suits tests, examples
// and benchmarks.
func DefaultLocalConfig() Config {
	c := DefaultConfig()
	c.Host, c.ScanAllow = "127.0.0.1", "127.0.0.0/8"
	return c
}

var groupRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// maxGroupLen bounds a group name (a token of every subject).
const maxGroupLen = 64

// ValidateGroup returns an error unless group is usable as a subject token
// and a micro service name: [A-Za-z0-9_-]+, at most 64 bytes.
func ValidateGroup(group string) error {
	if len(group) > maxGroupLen {
		return fmt.Errorf("group of %d bytes: want at most %d", len(group), maxGroupLen)
	}
	if !groupRE.MatchString(group) {
		return fmt.Errorf("group %q: want letters, digits, '_' or '-'", short(group))
	}
	return nil
}

// Bounds of the numeric settings; [Config.Validate] names them.
const (
	minTimeout      = 10 * time.Millisecond  // CallTimeout, ServeTimeout, ScanTimeout
	minScanInterval = 100 * time.Millisecond // a rescan more often burns a core for nothing
	maxThreadLimit  = 4096
	maxScanMaxHosts = 1 << 24 // a /8
	maxInFlight     = 1 << 20
	minMaxPayload   = 1 << 10
	maxMaxPayload   = 64 << 20 // the most NATS allows
	maxMaxPending   = 1 << 30
)

// Validate checks every field and names the environment variable of the
// first bad one, its value and what was expected.
func (c Config) Validate() error {
	if ip := net.ParseIP(c.Host); ip == nil || ip.IsUnspecified() {
		return fmt.Errorf("%w: NET_HOST=%q: want the IP address to bind and advertise (not 0.0.0.0 or ::, which no other host can reach)", ErrConfig, c.Host)
	}
	if err := inRange("NET_PORT_START", c.PortStart, 1, 65535); err != nil {
		return err
	}
	if c.PortRange < 0 || c.PortRange > 65535-c.PortStart { // no sum: it could overflow
		return fmt.Errorf("%w: NET_PORT_RANGE=%d: want 0 to %d, so that the ports from NET_PORT_START=%d stay within 1..65535",
			ErrConfig, c.PortRange, 65535-c.PortStart, c.PortStart)
	}
	if err := ValidateGroup(c.Group); err != nil {
		return fmt.Errorf("%w: NET_GROUP: %v", ErrConfig, err)
	}
	for _, v := range []struct {
		name          string
		value, lo, hi int
	}{
		{"NET_THREAD_LIMIT", c.ThreadLimit, 1, maxThreadLimit},
		{"NET_SCAN_MAX_HOSTS", c.ScanMaxHosts, 1, maxScanMaxHosts},
		{"NET_MAX_IN_FLIGHT", c.MaxInFlight, 1, maxInFlight},
		{"NET_MAX_PAYLOAD", c.MaxPayload, minMaxPayload, maxMaxPayload},
	} {
		if err := inRange(v.name, v.value, v.lo, v.hi); err != nil {
			return err
		}
	}
	if c.MaxPending < 2*c.MaxPayload || c.MaxPending > maxMaxPending {
		return fmt.Errorf("%w: NET_MAX_PENDING=%d: want %d to %d bytes: at least twice NET_MAX_PAYLOAD=%d",
			ErrConfig, c.MaxPending, 2*c.MaxPayload, maxMaxPending, c.MaxPayload)
	}
	for _, v := range []struct {
		name  string
		value time.Duration
	}{{"NET_SCAN_TIMEOUT", c.ScanTimeout}, {"NET_CALL_TIMEOUT", c.CallTimeout}, {"NET_SERVE_TIMEOUT", c.ServeTimeout}} {
		if v.value < minTimeout {
			return fmt.Errorf("%w: %s=%s: want at least %s", ErrConfig, v.name, v.value, minTimeout)
		}
	}
	if c.ScanInterval != 0 && c.ScanInterval < minScanInterval {
		return fmt.Errorf("%w: NET_SCAN_INTERVAL=%s: want 0 (no rescans) or at least %s", ErrConfig, c.ScanInterval, minScanInterval)
	}
	if err := c.validateScan(); err != nil {
		return err
	}
	if len(c.Secret) > MaxSecretLen {
		return fmt.Errorf("%w: NET_SECRET of %d bytes: want at most %d", ErrConfig, len(c.Secret), MaxSecretLen)
	}
	if _, err := c.TLSConfig(); err != nil {
		return err
	}
	if c.NATSCreds != "" && c.NATSURL == "" {
		return fmt.Errorf("%w: NET_NATS_CREDS without NET_NATS_URL: credentials are for a NATS deployment", ErrConfig)
	}
	if c.External() {
		if len(deploymentURLs(c.NATSURL)) == 0 {
			return fmt.Errorf("%w: NET_NATS_URL=%q: no URL in it", ErrConfig, c.NATSURL)
		}
		for i, u := range deploymentURLs(c.NATSURL) {
			if err := validURL(u); err != nil {
				return fmt.Errorf("%w: NET_NATS_URL=%q: URL %d: %v", ErrConfig, redactURLs(c.NATSURL), i+1, err)
			}
		}
	}
	if len(c.Values) > MaxValues {
		return fmt.Errorf("%w: NET_VALUES: %d values: want at most %d", ErrConfig, len(c.Values), MaxValues)
	}
	for k, v := range c.Values {
		if err := ValidateValue(k, v); err != nil {
			return fmt.Errorf("%w: NET_VALUES: %w", ErrConfig, err)
		}
	}
	return nil
}

// inRange checks that the variable name's value is in lo..hi.
func inRange(name string, value, lo, hi int) error {
	if value < lo || value > hi {
		return fmt.Errorf("%w: %s=%d: want %d to %d", ErrConfig, name, value, lo, hi)
	}
	return nil
}

// validateScan checks NET_SCAN_ALLOW and NET_SCAN: CIDR blocks, and IPv4
// addresses and blocks of at most ScanMaxHosts hosts in all, inside
// NET_SCAN_ALLOW when it is set.
func (c Config) validateScan() error {
	allow, err := c.ScanAllowed()
	if err != nil {
		return err
	}
	hosts := 0
	for _, entry := range listEntries(c.Scan) {
		prefix, err := netip.ParsePrefix(entry)
		if a, aerr := netip.ParseAddr(entry); aerr == nil {
			prefix, err = a.Prefix(a.BitLen())
		}
		if err != nil || !prefix.Addr().Is4() {
			return fmt.Errorf("%w: NET_SCAN=%q: %q: want IPv4 addresses and CIDR blocks such as 192.168.1.0/24, comma-separated", ErrConfig, short(c.Scan), short(entry))
		}
		if hosts += 1 << (32 - prefix.Bits()); hosts > c.ScanMaxHosts {
			return fmt.Errorf("%w: NET_SCAN=%q: more than NET_SCAN_MAX_HOSTS=%d hosts", ErrConfig, short(c.Scan), c.ScanMaxHosts)
		}
		if len(allow) > 0 && !slices.ContainsFunc(allow, func(a netip.Prefix) bool {
			return a.Bits() <= prefix.Bits() && a.Contains(prefix.Masked().Addr())
		}) {
			return fmt.Errorf("%w: NET_SCAN=%q: %s is outside NET_SCAN_ALLOW=%q", ErrConfig, short(c.Scan), entry, c.ScanAllow)
		}
	}
	return nil
}

// ScanAllowed returns the blocks of [Config.ScanAllow], none when it is
// empty (every scan is allowed).
func (c Config) ScanAllowed() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, entry := range listEntries(c.ScanAllow) {
		p, err := netip.ParsePrefix(entry)
		if err != nil {
			return nil, fmt.Errorf("%w: NET_SCAN_ALLOW=%q: %q: want CIDR blocks such as 127.0.0.0/8, comma-separated", ErrConfig, short(c.ScanAllow), short(entry))
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// listEntries splits a comma-separated list, blanks ignored.
func listEntries(list string) []string {
	var out []string
	for e := range strings.SplitSeq(list, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// deploymentURLs splits NET_NATS_URL as nats.go does: comma-separated,
// blanks ignored.
func deploymentURLs(list string) []string { return listEntries(list) }

// validURL checks one NATS server URL: nats://, tls://, ws:// or wss://
// with a host, or a bare host:port (nats:// is implied, as nats.go does).
// Its messages never repeat the URL, which may hold credentials.
func validURL(raw string) error {
	if !strings.Contains(raw, "://") {
		raw = "nats://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a URL")
	}
	switch u.Scheme {
	case "nats", "tls", "ws", "wss":
	default:
		return fmt.Errorf("scheme %q: want nats://, tls://, ws:// or wss://", u.Scheme)
	}
	if u.Hostname() == "" {
		return errors.New("no host")
	}
	return nil
}

// External reports whether the peer is a client of a NATS deployment
// ([Config.NATSURL]) rather than running a server of its own.
func (c Config) External() bool { return c.NATSURL != "" }

// Ports returns the ports of the range, in the order they are tried.
func (c Config) Ports() []int {
	ports := make([]int, 0, c.PortRange+1)
	for p := c.PortStart; p <= c.PortStart+c.PortRange; p++ {
		ports = append(ports, p)
	}
	return ports
}

// Option changes a Config; options given to [Start] override the
// configuration they are applied to.
type Option func(*Config)

// WithHost sets the address to bind and advertise.
func WithHost(host string) Option { return func(c *Config) { c.Host = host } }

// WithPorts sets the port range: start..start+extra.
func WithPorts(start, extra int) Option {
	return func(c *Config) { c.PortStart, c.PortRange = start, extra }
}

// WithGroup sets the peer's group.
func WithGroup(group string) Option { return func(c *Config) { c.Group = group } }

// WithHub marks the peer as a hub.
func WithHub(hub bool) Option { return func(c *Config) { c.Hub = hub } }

// WithDev turns on debug logging of every call.
func WithDev(dev bool) Option { return func(c *Config) { c.Dev = dev } }

// WithThreadLimit sets how many probes a scan runs at once.
func WithThreadLimit(n int) Option { return func(c *Config) { c.ThreadLimit = n } }

// WithScan sets the hosts a network discovery scans (see Config.Scan).
func WithScan(targets string) Option { return func(c *Config) { c.Scan = targets } }

// WithCallTimeout bounds calls whose context has no deadline.
func WithCallTimeout(d time.Duration) Option { return func(c *Config) { c.CallTimeout = d } }

// WithServeTimeout sets the longest a handler runs for any call.
func WithServeTimeout(d time.Duration) Option { return func(c *Config) { c.ServeTimeout = d } }

// WithScanAllow confines every scan to the comma-separated CIDR blocks.
func WithScanAllow(blocks string) Option { return func(c *Config) { c.ScanAllow = blocks } }

// WithScanInterval sets how often the peer rescans its host; 0 turns
// rescans off.
func WithScanInterval(d time.Duration) Option { return func(c *Config) { c.ScanInterval = d } }

// WithScanTimeout bounds each probe of a scan.
func WithScanTimeout(d time.Duration) Option { return func(c *Config) { c.ScanTimeout = d } }

// WithMaxInFlight sets how many calls the peer serves at once.
func WithMaxInFlight(n int) Option { return func(c *Config) { c.MaxInFlight = n } }

// WithMaxPayload sets the largest message the peer's server accepts.
func WithMaxPayload(bytes int) Option { return func(c *Config) { c.MaxPayload = bytes } }

// WithMaxPending sets how many bytes the peer's server holds for one slow
// reader before it sheds messages for it.
func WithMaxPending(bytes int) Option { return func(c *Config) { c.MaxPending = bytes } }

// WithNATS makes the peer a client of the NATS deployment at urls
// (comma-separated) instead of running a server (see Config.NATSURL).
func WithNATS(urls string) Option { return func(c *Config) { c.NATSURL = urls } }

// WithNATSCreds sets the credentials file for the deployment of
// [WithNATS].
func WithNATSCreds(file string) Option { return func(c *Config) { c.NATSCreds = file } }

// WithScanMaxHosts sets the most hosts a scan may name.
func WithScanMaxHosts(n int) Option { return func(c *Config) { c.ScanMaxHosts = n } }

// WithRegistry sets the connections and flags the peer serves.
func WithRegistry(r *Registry) Option { return func(c *Config) { c.Registry = r } }

// WithLogger sets the peer's logger.
func WithLogger(l *slog.Logger) Option { return func(c *Config) { c.Logger = l } }

// DefaultHost returns this machine's primary non-loopback IPv4 address:
// the address of the interface that holds the default route, else of the
// first interface that is up, else 127.0.0.1. It sends no packet. (The
// original's gethostbyname(gethostname()) gives 127.0.1.1 on many Linux
// hosts, which no other machine can reach.)
func DefaultHost() string {
	if name := defaultRouteInterface(); name != "" {
		if ifc, err := net.InterfaceByName(name); err == nil {
			if ip := firstIPv4(ifc); ip != "" {
				return ip
			}
		}
	}
	ifcs, _ := net.Interfaces()
	for i := range ifcs {
		if ifcs[i].Flags&net.FlagUp != 0 && ifcs[i].Flags&net.FlagLoopback == 0 {
			if ip := firstIPv4(&ifcs[i]); ip != "" {
				return ip
			}
		}
	}
	return "127.0.0.1"
}

func firstIPv4(ifc *net.Interface) string {
	addrs, err := ifc.Addrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip4 := n.IP.To4(); ip4 != nil && !ip4.IsLoopback() && !ip4.IsLinkLocalUnicast() {
				return ip4.String()
			}
		}
	}
	return ""
}

// defaultRouteInterface reads the interface of the IPv4 default route from
// /proc/net/route (Linux); elsewhere it returns "".
func defaultRouteInterface() string {
	data, err := os.ReadFile("/proc/net/route")
	if err != nil {
		return ""
	}
	lines := strings.Split(string(data), "\n")
	for _, line := range lines[min(1, len(lines)):] {
		var ifc, dest string
		if n, _ := fmt.Sscan(line, &ifc, &dest); n == 2 && dest == "00000000" {
			return ifc
		}
	}
	return ""
}

// redactURLs returns comma-separated URLs with their credentials (user
// and password, or a token in the user part) hidden, for messages.
func redactURLs(urls string) string {
	parts := deploymentURLs(urls)
	for i, raw := range parts {
		u, err := url.Parse(raw)
		switch {
		case err != nil || !strings.Contains(raw, "://"):
			if at := strings.LastIndex(raw, "@"); at >= 0 {
				parts[i] = "[redacted]@" + raw[at+1:]
			}
		case u.User != nil:
			u.User = nil
			parts[i] = strings.Replace(u.String(), "://", "://[redacted]@", 1)
		}
	}
	return strings.Join(parts, ",")
}
