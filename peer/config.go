package peer

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"
)

// EnvPrefix is the prefix of every environment variable appnet reads.
const EnvPrefix = "NET"

// Config is everything that shapes a peer. Make one with [DefaultConfig] or
// [ConfigFromEnv]; options passed to [Start] override it.
type Config struct {
	// Host is the address the peer binds and advertises. The default is
	// this machine's primary non-loopback IPv4 address, or 127.0.0.1.
	Host string `envconfig:"HOST"`
	// PortStart is the first port the peer tries (NET_PORT, the original's
	// name, is accepted too).
	PortStart int `envconfig:"PORT_START" default:"3010"`
	// PortRange is how many more ports are tried: the peer binds the first
	// free port of PortStart..PortStart+PortRange.
	PortRange int `envconfig:"PORT_RANGE" default:"5"`
	// Group is the peer's group: a subject token and micro service name.
	Group string `envconfig:"GROUP" default:"None"`
	// Hub marks the peer as the centre of its application.
	Hub bool `envconfig:"IS_HUB"`
	// Dev logs every local and remote call at debug level.
	Dev bool `envconfig:"DEV"`
	// ThreadLimit is how many hosts × ports a scan probes at once.
	ThreadLimit int `envconfig:"THREAD_LIMIT" default:"5"`
	// Scan lists the hosts a network discovery scans: IPv4 addresses and
	// CIDR blocks, comma-separated (at most a /16). Empty means the
	// kernel's neighbour table and this host.
	Scan string `envconfig:"SCAN"`
	// ScanMaxHosts is the most hosts Scan may name: a /16 unless raised
	// on purpose.
	ScanMaxHosts int `envconfig:"SCAN_MAX_HOSTS" default:"65536"`
	// ScanTimeout bounds each probe of a scan: the TCP dial and the wait
	// for the NATS greeting.
	ScanTimeout time.Duration `envconfig:"SCAN_TIMEOUT" default:"250ms"`
	// ScanInterval is how often a peer rescans its own host for peers it
	// has not met (peers that started at the same instant miss each
	// other's first scan); 0 turns rescans off.
	ScanInterval time.Duration `envconfig:"SCAN_INTERVAL" default:"5s"`
	// CallTimeout bounds a call whose context has no deadline.
	CallTimeout time.Duration `envconfig:"CALL_TIMEOUT" default:"10s"`
	// MaxInFlight is how many calls the peer serves at once; beyond it,
	// callers get a 503 answer instead of queueing without bound.
	MaxInFlight int `envconfig:"MAX_IN_FLIGHT" default:"1024"`

	// NATSURL, when set, makes the peer a client of that NATS deployment
	// (one or more URLs, comma-separated) instead of running a server of
	// its own: no scan and no routes; the deployment connects every peer,
	// and discovery asks it. The peer still holds the first free port of
	// its range, which keeps its ID unique on its host.
	NATSURL string `envconfig:"NATS_URL"`
	// NATSCreds is a NATS credentials file (JWT and NKey seed) for the
	// deployment of NATSURL.
	NATSCreds string `envconfig:"NATS_CREDS"`

	// Secret, when set, is required of every client and every route: a
	// peer or client without it cannot call, emit, subscribe or join.
	// Without the TLS files, it also derives the CA of the mesh's TLS, so
	// that no peer presents it to a server that has not proved it knows
	// it (see [Config.SecretCA]).
	Secret Redacted `envconfig:"SECRET"`
	// TLSCert, TLSKey and TLSCA (PEM files) turn on TLS for clients and
	// routes, with certificates verified both ways; all three or none.
	// They take precedence over the CA the secret derives.
	TLSCert string `envconfig:"TLS_CERT"`
	TLSKey  string `envconfig:"TLS_KEY"`
	TLSCA   string `envconfig:"TLS_CA"`

	// Values are the peer's own key/value pairs at start
	// (NET_VALUES=key:value,key2:value2); [Peer.SetValue] changes them at
	// run time. See [ValidateValue] for the limits.
	Values map[string]string `envconfig:"VALUES"`

	// Registry holds the connections and flags the peer serves; nil means
	// a fresh [NewRegistry].
	Registry *Registry `ignored:"true"`
	// Logger receives the peer's logs; nil means slog.Default(), or a
	// debug-level stderr logger when Dev is set.
	Logger *slog.Logger `ignored:"true"`

	// leaf starts the server as a leaf ([AsLeaf]).
	leaf bool
}

