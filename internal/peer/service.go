package peer

import (
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// The peer answers the NATS micro protocol itself, with micro's own wire
// types, rather than through micro.AddService: micro runs each endpoint's
// handler on that endpoint's one subscription goroutine, so calls to one
// connection would queue behind each other, and its metadata and endpoint
// list are fixed when the service is made, while connections may be
// registered at any time. Answering the verbs here keeps calls concurrent
// and the listing live, and the nats CLI sees an ordinary micro service:
// name = group, instance ID = peer ID, one endpoint per connection.

// serviceSubjects is where the micro verbs arrive: $SRV.<VERB>[.<name>[.<id>]].
const serviceSubjects = micro.APIPrefix + ".>"

// serviceDescription is the micro service description of every peer.
const serviceDescription = "appnet peer"

// serveService answers PING, INFO and STATS for this peer's instance.
func (p *Peer) serveService(m *nats.Msg) {
	tokens := strings.Split(m.Subject, ".")
	if m.Reply == "" || len(tokens) < 2 || len(tokens) > 4 {
		return
	}
	if len(tokens) >= 3 && tokens[2] != p.cfg.Group {
		return
	}
	if len(tokens) == 4 && tokens[3] != string(p.id) {
		return
	}
	var answer any
	switch tokens[1] {
	case micro.PingVerb.String():
		answer = micro.Ping{ServiceIdentity: p.identity(), Type: micro.PingResponseType}
	case micro.InfoVerb.String():
		answer = p.serviceInfo()
	case micro.StatsVerb.String():
		answer = p.serviceStats()
	default:
		return
	}
	data, err := json.Marshal(answer) // micro's plain types always encode
	if err == nil {
		err = m.Respond(data)
	}
	if err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		p.limited.Warn("appnet: answering a micro request failed", "subject", m.Subject, "err", err)
	}
}

// identity is the peer as a micro service instance. Metadata is never nil.
func (p *Peer) identity() micro.ServiceIdentity {
	meta := map[string]string{
		"id":         string(p.id),
		"host":       p.self.Host,
		"port":       strconv.Itoa(p.self.Port),
		"group":      p.self.Group,
		"hub":        strconv.FormatBool(p.Config().Hub),
		"user":       p.self.User,
		"executable": p.self.Executable,
		"cluster":    p.clusterURL(),
		"protocol":   strconv.Itoa(ProtocolVersion),
		"role":       p.role(),
	}
	for k, v := range p.values() {
		meta["value."+k] = v // the peer's values, "value.<key>"
	}
	return micro.ServiceIdentity{Name: p.cfg.Group, ID: string(p.id), Version: Version, Metadata: meta}
}

func (p *Peer) serviceInfo() micro.Info {
	conns := p.reg.Connections()
	eps := make([]micro.EndpointInfo, 0, len(conns))
	for _, c := range conns {
		eps = append(eps, micro.EndpointInfo{
			Name:     endpointName(c),
			Subject:  CallSubject(p.id, c),
			Metadata: map[string]string{"connection": c},
		})
	}
	return micro.Info{
		ServiceIdentity: p.identity(),
		Type:            micro.InfoResponseType,
		Description:     serviceDescription,
		Endpoints:       eps,
	}
}

func (p *Peer) serviceStats() micro.Stats {
	conns := p.reg.Connections()
	eps := make([]*micro.EndpointStats, 0, len(conns))
	for _, c := range conns {
		eps = append(eps, p.stats.get(c).snapshot(endpointName(c), CallSubject(p.id, c)))
	}
	return micro.Stats{
		ServiceIdentity: p.identity(),
		Type:            micro.StatsResponseType,
		Started:         p.started,
		Endpoints:       eps,
	}
}

var endpointUnsafe = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// endpointName turns a connection name into a micro endpoint name
// ([A-Za-z0-9_-]+): dots become underscores. The endpoint's metadata keeps
// the real name.
func endpointName(connection string) string {
	return endpointUnsafe.ReplaceAllString(connection, "_")
}

// statsTable holds per-connection call statistics.
type statsTable struct{ m sync.Map } // connection name -> *callStats

type callStats struct {
	requests, errors, nanos atomic.Int64
	lastError               atomic.Pointer[string]
}

func (t *statsTable) get(connection string) *callStats {
	if s, ok := t.m.Load(connection); ok {
		return s.(*callStats)
	}
	s, _ := t.m.LoadOrStore(connection, new(callStats))
	return s.(*callStats)
}

// record counts one served call; errText is empty for a success.
func (t *statsTable) record(connection string, d time.Duration, errText string) {
	s := t.get(connection)
	s.requests.Add(1)
	s.nanos.Add(int64(d))
	if errText != "" {
		s.errors.Add(1)
		s.lastError.Store(&errText)
	}
}

func (s *callStats) snapshot(name, subject string) *micro.EndpointStats {
	es := &micro.EndpointStats{
		Name:           name,
		Subject:        subject,
		NumRequests:    int(s.requests.Load()),
		NumErrors:      int(s.errors.Load()),
		ProcessingTime: time.Duration(s.nanos.Load()),
	}
	if es.NumRequests > 0 {
		es.AverageProcessingTime = es.ProcessingTime / time.Duration(es.NumRequests)
	}
	if e := s.lastError.Load(); e != nil {
		es.LastError = *e
	}
	return es
}
