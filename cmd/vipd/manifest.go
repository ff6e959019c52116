package main

import (
	"errors"
	"fmt"
	"github.com/vipd/vipd/config"
	"io"
	"time"

	"github.com/spf13/pflag"

	"github.com/vipd/vipd/health"
	"github.com/vipd/vipd/manifests"
)

// manifest prints a static pod manifest or a systemd unit that runs vipd with the
// flags given, after validating them as the daemon would.
func manifest(args []string, stdout, stderr io.Writer) int {
	usage := "usage: vipd manifest pod --image REF [vipd flags]\n       vipd manifest systemd [--binary PATH] [vipd flags]\n"
	if len(args) == 0 || (args[0] != "pod" && args[0] != "systemd") {
		fmt.Fprint(stderr, usage)
		return 2
	}
	kind := args[0]
	fs := pflag.NewFlagSet("vipd manifest "+kind, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	flags := config.NewFlags(fs)
	image := fs.String("image", "", "pod: the vipd image, such as localhost/vipd:dev")
	binary := fs.String("binary", manifests.DefaultBinaryPath, "systemd: path of the vipd binary")
	noTrack := fs.Bool("no-track-apiserver", false, "do not add --track-apiserver="+health.DefaultAPIServerURL)
	fs.Usage = func() { fmt.Fprintf(stderr, "%s\n%s", usage, fs.FlagUsages()) }
	if err := fs.Parse(args[1:]); err != nil {
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
	if kind == "pod" && *image == "" {
		fmt.Fprintln(stderr, "vipd: --image: missing; give the image reference, such as localhost/vipd:dev")
		return 2
	}
	cfg, err := flags.Config()
	if err != nil {
		fmt.Fprintf(stderr, "vipd: %v\n", err)
		return 2
	}
	grace := stopGrace(cfg)
	vipdArgs := flags.Args("image", "binary", "no-track-apiserver")
	// A control-plane VIP follows the local apiserver unless told otherwise.
	if !*noTrack && !fs.Changed("track-apiserver") && !fs.Changed("config") {
		vipdArgs = append(vipdArgs, "--track-apiserver="+health.DefaultAPIServerURL)
	}
	var out []byte
	if kind == "pod" {
		out, err = manifests.Pod{Image: *image, Args: vipdArgs, TerminationGracePeriod: grace}.Render()
	} else {
		out, err = manifests.Unit{BinaryPath: *binary, Args: vipdArgs, TimeoutStopSec: grace}.Render()
	}
	if err != nil {
		fmt.Fprintf(stderr, "vipd: %v\n", err)
		return 2
	}
	_, _ = stdout.Write(out)
	return 0
}

// stopGrace is how long the kubelet or systemd must let vipd stop before
// killing it: the zero-loss hand-off keeps the VIPs until the new master is
// heard, at most Master_Down_Interval (under 4 advert intervals) and a
// second's margin, then the stop notify commands run (two hook timeouts at
// most), with room to spare. Never less than the default.
func stopGrace(cfg *config.Config) time.Duration {
	var longest time.Duration
	for _, in := range cfg.Instances {
		d := 4*in.AdvertInterval + time.Second
		if len(in.Notify) > 0 || len(in.NotifyStop) > 0 || len(in.NotifyMaster) > 0 || len(in.NotifyBackup) > 0 || len(in.NotifyFault) > 0 {
			d += 62 * time.Second
		}
		longest = max(longest, d)
	}
	grace := max(manifests.DefaultTerminationGracePeriod, longest+5*time.Second)
	return grace.Round(time.Second)
}
