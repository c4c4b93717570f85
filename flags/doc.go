// Package flags owns appnet's flags: named answers that a peer gives instead
// of a value, which the caller resolves by running its own handler for the
// flag.
//
// A connection's handler answers with a flag by returning [Raise] as its
// error. The flag travels back in the Net-Flag header; the caller looks the
// name up in its [Set] and returns whatever that handler returns. Two flags
// are built in: [Null], which resolves to the string "NULL", and
// [InvalidConnection], which a peer sends when asked for a connection it does
// not have and which resolves to an error naming the peer, the connection and
// the peer's registered connections.
package flags
