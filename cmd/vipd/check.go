package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/vipd/vipd/config"
	"github.com/vipd/vipd/daemon"
)

// check validates a configuration, including against this host's interfaces
// and addresses, and exits 2 naming each field at fault (like keepalived -t).
func check(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("vipd check", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	flags := config.NewFlags(fs)
	static := fs.Bool("static", false, "check only what needs no host (the file and flags), not the interfaces")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: vipd check --config FILE [--static]\n       vipd check [vipd flags]\n\n%s", fs.FlagUsages())
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "vipd: %v\n", err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "vipd: unexpected argument %q; flags start with --\n", fs.Arg(0))
		return 2
	}
	cfg, err := flags.Config()
	if err != nil {
		fmt.Fprintf(stderr, "vipd: %v\n", err)
		return 2
	}
	if !*static {
		errs := daemon.Check(cfg)
		for _, err := range errs {
			fmt.Fprintf(stderr, "vipd: %v\n", err)
		}
		if len(errs) > 0 {
			for _, err := range errs {
				if !errors.Is(err, config.ErrConfig) {
					return 1
				}
			}
			return 2
		}
	}
	fmt.Fprintf(stdout, "vipd: configuration OK (%d instance(s))\n", len(cfg.Instances))
	return 0
}
