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
	// HeaderTimeout carries the caller's remaining time in milliseconds;
	// the handler's context ends when it runs out.
	HeaderTimeout = "Net-Timeout"
	// HeaderError and HeaderErrorCode are the NATS services error headers.
	HeaderError     = micro.ErrorHeader
	HeaderErrorCode = micro.ErrorCodeHeader

	// CodeBadRequest: the payload is not JSON or does not decode into the
	// connection's argument type.
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
	// CodeTimeout: the handler gave up because the caller's time
	// (Net-Timeout) ran out.
	CodeTimeout = 504
)

// CallSubject returns the subject on which the peer id serves connection:
// net.peer.<id>.call.<connection>.
func CallSubject(id ID, connection string) string {
	return callPrefix(id) + connection
}

func callPrefix(id ID) string {
	return SubjectRoot + ".peer." + string(id) + ".call."
}

// connectionOf returns the connection named by a call subject of id.
func connectionOf(id ID, subject string) (string, bool) {
	return strings.CutPrefix(subject, callPrefix(id))
}
