// Command appnet runs, finds, inspects and calls appnet peers.
//
//	appnet serve                          run a peer with the default connections until interrupted
//	appnet peers [--json|--graph] [--on-host]  list the peers on the network (NET_SCAN, else the neighbour table)
//	appnet info <peer>                    show a peer's info
//	appnet call <peer> <connection> [json]  call a connection on a peer and print its JSON answer
//	appnet emit [--hub] [--headers] <group> <event> [json]  emit one event as a peer of the group
//	appnet listen [--group G] [--peer ID] [--hubs-only] [--on-host] <event>  print every event heard
//	appnet certs <dir>                    write a throwaway CA and peer certificate for trying TLS
//	appnet demo                           start three peers on 127.0.0.1, call across them, stop them
//
// Configuration comes from the NET_* environment variables (see the
// README). A peer is named by its ID.
package main
