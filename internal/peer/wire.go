package peer

import (
	"strings"
	"time"

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
	// HeaderUnheard, on a call to info, says that the caller's server does
	// not hear the peer called, although the caller's hub does; its value
	// names the caller. A leaf told so attaches to its hub again, which
	// sends its interest anew, at most every 30 s. (nats-server 2.15 can
	// leave a leaf without another leaf's interest when both attach at
	// once; see discovery.)
	HeaderUnheard = "Net-Unheard"
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

// OwnPrefix returns the prefix of every subject of the peer id,
// net.peer.<ID>.: its calls (net.peer.<ID>.call.<connection>) and, for a
// Go peer, the replies to its requests (net.peer.<ID>.r.<nonce>.<n>), which
// it subscribes to once, net.peer.<ID>.>.
func OwnPrefix(id ID) string { return SubjectRoot + ".peer." + string(id) + "." }

func callPrefix(id ID) string         { return OwnPrefix(id) + "call." }
func groupCallPrefix(g string) string { return SubjectRoot + ".group." + g + ".call." }
func groupAllPrefix(g string) string  { return SubjectRoot + ".group." + g + ".all." }

// connectionOf returns the connection named by a subject under prefix.
func connectionOf(prefix, subject string) string {
	c, _ := strings.CutPrefix(subject, prefix)
	return c
}

// Membership subjects: every peer subscribes to the change subjects (join,
// update, leave, fail, digest) with one subscription, MemberChanges;
// changes are published as they happen, never polled. The hubs' sync
// requests are under net.hub., not net.member.: a subscription to
// MemberChanges must not take them.
const (
	// MemberSubjects matches every membership subject: what a watcher
	// such as `nats sub` subscribes to.
	MemberSubjects = SubjectRoot + ".member.>"
	// MemberChanges matches the change subjects below: the one
	// subscription a peer holds for them. Every subscription of a leaf
	// goes, with the leaf as its origin, to every hub, so one instead of
	// five is four fewer per peer in every route and leaf attachment.
	MemberChanges = SubjectRoot + ".member.*"
	// MemberJoinSubject carries the Info of a peer that joined the
	// network (published by the peer once it is reachable, and by a hub
	// for the peers of a network it merged with).
	MemberJoinSubject = SubjectRoot + ".member.join"
	// MemberUpdateSubject carries the new Info of a peer whose values,
	// role or settings changed.
	MemberUpdateSubject = SubjectRoot + ".member.update"
	// MemberLeaveSubject carries {"id": ...} of a peer that is closing.
	MemberLeaveSubject = SubjectRoot + ".member.leave"
	// MemberFailSubject carries {"id": ..., "by": ...}: hub "by" found
	// that the peer stopped answering.
	MemberFailSubject = SubjectRoot + ".member.fail"
	// MemberSyncSubject is a request a hub answers with its whole view,
	// {"members": [Info, ...]}: one hub of the queue group HubQueue
	// answers; MemberSyncSubject + "." + <hub ID> asks that hub.
	MemberSyncSubject = SubjectRoot + ".hub.sync"
	// HubQueue is the queue group of the hubs' sync subscription.
	HubQueue = "hubs"
	// HubClaimSubject is a request a starting peer makes to the oldest
	// hub of a network that has fewer hubs than it elects, over a
	// connection to that hub's own server, with its ID as the payload:
	// may it start as a hub too? The hub answers true to one claim at a
	// time (false to the others, until that peer joins or 5 s pass), so
	// that peers starting together make one more hub, not one each.
	// Under _LOCAL., it never leaves the hub's server.
	HubClaimSubject = "_LOCAL." + SubjectRoot + ".hub.claim"
	// MemberDigestSubject carries a hub's MemberDigest every few
	// seconds: a peer whose view differs twice in a row loads the view
	// again (anti-entropy; the only periodic membership message).
	MemberDigestSubject = SubjectRoot + ".member.digest"
)

// MemberDigest sums up a hub's view: how many peers, and a hash of who
// they are (ID, role, leaf URL, values), itself included.
type MemberDigest struct {
	Hub   ID     `json:"hub"`
	Peers int    `json:"peers"`
	Sum   string `json:"sum"`
}

// MemberSyncAsk is the optional payload of a request on
// MemberSyncSubject: the asker's digest (its view with itself, summed as a
// MemberDigest is), and the hashes that digest sums. A hub whose own
// digest is the same answers MemberSnapshot{Same: true} instead of its
// whole view; one that differs, given Have, answers the difference
// (MemberSnapshot.Delta); a hub that knows neither field answers the
// whole view.
type MemberSyncAsk struct {
	Peers int    `json:"peers"`
	Sum   string `json:"sum"`
	// Have lists the hash of every member of the asker's view, itself
	// included, in hex: the terms the digest's Sum adds up.
	Have []string `json:"have,omitempty"`
}

// MemberGone is the payload of MemberLeaveSubject and MemberFailSubject.
type MemberGone struct {
	ID ID `json:"id"`
	// By is the hub that found a failure; empty for a leave.
	By ID `json:"by,omitempty"`
}

// MemberSnapshot is a hub's answer on MemberSyncSubject.
type MemberSnapshot struct {
	Members []Info `json:"members"`
	// Same says that the request named the hub's own digest (see
	// MemberSyncAsk): the asker's view is the hub's, and Members is empty.
	Same bool `json:"same,omitempty"`
	// Delta says that the answer is the difference from the request's
	// Have: Members holds the hub's members whose hash Have lacks, and
	// Drop the hashes of Have that are no member of the hub's view. The
	// asker's members of the other hashes are the hub's too.
	Delta bool     `json:"delta,omitempty"`
	Drop  []string `json:"drop,omitempty"`
	// Asked is when the asker sent the request (not on the wire).
	Asked time.Time `json:"-"`
}