// DefaultConfig returns the defaults of the Python original: ports
// 3010..3015, group "None", five scan workers, and the primary IPv4
// address of this machine. It reads no environment variable.
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
		MaxInFlight:  1024,
	}
}

// ConfigFromEnv returns the defaults overridden by the NET_* environment
// variables. A value that does not parse is an error wrapping [ErrConfig]
// that names the variable and the value.
func ConfigFromEnv() (Config, error) {
	var c Config
	if err := envconfig.Process(EnvPrefix, &c); err != nil {
		var pe *envconfig.ParseError
		if errors.As(err, &pe) {
			return Config{}, fmt.Errorf("%w: %s=%q: want %s", ErrConfig, pe.KeyName, pe.Value, expected(pe.TypeName))
		}
		return Config{}, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if _, set := os.LookupEnv("NET_PORT_START"); !set {
		if v, set := os.LookupEnv("NET_PORT"); set {
			p, err := strconv.Atoi(v)
			if err != nil {
				return Config{}, fmt.Errorf("%w: NET_PORT=%q: want a port number", ErrConfig, v)
			}
			if p < 1 || p > 65535 {
				return Config{}, fmt.Errorf("%w: NET_PORT=%d: want a port in 1..65535", ErrConfig, p)
			}
			c.PortStart = p
		}
	}
	if c.Host == "" {
		c.Host = DefaultHost()
	}
	return c, c.Validate()
}

// expected says what a variable of a Go type must hold.
func expected(typeName string) string {
	switch typeName {
	case "int":
		return "a whole number"
	case "bool":
		return "true or false"
	case "time.Duration":
		return "a duration such as 250ms, 5s or 1m"
	}
	return "a value of type " + typeName
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

// Validate checks every field and names the environment variable of the
// first bad one.
func (c Config) Validate() error {
	if ip := net.ParseIP(c.Host); ip == nil || ip.IsUnspecified() {
		return fmt.Errorf("%w: NET_HOST=%q: want the IP address to bind and advertise (not 0.0.0.0 or ::, which no other host can reach)", ErrConfig, c.Host)
	}
	if c.PortStart < 1 || c.PortStart > 65535 {
		return fmt.Errorf("%w: NET_PORT_START=%d: want a port in 1..65535", ErrConfig, c.PortStart)
	}
	if c.PortRange < 0 || c.PortStart+c.PortRange > 65535 {
		return fmt.Errorf("%w: NET_PORT_RANGE=%d: ports %d..%d leave 1..65535", ErrConfig, c.PortRange, c.PortStart, c.PortStart+c.PortRange)
	}
	if err := ValidateGroup(c.Group); err != nil {
		return fmt.Errorf("%w: NET_GROUP: %v", ErrConfig, err)
	}
	if c.ThreadLimit < 1 {
		return fmt.Errorf("%w: NET_THREAD_LIMIT=%d: want at least 1 concurrent probe", ErrConfig, c.ThreadLimit)
	}
	if c.ScanMaxHosts < 1 {
		return fmt.Errorf("%w: NET_SCAN_MAX_HOSTS=%d: want at least 1", ErrConfig, c.ScanMaxHosts)
	}
	if c.ScanTimeout <= 0 {
		return fmt.Errorf("%w: NET_SCAN_TIMEOUT=%s: want a positive duration", ErrConfig, c.ScanTimeout)
	}
	if c.ScanInterval < 0 {
		return fmt.Errorf("%w: NET_SCAN_INTERVAL=%s: want 0 (off) or a positive duration", ErrConfig, c.ScanInterval)
	}
	if c.CallTimeout <= 0 {
		return fmt.Errorf("%w: NET_CALL_TIMEOUT=%s: want a positive duration", ErrConfig, c.CallTimeout)
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
	if c.MaxInFlight < 1 {
		return fmt.Errorf("%w: NET_MAX_IN_FLIGHT=%d: want at least 1", ErrConfig, c.MaxInFlight)
	}
	return nil
}

// deploymentURLs splits NET_NATS_URL as nats.go does: comma-separated,
// blanks ignored.
func deploymentURLs(list string) []string {
	var out []string
	for u := range strings.SplitSeq(list, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

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

// WithNATS makes the peer a client of the NATS deployment at urls
// (comma-separated) instead of running a server (see Config.NATSURL).
func WithNATS(urls string) Option { return func(c *Config) { c.NATSURL = urls } }

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
