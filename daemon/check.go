package daemon

import (
	"errors"
	"fmt"

	"github.com/vipd/vipd/config"
	"github.com/vipd/vipd/netlink"
)

// Check validates cfg against this host as the daemon would find it, for
// `vipd check` (as `keepalived -t` does): every interface exists and has a
// source address for adverts, the address owner has its addresses, the
// state directory is usable. It returns one error per problem, each a
// config.FieldError naming the field, or an error opening netlink. Unlike
// Run, which waits for a missing interface, Check reports it.
func Check(cfg *config.Config) []error {
	if err := cfg.Validate(); err != nil {
		return []error{err}
	}
	nl, err := netlink.Open()
	if err != nil {
		return []error{fmt.Errorf("daemon: %w", err)}
	}
	defer nl.Close()
	return check(cfg, nl)
}

func check(cfg *config.Config, links linkWatcher) []error {
	var errs []error
	for _, in := range cfg.Instances {
		l, prefixes, err := links.LinkByName(in.Interface)
		if err != nil {
			fix := "create it, or name an existing interface (ip link)"
			if !errors.Is(err, netlink.ErrNoLink) {
				fix = ""
			}
			errs = append(errs, config.NewFieldError(in.Field("interface"), fix, "%q: %v", in.Interface, err))
			continue
		}
		_, problem := pickSource(in.Family(), in.Source, in.VIPs, in.Priority == 255, in.Peers, prefixes, nil)
		if problem != "" {
			field := in.Field("interface")
			if in.Source.IsValid() {
				field = in.Field("source")
			} else if in.Priority == 255 {
				field = in.Field("priority")
			}
			errs = append(errs, config.NewFieldError(field, "", "%s: %s", in.Interface, problem))
		}
		if !l.Up {
			errs = append(errs, config.NewFieldError(in.Field("interface"), "bring it up (ip link set dev "+in.Interface+" up); vipd waits for it in FAULT meanwhile", "%s has no link", in.Interface))
		}
	}
	return errs
}
