package peer

import (
	"strings"

	"github.com/nats-io/nats.go/micro"
)

// The wire contract. Any NATS client can call a peer with these subjects
// and headers; the README's subject map says the same in prose.
const (
	// SubjectRoot is the first token of every appnet subject.
	SubjectRoot = "net"

	// HeaderFlag carries the name of the flag a peer answered with.
	HeaderFlag = "Net-Flag"
	// HeaderPeer carries the ID of the peer that answered a group call.
	HeaderPeer = "Net-Peer"
	// QueueGroup is the NATS queue group of group calls: one member of the
	// group answers each.
	QueueGroup = "q"
	// HeaderTimeout carries the caller's remaining time in milliseconds, a
	// whole number from 1: the handler's context ends when it runs out, or
	// at the serving peer's own limit (Config.ServeTimeout) if that comes
	// first. Without it the handler gets the peer's limit; a value that
	// is not such a number is answered with CodeBadRequest.
	HeaderTimeout = "Net-Timeout"
	// HeaderError and HeaderErrorCode are the NATS services error headers.
	HeaderError     = micro.ErrorHeader
	HeaderErrorCode = micro.ErrorCodeHeader

	// CodeBadRequest: the payload is not JSON or does not decode into the
	// connection's argument type, or Net-Timeout is not a number of
	// milliseconds.
	CodeBadRequest = 400
	// CodeUnknownConnection: no such connection; the reply also carries the
	// INVALID_CONNECTION flag.
	CodeUnknownConnection = 404
	// CodeHandler: the handler returned an error or panicked; the
	// description is its message and, after a panic, the reply body is the
	// stack.
	CodeHandler = 500
	// CodeBusy: the peer is already running as many calls as it allows.
	CodeBusy = 503
	// CodeTimeout: the handler gave up because its time ran out: the
	// caller's (Net-Timeout), or the serving peer's limit.
	CodeTimeout = 504
)

// DiscoverSubject is where every peer answers with its [Info]: one
// request gathers the whole cluster (discovery's refresh once meshed).
const DiscoverSubject = SubjectRoot + ".discover"

// CallSubject returns the subject on which the peer id serves connection:
// net.peer.<id>.call.<connection>.
func CallSubject(id ID, connection string) string {
	return callPrefix(id) + connection
}

// GroupCallSubject returns the subject on which any one peer of group
// serves connection (a queue group): net.group.<group>.call.<connection>.
func GroupCallSubject(group, connection string) string {
	return groupCallPrefix(group) + connection
}

// GroupAllSubject returns the subject on which every peer of group serves
// connection (scatter-gather): net.group.<group>.all.<connection>.
func GroupAllSubject(group, connection string) string {
	return groupAllPrefix(group) + connection
}

func callPrefix(id ID) string         { return SubjectRoot + ".peer." + string(id) + ".call." }
func groupCallPrefix(g string) string { return SubjectRoot + ".group." + g + ".call." }
func groupAllPrefix(g string) string  { return SubjectRoot + ".group." + g + ".all." }

// connectionOf returns the connection named by a subject under prefix.
func connectionOf(prefix, subject string) string {
	c, _ := strings.CutPrefix(subject, prefix)
	return c
}
