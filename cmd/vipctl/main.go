// Command vipctl shows what vipd is doing, and asks it for planned moves.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/vipd/vipd/control"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

const usage = `usage: vipctl [--socket PATH] status [--json]
       vipctl [--socket PATH] maintenance on|off [--instance NAME]
       vipctl [--socket PATH] resign [--instance NAME]

  status        what every instance is doing
  maintenance   on: hand the VIPs off with zero loss and advertise priority 1
                (kept across restarts); off: contend again
  resign        hand the VIPs off once, with zero loss; preemption may take
                them back later
`

// run returns the exit code: 0, 1 when vipd failed or is unreachable, 2 for
// bad usage.
func run(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("vipctl", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.SetInterspersed(true)
	socket := fs.String("socket", control.DefaultSocket, "vipd's control socket")
	asJSON := fs.Bool("json", false, "print the status as JSON")
	instance := fs.String("instance", "", "maintenance, resign: only this instance (default: all)")
	version := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() { fmt.Fprintf(stderr, "%s\n%s", usage, fs.FlagUsages()) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "vipctl: %v\n", err)
		return 2
	}
	if *version {
		fmt.Fprintln(stdout, "vipctl", control.Version)
		return 0
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	// A hand-off waits for nothing: the daemon answers once it has started it.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	switch cmd := fs.Arg(0); cmd {
	case "status":
		if fs.NArg() != 1 {
			fs.Usage()
			return 2
		}
		return status(ctx, *socket, *asJSON, stdout, stderr)
	case "maintenance":
		if fs.NArg() != 2 || (fs.Arg(1) != "on" && fs.Arg(1) != "off") {
			fmt.Fprintln(stderr, "vipctl: maintenance takes on or off")
			return 2
		}
		res, err := control.Maintenance(ctx, *socket, *instance, fs.Arg(1) == "on")
		return report(res, err, *socket, stdout, stderr)
	case "resign":
		if fs.NArg() != 1 {
			fs.Usage()
			return 2
		}
		res, err := control.Resign(ctx, *socket, *instance)
		return report(res, err, *socket, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "vipctl: unknown command %q\n", cmd)
		fs.Usage()
		return 2
	}
}

func status(ctx context.Context, socket string, asJSON bool, stdout, stderr io.Writer) int {
	st, err := control.Fetch(ctx, socket)
	if err != nil {
		unreachable(err, socket, stderr)
		return 1
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(st); err != nil {
			fmt.Fprintf(stderr, "vipctl: %v\n", err)
			return 1
		}
		return 0
	}
	if err := control.WriteTable(stdout, st, time.Now()); err != nil {
		fmt.Fprintf(stderr, "vipctl: %v\n", err)
		return 1
	}
	return 0
}

func report(res control.OpResult, err error, socket string, stdout, stderr io.Writer) int {
	for _, d := range res.Done {
		fmt.Fprintln(stdout, d)
	}
	if err != nil {
		if errors.Is(err, control.ErrUnreachable) {
			unreachable(err, socket, stderr)
		} else {
			fmt.Fprintf(stderr, "vipctl: %v\n", err)
		}
		return 1
	}
	return 0
}

func unreachable(err error, socket string, stderr io.Writer) {
	fmt.Fprintf(stderr, "vipctl: cannot read vipd's status at %s: %v\n(is vipd running on this host? does --socket match its --control-socket?)\n", socket, err)
}
