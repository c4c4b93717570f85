package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// usage is the one CLI usage text: `appnet help` prints it, and a test
// keeps the README's CLI section and doc.go identical to it.
const usage = `usage: appnet <command> [flags] [arguments]

  appnet serve                               run a peer with the default connections until interrupted
  appnet peers [--on-host] [--json|--graph]  list the peers: a table, JSON, or the route mesh as Graphviz DOT
  appnet info [--via P] [--timeout d] <peer>
                                             print a peer's info (JSON)
  appnet call [--via P] [--timeout d] <peer> <connection> [json]
                                             call a connection on a peer, print its JSON answer
  appnet emit [--via P] [--hub] [--headers] [--json] <group> <event> [json]
                                             emit one event as a peer of the group (--headers: with
                                             the Net-Emitter and Net-Event headers)
  appnet listen [--via P] [--group G]... [--peer P]... [--hubs-only] [--on-host] [--json] <event>
                                             print every event heard: time, emitter, event, value
  appnet watch [--via P] [--group G]... [--all-groups] [--hubs-only] [--on-host] [--value k=v]... [--json]
                                             print every change of the network: time, kind (joined,
                                             left, failed, updated, resync), ID, host:port, group, hub
  appnet wait [--via P] [filters of watch] [--serving C] [--count n] [--timeout d] [--json]
                                             wait until n peers that match answer, print them
  appnet certs [--hosts a,b] [--days n] <dir>
                                             write a throwaway CA and peer certificate for NET_TLS_*
  appnet ca [file]                           write the CA certificate NET_SECRET derives (for nats --tlsca)
  appnet syspass                             print the system user's password (for nats server list)
  appnet demo                                three peer processes on loopback: discovery, calls,
                                             flags, an event, group calls
  appnet help                                print this text

Flags may come before or after the arguments; every command takes --verbose.
A peer (<peer>, --via, --peer) is its ID, its host:port, or a unique prefix
of its ID; --verbose says what it resolved to.

emit and listen attach to a peer running on this host, as a client of its
server (holding no port), and start a peer of their own only when none
runs; --via P attaches to P. call and info reach the peer through its own
server, or through P's with --via. --verbose says which.

Exit status: 0 success; 1 a remote or runtime failure (the message says
why); 2 a usage error (an unknown command or flag, a wrong number of
arguments, an argument that is not what the command takes).

Configuration: the NET_* environment variables (see the README).
`

// errUsage marks an error in how the command was called: exit code 2.
var errUsage = errors.New("usage")

// Exit codes: the contract of usage's last paragraph.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// exitCode prints err, if any, and returns the exit code it means.
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errUsage):
		fmt.Fprintln(stderr, "appnet:", err)
		fmt.Fprintln(stderr, "run 'appnet help' for the commands and their flags")
		return exitUsage
	default:
		fmt.Fprintln(stderr, "appnet:", err)
		return exitFailure
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: no command", errUsage)
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(ctx, args, stdout, stderr)
	case "peers":
		return peers(ctx, args, stdout, stderr)
	case "info":
		return info(ctx, args, stdout, stderr)
	case "call":
		return call(ctx, args, stdout, stderr)
	case "emit":
		return emit(ctx, args, stdout, stderr)
	case "listen":
		return listen(ctx, args, stdout, stderr)
	case "watch":
		return watch(ctx, args, stdout, stderr)
	case "wait":
		return wait(ctx, args, stdout, stderr)
	case "certs":
		return certsCmd(ctx, args, stdout, stderr)
	case "ca":
		return caCmd(ctx, args, stdout, stderr)
	case "syspass":
		return sysPassCmd(ctx, args, stdout, stderr)
	case "demo":
		return demo(ctx, args, stdout, stderr)
	case demoPeerCommand:
		return demoPeer(ctx, args, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
}
