package main

import (
	"errors"
	"fmt"
	"github.com/vipd/vipd/config"
	"io"

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
	if _, err := flags.Config(); err != nil {
		fmt.Fprintf(stderr, "vipd: %v\n", err)
		return 2
	}
	vipdArgs := flags.Args("image", "binary", "no-track-apiserver")
	// A control-plane VIP follows the local apiserver unless told otherwise.
	if !*noTrack && !fs.Changed("track-apiserver") && !fs.Changed("config") {
		vipdArgs = append(vipdArgs, "--track-apiserver="+health.DefaultAPIServerURL)
	}
	var out []byte
	var err error
	if kind == "pod" {
		out, err = manifests.Pod{Image: *image, Args: vipdArgs}.Render()
	} else {
		out, err = manifests.Unit{BinaryPath: *binary, Args: vipdArgs}.Render()
	}
	if err != nil {
		fmt.Fprintf(stderr, "vipd: %v\n", err)
		return 2
	}
	_, _ = stdout.Write(out)
	return 0
}
