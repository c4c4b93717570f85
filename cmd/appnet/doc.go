// Command appnet runs a peer, finds peers, calls their connections, emits
// and listens to events, and shows a demo of it all.
//
//	usage: appnet <command> [flags] [arguments]
//
//	  appnet serve                               run a peer with the default connections until interrupted
//	  appnet peers [--on-host] [--json|--graph]  list the peers: a table, JSON, or the route mesh as Graphviz DOT
//	  appnet info [--via P] [--timeout d] <peer>
//	                                             print a peer's info (JSON)
//	  appnet call [--via P] [--timeout d] <peer> <connection> [json]
//	                                             call a connection on a peer, print its JSON answer
//	  appnet emit [--via P] [--hub] [--headers] [--json] <group> <event> [json]
//	                                             emit one event as a peer of the group (--headers: with
//	                                             the Net-Emitter and Net-Event headers)
//	  appnet listen [--via P] [--group G]... [--peer P]... [--hubs-only] [--on-host] [--json] <event>
//	                                             print every event heard: time, emitter, event, value
//	  appnet watch [--via P] [--group G]... [--all-groups] [--hubs-only] [--on-host] [--value k=v]... [--json]
//	                                             print every change of the network: time, kind (joined,
//	                                             left, failed, updated, resync), ID, host:port, group, hub
//	  appnet wait [--via P] [filters of watch] [--serving C] [--count n] [--timeout d] [--json]
//	                                             wait until n peers that match answer, print them
//	  appnet certs [--hosts a,b] [--days n] <dir>
//	                                             write a throwaway CA and peer certificate for NET_TLS_*
//	  appnet ca [file]                           write the CA certificate NET_SECRET derives (for nats --tlsca)
//	  appnet syspass                             print the system user's password (for nats server list)
//	  appnet demo                                three peer processes on loopback: discovery, calls,
//	                                             flags, an event, group calls
//	  appnet help                                print this text
//
//	Flags may come before or after the arguments; every command takes --verbose.
//	A peer (<peer>, --via, --peer) is its ID, its host:port, or a unique prefix
//	of its ID; --verbose says what it resolved to.
//
//	emit and listen attach to a peer running on this host, as a client of its
//	server (holding no port), and start a peer of their own only when none
//	runs; --via P attaches to P. call and info reach the peer through its own
//	server, or through P's with --via. --verbose says which.
//
//	Exit status: 0 success; 1 a remote or runtime failure (the message says
//	why); 2 a usage error (an unknown command or flag, a wrong number of
//	arguments, an argument that is not what the command takes).
//
//	Configuration: the NET_* environment variables (see the README).
//
// The usage text above is what `appnet help` prints; a test keeps it, and
// the README's CLI section, identical to it.
package main
