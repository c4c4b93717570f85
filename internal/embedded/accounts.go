package embedded

import (
	"crypto/rand"
	"crypto/subtle"
	"net/url"
	"slices"
	"sync/atomic"

	"github.com/appnet-go/appnet/internal/secretca"
	"github.com/nats-io/nats-server/v2/server"
)

// Every embedded server has two accounts: the global one ($G), where
// clients without a user land and every appnet subject lives, and the
// system account, where NATS's own monitoring requests and answers travel
// (what `nats server list` and `nats server report connections` ask).
// Routes carry both; a leaf reaches its hubs with one leaf node
// connection per account.
const (
	// SystemAccount is the name of the system account.
	SystemAccount = "$SYS"
	// SystemUser is the user that connects to the system account, with
	// [SystemPassword] as its password.
	SystemUser = "sys"
	// OpenSystemPassword is the system user's password on a network
	// without a secret, where anyone who can connect may use it.
	OpenSystemPassword = "sys"
)

// leafSystemUser is the user a leaf's system account connection presents
// to its hub, with the system user's password.
const leafSystemUser = "appnet-sys"

// openUser is the user a client without credentials becomes on a network
// without a secret (no_auth_user): the global account, no password.
const openUser = "appnet"

// systemPurpose names the system user's password among the passwords a
// secret derives; changing it changes the password of every peer.
const systemPurpose = "appnet system account v1"

// SystemPassword returns the password of the system user of a network
// with secret: derived from the secret (through its CA, so that testing a
// guess of the secret against it costs one scrypt), so only holders of
// the secret, and those they give it to, know it; it does not reveal the
// secret. Without a secret it is [OpenSystemPassword].
func SystemPassword(secret string) (string, error) {
	if secret == "" {
		return OpenSystemPassword, nil
	}
	ca, err := secretca.Derive(secret)
	if err != nil {
		return "", err
	}
	return ca.Password(systemPurpose), nil
}

// systemPassword is SystemPassword for the server's own configuration:
// should the derivation fail, a random password that nobody knows keeps
// the system account closed rather than open.
func (cfg Config) systemPassword() string {
	p, err := SystemPassword(cfg.Secret)
	if err != nil || p == "" {
		return rand.Text()
	}
	return p
}

// systemPermissions are the system user's: everything NATS's monitoring
// asks and answers, but not what would let a monitor act on a server:
// close a client (KICK) or put it in lame duck mode (LDM), reload the
// configuration, or push account claims.
func systemPermissions() *server.Permissions {
	return &server.Permissions{Publish: &server.SubjectPermission{Deny: []string{
		"$SYS.REQ.SERVER.*.KICK",
		"$SYS.REQ.SERVER.*.LDM",
		"$SYS.REQ.SERVER.*.RELOAD",
		"$SYS.REQ.ACCOUNT.*.CLAIMS.>",
		"$SYS.ACCOUNT.*.CLAIMS.>",
		"$SYS.REQ.CLAIMS.>",
	}}}
}

// leafSystemPermissions are a leaf's system account connection's, as a
// hub applies them (from the leaf's side: what it may send, what it may
// take). A hub tells a leaf of the interest it holds only in subjects the
// leaf may send, so the leaf may send only what the nats CLI's network-wide
// requests need: the requests to every server (PING), and answers to
// clients' inboxes. Otherwise every leaf would hear of every other
// server's own request subjects ($SYS.REQ.SERVER.<id>.*, its internal
// inboxes): interest that grows with the network in every leaf and, on a
// hub, with its square. A leaf takes no broadcast (see systemBroadcasts),
// as it asks itself too.
func leafSystemPermissions() *server.Permissions {
	return &server.Permissions{
		Publish: &server.SubjectPermission{Allow: []string{
			"$SYS.REQ.SERVER.PING", "$SYS.REQ.SERVER.PING.>", "$SYS.REQ.ACCOUNT.PING.>", "_INBOX.>",
		}},
		Subscribe: &server.SubjectPermission{Deny: systemDenyImports()},
	}
}

// systemBroadcasts are the subjects on which every server tells every
// other one, unasked and periodically, about itself: its stats every 10
// seconds (STATSZ), the connections of its accounts every 30, and its
// shutdown. Between hubs they are a few messages; through every leaf,
// they would be the network's size in messages per leaf every 10
// seconds. A leaf's system account connection therefore neither sends nor
// receives them: requests (what the nats CLI sends, $SYS.REQ.>) and their
// answers still travel, so every server still answers
// `nats server list`.
var systemBroadcasts = []string{"$SYS.SERVER.>", "$SYS.ACCOUNT.*.SERVER.CONNS"}

// systemDenyImports are what a leaf does not take from its hub in the
// system account: the broadcasts, and requests that would act on the
// leaf's own server (the system user may not send them; a hub that lets
// them through is refused here too).
func systemDenyImports() []string {
	return append(append([]string{}, systemBroadcasts...),
		"$SYS.REQ.SERVER.*.KICK", "$SYS.REQ.SERVER.*.LDM", "$SYS.REQ.SERVER.*.RELOAD",
		"$SYS.REQ.ACCOUNT.*.CLAIMS.>", "$SYS.ACCOUNT.*.CLAIMS.>", "$SYS.REQ.CLAIMS.>")
}

