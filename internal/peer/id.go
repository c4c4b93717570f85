package peer

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// ErrInvalidID is wrapped by every error about a malformed peer ID.
var ErrInvalidID = errors.New("invalid peer ID")

// ID identifies a peer: the URL-safe base64 without padding (RFC 4648 §5)
// of "<host>:<port> -> <group>", e.g. MTkyLjE2OC4yLjI0OjMwMTAgLT4gTm9uZQ is
// "192.168.2.24:3010 -> None". The Python original uses standard base64
// (MTkyLjE2OC4yLjI0OjMwMTAgLT4gTm9uZQ==); its '+', '/' and '=' are refused
// as a micro service instance ID by the official NATS clients, and do not
// fit in a URL. [ParseID] accepts either form and returns this one, the
// only one on the wire: in subjects, server names and answers.
type ID string

// idSeparator separates the address from the group in a decoded ID.
const idSeparator = " -> "

// NewID returns the ID of the peer of group listening on host:port.
func NewID(host string, port int, group string) ID {
	plain := net.JoinHostPort(host, strconv.Itoa(port)) + idSeparator + group
	return ID(base64.RawURLEncoding.EncodeToString([]byte(plain)))
}

// Address is what an ID says about its peer.
type Address struct {
	Host  string `json:"host"`
	Port  int    `json:"port"`
	Group string `json:"group"`
}

// String returns the ID's plain form, "<host>:<port> -> <group>".
func (a Address) String() string {
	return net.JoinHostPort(a.Host, strconv.Itoa(a.Port)) + idSeparator + a.Group
}

// ParseID checks that s is a well-formed peer ID, in the form [NewID]
// makes or in the original's standard base64, and returns it in the form
// NewID makes: the one peers subscribe with.
func ParseID(s string) (ID, error) {
	a, err := ID(s).Decode()
	if err != nil {
		return "", err
	}
	if strings.ContainsAny(s, "+/=") { // standard base64: Decode took it as such
		return NewID(a.Host, a.Port, a.Group), nil
	}
	return ID(s), nil // Decode proved it is exactly what NewID makes
}

// Decode returns the host, port and group the ID names. It accepts the
// form [NewID] makes and standard base64 (the Python original's, and
// earlier appnet versions'); anything else is an error wrapping
// [ErrInvalidID].
func (id ID) Decode() (Address, error) {
	raw, err := decodeBase64(string(id))
	if err != nil {
		return Address{}, fmt.Errorf("%w %q: neither URL-safe base64 without padding nor standard base64: %v", ErrInvalidID, short(string(id)), err)
	}
	plain := string(raw)
	hostPort, group, ok := strings.Cut(plain, idSeparator)
	if !ok {
		return Address{}, fmt.Errorf("%w %q: decodes to %q, want \"<host>:<port> -> <group>\"", ErrInvalidID, short(string(id)), short(plain))
	}
	host, portText, err := net.SplitHostPort(hostPort)
	if err != nil || host == "" || len(host) > 253 || strings.ContainsAny(host, " \t\r\n*>") {
		return Address{}, fmt.Errorf("%w %q: address %q is not host:port", ErrInvalidID, short(string(id)), short(hostPort))
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 1 || port > 65535 {
		return Address{}, fmt.Errorf("%w %q: port %q is not 1..65535", ErrInvalidID, short(string(id)), short(portText))
	}
	if err := ValidateGroup(group); err != nil {
		return Address{}, fmt.Errorf("%w %q: %v", ErrInvalidID, short(string(id)), err)
	}
	a := Address{Host: host, Port: port, Group: group}
	if a.String() != plain {
		return Address{}, fmt.Errorf("%w %q: decodes to %q, want it written as %q", ErrInvalidID, short(string(id)), short(plain), short(a.String()))
	}
	return a, nil
}

// decodeBase64 decodes s as URL-safe base64 without padding, else as
// standard base64 with padding. Newlines, which Go's decoder would skip,
// are refused: an ID is a subject token.
func decodeBase64(s string) ([]byte, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, errors.New("contains a line break")
	}
	if !strings.ContainsAny(s, "+/=") {
		return base64.RawURLEncoding.Strict().DecodeString(s)
	}
	return base64.StdEncoding.Strict().DecodeString(s)
}

// String returns the ID itself.
func (id ID) String() string { return string(id) }

// short trims s for an error message, so that a hostile megabyte of input
// does not become a megabyte of log.
func short(s string) string {
	const limit = 80
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "..."
}
