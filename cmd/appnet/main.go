package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `appnet: peer-to-peer calls and events over NATS

usage:
  appnet serve                            run a peer with the default connections until interrupted
  appnet peers [--json|--graph] [--on-host]
                                          list the peers on the network (a table, JSON, or the route mesh as DOT)
  appnet info [--via host:port] [--timeout d] <peer>
                                          show a peer's info
  appnet call [--via host:port] [--timeout d] <peer> <connection> [json]
                                          call a connection on a peer, print its JSON answer
  appnet emit [--hub] [--headers] <group> <event> [json]
                                          emit one event as a peer of the group
  appnet listen [--group G]... [--peer ID]... [--hubs-only] [--on-host] <event>
                                          print every event heard, with its emitter and time
  appnet certs [--hosts a,b] [--days n] <dir>
                                          write a throwaway CA and peer certificate for NET_TLS_*
  appnet ca [file]                        write the CA certificate NET_SECRET derives (for nats --tlsca)
  appnet demo                             start three peers on 127.0.0.1, call across them, stop them

Configuration: NET_HOST, NET_PORT_START, NET_PORT_RANGE, NET_GROUP, NET_IS_HUB,
NET_DEV, NET_THREAD_LIMIT, NET_SCAN, NET_SCAN_TIMEOUT, NET_SECRET,
NET_TLS_CERT, NET_TLS_KEY, NET_TLS_CA (see the README).
`

// errUsage marks an error in how the command was called: exit code 2.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "appnet:", err)
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "appnet:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: no command", errUsage)
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(ctx, args, stdout)
	case "peers":
		return peers(ctx, args, stdout, stderr)
	case "info":
		return info(ctx, args, stdout)
	case "call":
		return call(ctx, args, stdout)
	case "emit":
		return emit(ctx, args, stdout)
	case "listen":
		return listen(ctx, args, stdout)
	case "certs":
		return certsCmd(ctx, args, stdout)
	case "ca":
		return caCmd(ctx, args, stdout)
	case "demo":
		return demo(ctx, args, stdout)
	case demoPeerCommand:
		return demoPeer(ctx, args, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
}

// parse parses a subcommand's flags and checks its number of arguments.
func parse(fs *flag.FlagSet, args []string, minArgs, maxArgs int) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %s: %v", errUsage, fs.Name(), err)
	}
	if n := fs.NArg(); n < minArgs || n > maxArgs {
		want := fmt.Sprintf("%d to %d arguments", minArgs, maxArgs)
		if minArgs == maxArgs {
			want = plural(minArgs, "argument")
		}
		return fmt.Errorf("%w: %s takes %s, got %d", errUsage, fs.Name(), want, n)
	}
	return nil
}

// plural returns "1 thing" or "n things".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
