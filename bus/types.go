package bus

import (
	"github.com/appnet-go/appnet/internal/discovery"
	"github.com/appnet-go/appnet/internal/flags"
	"github.com/appnet-go/appnet/internal/names"
	"github.com/appnet-go/appnet/internal/peer"
)

// Who a peer is.
type (
	// ID identifies a peer: the URL-safe base64, without padding, of
	// "<host>:<port> -> <group>"; its Decode method returns that
	// [Address]. Standard base64, with padding, is accepted wherever a program
	// passes an ID, and turned into this form ([ParseID]).
	ID = peer.ID
	// Address is what an ID says, as a struct: Host string, Port int
	// and Group string; its String method writes
	// "<host>:<port> -> <group>".
	Address = peer.Address
	// Info is what a peer tells the network about itself (the answer of
	// its "info" connection, whose JSON tags are the wire format). The
	// fields a program reads:
	//
	//	ID            ID
	//	Host          string
	//	Port          int
	//	Group         string
	//	Hub           bool              // started as a hub (NET_IS_HUB)
	//	Role          string            // "hub" or "leaf": what its server is now
	//	Connections   []string          // what it serves
	//	Subscriptions []string          // the events it listens to
	//	Flags         []string          // the flags it knows
	//	Values        map[string]string // its own values (Peer.SetValue)
	//	Started       time.Time
	//	Version       string            // of appnet
	//
	// `go doc github.com/appnet-go/appnet/internal/peer.Info` lists them all.
	Info = peer.Info
)

// RemoteError is an error answer from another peer (errors.As finds it
// in the error of a call), as a struct:
//
//	Peer        ID     // the peer that answered
//	Connection  string // the connection that was called
//	Code        int    // 400, 404, 500, 503 or 504
//	Description string // the error text
//	Stack       string // the handler's stack when it panicked, else empty
//
// errors.Is matches it with [ErrBadRequest] (400), [ErrRemote] (500),
// [ErrBusy] (503) or context.DeadlineExceeded (504).
type RemoteError = peer.RemoteError

// ParseID checks s, an ID in either base64 form, and returns it in the
// form used on the wire. An error wraps [ErrInvalidID].
func ParseID(s string) (ID, error) { return peer.ParseID(s) }

// Network is what a discovery found, as a struct of two fields:
//
//	Peers  map[ID]Info     // every peer found, by ID
//	Groups map[string][]ID // the IDs of each group's peers, by host and port
//
// and two methods: Group(name) []ID, the IDs of one group's peers, and
// IDs() []ID, every ID, ordered by host and port.
type Network = discovery.Peers

// Errors callers test with errors.Is.
var (
	// ErrInvalidName is matched by every error about a malformed name a
	// program passed: of a connection, a flag, an event or a group.
	// Those errors are returned before anything is started or sent.
	ErrInvalidName = names.ErrInvalid
	// ErrInvalidID is matched by every error about a malformed peer ID.
	ErrInvalidID = peer.ErrInvalidID
	// ErrInvalidValue is matched by every refusal of a value or its key
	// ([Peer.SetValue]).
	ErrInvalidValue = peer.ErrInvalidValue
	// ErrConfig is matched by every error about a configuration.
	ErrConfig = peer.ErrConfig
	// ErrUnreachable: no peer answered the call (the target is gone, or
	// no peer of the group serves the connection).
	ErrUnreachable = peer.ErrUnreachable
	// ErrInvalidConnection: the called peer has no such connection.
	ErrInvalidConnection = peer.ErrInvalidConnection
	// ErrBadRequest: the argument did not encode, or the called peer
	// could not decode it.
	ErrBadRequest = peer.ErrBadRequest
	// ErrRemote: the called peer's handler returned an error or
	// panicked; the error carries its message.
	ErrRemote = peer.ErrRemote
	// ErrBusy: the called peer serves as many calls as it allows
	// (Config.MaxInFlight).
	ErrBusy = peer.ErrBusy
	// ErrClosed: the peer making the call or the emit has closed.
	ErrClosed = peer.ErrClosed
	// ErrConnectionLost is reported to a subscription's [ErrorHandler]
	// when the peer's connection to its server went down and came back:
	// events sent meanwhile are lost, and could not be counted.
	ErrConnectionLost = peer.ErrConnectionLost
	// ErrUnknownFlag: a call was answered with a flag that has no
	// handler ([Flag]).
	ErrUnknownFlag = flags.ErrUnknownFlag
)
