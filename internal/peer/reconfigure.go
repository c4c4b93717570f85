package peer

import (
	"fmt"
	"maps"
	"reflect"
)

// Reconfigure changes the settings of a running peer that do not make its
// ID or its security: whether it is a hub (NET_IS_HUB, which makes its
// server a hub of the network too), its values (NET_VALUES), how many
// probes a scan runs (NET_THREAD_LIMIT), how long a probe waits
// (NET_SCAN_TIMEOUT) and how often a hub looks for other networks
// (NET_SCAN_INTERVAL). The network hears of the change as an update. The
// others cannot change on a running peer, and an option that changes one
// is refused with an error wrapping [ErrConfig] that names it: the host,
// port range and group are the peer's ID; the secret, TLS, deployment and
// limits are its server's (start another peer instead).
func (p *Peer) Reconfigure(opts ...Option) error {
	p.liveMu.Lock()
	cur := p.Config()
	next := cur
	next.Values = maps.Clone(cur.Values)
	for _, o := range opts {
		o(&next)
	}
	if err := fixed(cur, next); err != nil {
		p.liveMu.Unlock()
		return err
	}
	if err := next.Validate(); err != nil {
		p.liveMu.Unlock()
		return err
	}
	p.live.Store(&next)
	p.liveMu.Unlock()
	if !maps.Equal(cur.Values, next.Values) {
		p.topo.mu.Lock()
		p.topo.values = maps.Clone(next.Values)
		p.topo.mu.Unlock()
	}
	p.changed()
	return nil
}

// fixed refuses a change of what a running peer cannot change.
func fixed(cur, next Config) error {
	for _, f := range []struct {
		name     string
		was, now any
	}{
		{"NET_HOST", cur.Host, next.Host},
		{"NET_PORT_START", cur.PortStart, next.PortStart},
		{"NET_PORT_RANGE", cur.PortRange, next.PortRange},
		{"NET_GROUP", cur.Group, next.Group},
		{"NET_SECRET", cur.Secret, next.Secret},
		{"NET_TLS_CERT", cur.TLSCert, next.TLSCert},
		{"NET_TLS_KEY", cur.TLSKey, next.TLSKey},
		{"NET_TLS_CA", cur.TLSCA, next.TLSCA},
		{"NET_NATS_URL", cur.NATSURL, next.NATSURL},
		{"NET_NATS_CREDS", cur.NATSCreds, next.NATSCreds},
		{"NET_MAX_IN_FLIGHT", cur.MaxInFlight, next.MaxInFlight},
		{"NET_MAX_PAYLOAD", cur.MaxPayload, next.MaxPayload},
		{"NET_MAX_PENDING", cur.MaxPending, next.MaxPending},
		{"NET_CALL_TIMEOUT", cur.CallTimeout, next.CallTimeout},
		{"NET_SERVE_TIMEOUT", cur.ServeTimeout, next.ServeTimeout},
		{"NET_SYSTEM_ACCOUNT", cur.SystemAccount, next.SystemAccount},
		{"NET_SCAN", cur.Scan, next.Scan},
		{"NET_SCAN_ALLOW", cur.ScanAllow, next.ScanAllow},
		{"NET_DEV", cur.Dev, next.Dev},
		{"the registry", cur.Registry, next.Registry},
		{"the logger", cur.Logger, next.Logger},
	} {
		if !reflect.DeepEqual(f.was, f.now) {
			return fmt.Errorf("%w: %s cannot change on a running peer (it is the peer's ID, or its server's): start another peer", ErrConfig, f.name)
		}
	}
	return nil
}