// globalLeaves selects the leaf node connections of the global account.
var globalLeaves = &server.LeafzOptions{Account: server.DEFAULT_GLOBAL_ACCOUNT}

// hubRemotes are a leaf's leaf node remotes for the hubs at urls: one for
// the global account and, with system, one for the system account, each
// with every hub (NATS picks one and fails over to the others; in their
// order if ordered).
// [Config.secure] gives them their credentials and TLS.
func hubRemotes(urls []*url.URL, system, ordered bool) []*server.RemoteLeafOpts {
	global := &server.RemoteLeafOpts{URLs: urls, NoRandomize: ordered, Compression: noCompression,
		DenyImports: slices.Clone(localSubjects), DenyExports: slices.Clone(localSubjects)}
	if !system {
		return []*server.RemoteLeafOpts{global}
	}
	sys := make([]*url.URL, len(urls))
	for i, u := range urls {
		c := *u
		sys[i] = &c
	}
	return []*server.RemoteLeafOpts{
		global,
		{
			URLs:         sys,
			NoRandomize:  ordered,
			LocalAccount: SystemAccount,
			DenyImports:  systemDenyImports(),
			DenyExports:  append([]string{}, systemBroadcasts...),
			Compression:  noCompression,
		},
	}
}

// accounts gives opts the system account and the users who may connect
// to it, beside the global account, and says who becomes what. Hubs have
// it, and leaves that join it (SystemLeaf); another leaf has none: alone
// there, it could only ever list its own server, and it costs a leaf
// about 1 MB and a share of its idle CPU.
//
//   - without a secret, a client with no credentials (or the user
//     appnet, no password) gets the global account, as before; the user
//     sys with [OpenSystemPassword] the system account. Leaf node
//     connections of other servers are authenticated as clients are; a
//     leaf's system account connection is the user appnet-sys, with that
//     password and leafSystemPermissions.
//   - with a secret, a client presenting the secret as its token gets the
//     global account, and the user sys with the password derived from the
//     secret the system account ([secretAuth]); anything else is refused.
//     Leaf node connections present the user appnet with the secret as
//     password (global account), or the user appnet-sys with the system
//     user's password (the system account, with leafSystemPermissions).
//
// secure calls it; it returns the system user's password.
func (cfg Config) accounts(opts *server.Options) string {
	sysPass := cfg.systemPassword()
	hub := opts.LeafNode.Port != 0
	users := []*server.User{{Username: openUser}}
	var leafUser *server.User // a leaf's system account connection, at a hub
	opts.NoSystemAccount, opts.SystemAccount, opts.Accounts = true, "", nil
	if hub || cfg.SystemLeaf {
		opts.NoSystemAccount, opts.SystemAccount = false, SystemAccount
		opts.Accounts = []*server.Account{server.NewAccount(SystemAccount)}
		leafUser = &server.User{Username: leafSystemUser, Password: sysPass, Account: opts.Accounts[0], Permissions: leafSystemPermissions()}
		users = append(users,
			&server.User{Username: SystemUser, Password: sysPass, Account: opts.Accounts[0], Permissions: systemPermissions()},
			leafUser)
	}
	if cfg.Secret == "" {
		opts.Users, opts.NoAuthUser = users, openUser
		return sysPass
	}
	opts.Authorization = ""
	if _, ok := opts.CustomClientAuthentication.(*secretAuth); !ok {
		// A reload keeps the running server's authenticator anyway.
		opts.CustomClientAuthentication = &secretAuth{token: cfg.Secret, sysPass: sysPass}
	}
	if hub {
		opts.LeafNode.Username, opts.LeafNode.Password = "", ""
		opts.LeafNode.Users = []*server.User{{Username: routeUser, Password: cfg.Secret}, leafUser}
	}
	return sysPass
}

// secretAuth authenticates the clients of a server with a secret: the
// secret as token for the global account, or the system user and its
// password for the system account. nats-server's own users and token
// cannot say this: with a users list and a second account it lets clients
// without credentials in (as a no_auth_user it makes up), which a network
// with a secret must never do.
type secretAuth struct {
	token, sysPass string
	ns             atomic.Pointer[server.Server] // set once the server exists, before it accepts anyone
}

// Check implements [server.Authentication].
func (a *secretAuth) Check(c server.ClientAuthentication) bool {
	o := c.GetOpts()
	if o.Username == SystemUser {
		ns := a.ns.Load()
		if ns == nil || !equal(o.Password, a.sysPass) {
			return false
		}
		sys := ns.SystemAccount()
		if sys == nil {
			return false
		}
		c.RegisterUser(&server.User{Username: SystemUser, Account: sys, Permissions: systemPermissions()})
		return true
	}
	return equal(o.Token, a.token)
}

// equal compares in constant time.
func equal(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// bind tells the authenticator of opts, if it needs one, which server it
// authenticates for.
func bind(opts *server.Options, ns *server.Server) {
	if a, ok := opts.CustomClientAuthentication.(*secretAuth); ok {
		a.ns.Store(ns)
	}
}
