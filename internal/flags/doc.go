// Package flags owns appnet's flags: named answers that a peer gives instead
// of a value, which the caller resolves by running its own handler for the
// flag.
//
// A connection's handler answers with a flag by returning [Raise] as its
// error. The flag travels back in the Net-Flag header; the caller looks the
// name up in its [Set] and returns whatever that handler returns. A caller
// that knows the call's result type says so with [WithResult]; then a
// handler's value must decode into that type, and an error naming the flag
// says when it does not. Two flags are built in: [Null], which resolves to
// the string "NULL" for a string (or interface) result and to the zero
// value of any other, and [InvalidConnection], which a peer sends when asked
// for a connection it does not have and which resolves to an error naming
// the peer, the connection and the peer's registered connections. A peer
// answers only with flags it has registered itself: a handler that raises
// another gets a 500 answer, locally as remotely.
package flags
