// Command vipd holds a virtual IP for a Kubernetes control plane with VRRP
// (RFC 9568, RFC 3768), and prints the static pod or systemd unit that runs it.
package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/vipd/vipd/config"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/vipd/vipd/control"
	"github.com/vipd/vipd/daemon"
)

func main() {
	setRuntimeDefaults()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run returns the exit code: 0, 1 for a runtime failure, 2 for bad input.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "manifest" {
		return manifest(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "check" {
		return check(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "convert" {
		return convert(args[1:], stdout, stderr)
	}
	fs := pflag.NewFlagSet("vipd", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	flags := config.NewFlags(fs)
	version := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: vipd --interface IF --vip ADDR --vrid N --priority P [flags]\n"+
			"       vipd --config FILE\n"+
			"       vipd manifest pod|systemd [flags]\n"+
			"       vipd check --config FILE\n"+
			"       vipd convert keepalived [--root DIR] FILE\n\n%s", fs.FlagUsages())
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "vipd: %v\n", err)
		return 2
	}
	if *version {
		fmt.Fprintln(stdout, "vipd", control.Version)
		return 0
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
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	logger := config.NewLogger(cfg, stderr)
	// SIGHUP re-reads --config (the flags given on the command line keep
	// winning over the file); a closed terminal therefore reloads, never
	// kills vipd with its VIP on the host.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	reload := make(chan struct{}, 1)
	go func() {
		for range hup {
			if flags.ConfigFile() == "" {
				logger.Warn("SIGHUP: no --config to re-read; nothing to reload (change flags with a restart, which hands off with zero loss)")
				continue
			}
			logger.Info("SIGHUP: reloading", "config", flags.ConfigFile())
			select {
			case reload <- struct{}{}:
			default: // one pending is enough
			}
		}
	}()
	returnStartupMemory()
	if err := daemon.Run(ctx, cfg, logger, daemon.Reload{C: reload, Load: flags.Config}); err != nil {
		fmt.Fprintf(stderr, "vipd: %v\n", err)
		if errors.Is(err, config.ErrConfig) {
			return 2
		}
		return 1
	}
	return 0
}
