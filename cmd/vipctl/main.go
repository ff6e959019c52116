// Command vipctl shows what vipd is doing.
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

func run(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("vipctl", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.SetInterspersed(true)
	socket := fs.String("socket", control.DefaultSocket, "vipd's control socket")
	asJSON := fs.Bool("json", false, "print the status as JSON")
	version := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: vipctl [--socket PATH] status [--json]\n\n%s", fs.FlagUsages())
	}
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
	if fs.NArg() != 1 || fs.Arg(0) != "status" {
		fs.Usage()
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := control.Fetch(ctx, *socket)
	if err != nil {
		fmt.Fprintf(stderr, "vipctl: cannot read vipd's status at %s: %v\n(is vipd running on this host? does --socket match its --control-socket?)\n", *socket, err)
		return 1
	}
	if *asJSON {
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
