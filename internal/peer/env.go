package peer

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// ConfigFromEnv returns [DefaultConfig] overridden by the NET_* environment
// variables, the only place appnet reads the environment. Numbers are
// decimal (no sign, no leading zero, no 0x: 041610 and 0x10 are refused,
// not read as octal or hexadecimal), durations are Go durations such as
// 250ms or 5s, and every value is checked as [Config.Validate] does. An
// error wraps [ErrConfig] and names the variable, its value and what was
// expected. NET_HOST unset means the default; set but empty, it is an
// error.
func ConfigFromEnv() (Config, error) {
	c := DefaultConfig()
	for _, v := range envVars {
		value, set := os.LookupEnv(v.name)
		if !set {
			continue
		}
		if err := v.set(&c, value); err != nil {
			shown := strconv.Quote(short(value))
			if v.name == "NET_SECRET" {
				shown = redacted
			}
			return Config{}, fmt.Errorf("%w: %s=%s: %v", ErrConfig, v.name, shown, err)
		}
	}
	if _, set := os.LookupEnv("NET_PORT_START"); !set {
		if value, set := os.LookupEnv("NET_PORT"); set {
			if err := decimal(&c.PortStart)(value); err != nil {
				return Config{}, fmt.Errorf("%w: NET_PORT=%q: %v", ErrConfig, short(value), err)
			}
			if c.PortStart < 1 || c.PortStart > 65535 {
				return Config{}, fmt.Errorf("%w: NET_PORT=%d: want a port in 1..65535", ErrConfig, c.PortStart)
			}
		}
	}
	return c, c.Validate()
}

// envVar is one NET_* variable and how it sets its field.
type envVar struct {
	name string
	set  func(c *Config, value string) error
}

// envVars are the variables [ConfigFromEnv] reads (NET_PORT, the
// original's name of NET_PORT_START, aside).
var envVars = []envVar{
	{"NET_HOST", func(c *Config, v string) error {
		if v == "" {
			return fmt.Errorf("set but empty: want this machine's IP address to bind and advertise, or leave it unset for the default (%s)", DefaultHost())
		}
		c.Host = v
		return nil
	}},
	{"NET_PORT_START", func(c *Config, v string) error { return decimal(&c.PortStart)(v) }},
	{"NET_PORT_RANGE", func(c *Config, v string) error { return decimal(&c.PortRange)(v) }},
	{"NET_GROUP", func(c *Config, v string) error { c.Group = v; return nil }},
	{"NET_IS_HUB", func(c *Config, v string) error { return boolean(&c.Hub)(v) }},
	{"NET_DEV", func(c *Config, v string) error { return boolean(&c.Dev)(v) }},
	{"NET_SYSTEM_ACCOUNT", func(c *Config, v string) error { return boolean(&c.SystemAccount)(v) }},
	{"NET_THREAD_LIMIT", func(c *Config, v string) error { return decimal(&c.ThreadLimit)(v) }},
	{"NET_SCAN", func(c *Config, v string) error { c.Scan = v; return nil }},
	{"NET_SCAN_ALLOW", func(c *Config, v string) error { c.ScanAllow = v; return nil }},
	{"NET_VALUES", func(c *Config, v string) error { return values(&c.Values)(v) }},
	{"NET_SCAN_MAX_HOSTS", func(c *Config, v string) error { return decimal(&c.ScanMaxHosts)(v) }},
	{"NET_SCAN_TIMEOUT", func(c *Config, v string) error { return duration(&c.ScanTimeout)(v) }},
	{"NET_SCAN_INTERVAL", func(c *Config, v string) error { return duration(&c.ScanInterval)(v) }},
	{"NET_CALL_TIMEOUT", func(c *Config, v string) error { return duration(&c.CallTimeout)(v) }},
	{"NET_SERVE_TIMEOUT", func(c *Config, v string) error { return duration(&c.ServeTimeout)(v) }},
	{"NET_MAX_IN_FLIGHT", func(c *Config, v string) error { return decimal(&c.MaxInFlight)(v) }},
	{"NET_MAX_PAYLOAD", func(c *Config, v string) error { return decimal(&c.MaxPayload)(v) }},
	{"NET_MAX_PENDING", func(c *Config, v string) error { return decimal(&c.MaxPending)(v) }},
	{"NET_NATS_URL", func(c *Config, v string) error { c.NATSURL = v; return nil }},
	{"NET_NATS_CREDS", func(c *Config, v string) error { c.NATSCreds = v; return nil }},
	{"NET_SECRET", func(c *Config, v string) error {
		if len(v) > MaxSecretLen {
			return fmt.Errorf("%d bytes: want at most %d", len(v), MaxSecretLen)
		}
		c.Secret = Redacted(v)
		return nil
	}},
	{"NET_TLS_CERT", func(c *Config, v string) error { c.TLSCert = v; return nil }},
	{"NET_TLS_KEY", func(c *Config, v string) error { c.TLSKey = v; return nil }},
	{"NET_TLS_CA", func(c *Config, v string) error { c.TLSCA = v; return nil }},
}

// decimal parses a whole number written in decimal digits only, into an
// int without overflow; the range is Validate's to check.
func decimal(field *int) func(string) error {
	return func(v string) error {
		if v == "" || (len(v) > 1 && v[0] == '0') || v[0] == '+' {
			return fmt.Errorf("want a whole number in decimal digits, without sign or leading zero")
		}
		n, err := strconv.ParseInt(v, 10, strconv.IntSize)
		if err != nil {
			return fmt.Errorf("want a whole number in decimal digits that fits in %d bits", strconv.IntSize)
		}
		*field = int(n)
		return nil
	}
}

// boolean parses true or false (and the forms strconv.ParseBool takes).
func boolean(field *bool) func(string) error {
	return func(v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("want true or false")
		}
		*field = b
		return nil
	}
}

// duration parses a Go duration.
func duration(field *time.Duration) func(string) error {
	return func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("want a duration such as 250ms, 5s or 1m")
		}
		*field = d
		return nil
	}
}

// values parses key=value pairs, comma-separated (a value holds no
// comma); the keys and values are checked by Validate.
func values(field *map[string]string) func(string) error {
	return func(v string) error {
		m := map[string]string{}
		for pair := range strings.SplitSeq(v, ",") {
			if pair = strings.TrimSpace(pair); pair == "" {
				continue
			}
			k, val, ok := strings.Cut(pair, "=")
			if !ok {
				return fmt.Errorf("%q: want key=value pairs, comma-separated", short(pair))
			}
			m[strings.TrimSpace(k)] = val
		}
		*field = m
		return nil
	}
}
