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

// ID identifies a peer: the standard base64 of "<host>:<port> -> <group>",
// exactly as the Python original makes it, e.g.
// MTkyLjE2OC4yLjI0OjMwMTAgLT4gTm9uZQ== is "192.168.2.24:3010 -> None".
type ID string

// idSeparator separates the address from the group in a decoded ID.
const idSeparator = " -> "

// NewID returns the ID of the peer of group listening on host:port.
func NewID(host string, port int, group string) ID {
	plain := net.JoinHostPort(host, strconv.Itoa(port)) + idSeparator + group
	return ID(base64.StdEncoding.EncodeToString([]byte(plain)))
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

// ParseID checks that s is a well-formed peer ID and returns it.
func ParseID(s string) (ID, error) {
	id := ID(s)
	if _, err := id.Decode(); err != nil {
		return "", err
	}
	return id, nil
}

// Decode returns the host, port and group the ID names. Anything that is
// not an ID made by [NewID] is an error wrapping [ErrInvalidID].
func (id ID) Decode() (Address, error) {
	raw, err := base64.StdEncoding.DecodeString(string(id))
	if err != nil {
		return Address{}, fmt.Errorf("%w %q: not standard base64: %v", ErrInvalidID, short(string(id)), err)
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
	return Address{Host: host, Port: port, Group: group}, nil
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
