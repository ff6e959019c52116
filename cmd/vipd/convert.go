package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/vipd/vipd/keepalived"
)

const convertUsage = "usage: vipd convert keepalived [--root DIR] FILE\n"

// convert prints the vipd config equivalent to a keepalived.conf on stdout, and
// one line on stderr for every directive it dropped or changed.
func convert(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "keepalived" {
		fmt.Fprint(stderr, convertUsage)
		return 2
	}
	fs := pflag.NewFlagSet("vipd convert keepalived", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", "/", "directory that absolute paths in FILE (includes, scripts) are read under, for a copy of another host's /etc")
	fs.Usage = func() { fmt.Fprintf(stderr, "%s\n%s", convertUsage, fs.FlagUsages()) }
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "vipd: %v\n", err)
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprint(stderr, convertUsage)
		return 2
	}
	res, err := keepalived.Convert(fs.Arg(0), keepalived.Options{Root: *root})
	if err != nil {
		fmt.Fprintf(stderr, "vipd: %v\n", err)
		return 2 // bad input: a file that does not parse or has no vipd equivalent
	}
	for _, n := range res.Notes {
		fmt.Fprintln(stderr, n)
	}
	_, _ = stdout.Write(res.YAML)
	return 0
}
