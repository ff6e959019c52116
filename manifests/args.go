package manifests

import (
	"fmt"
	"strings"
)

// checkArgs rejects arguments that no manifest can carry faithfully: a
// control character (a newline, a NUL) in a flag is a mistake, and systemd
// cannot be given one on an ExecStart= line without an escape that YAML
// would show differently.
func checkArgs(args []string) error {
	for i, a := range args {
		if j := strings.IndexFunc(a, isControl); j >= 0 {
			return fmt.Errorf("manifests: argument %d %q: control character %q: give the value without newlines or other control characters", i+1, a, a[j])
		}
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// flagValue returns the value of --name in args, in either of pflag's forms
// (--name=value, --name value), the last one winning as in pflag.
func flagValue(args []string, name string) (value string, ok bool) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		switch {
		case a == "--"+name && i+1 < len(args):
			value, ok = args[i+1], true
			i++
		case strings.HasPrefix(a, "--"+name+"="):
			value, ok = strings.TrimPrefix(a, "--"+name+"="), true
		}
	}
	return value, ok
}
