package keepalived

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// output is the converted config, written as YAML by hand so that it reads in
// the order of the README's example.
type output struct {
	instances []*outInstance
}

func (o *output) yaml() []byte {
	var b bytes.Buffer
	b.WriteString("# vipd config converted from keepalived.conf by `vipd convert keepalived`.\n")
	b.WriteString("# Read the notes it printed on stderr before you use it.\n")
	b.WriteString("instances:\n")
	for _, in := range o.instances {
		w := func(indent, key string, v any) { fmt.Fprintf(&b, "%s%s: %s\n", indent, key, scalar(v)) }
		w("- ", "name", in.name)
		const ind = "  "
		w(ind, "interface", in.iface)
		w(ind, "vrid", in.vrid)
		w(ind, "priority", in.priority)
		w(ind, "vrrpVersion", in.version)
		w(ind, "advertInterval", in.advert)
		if in.authPass != "" {
			fmt.Fprintf(&b, "%sauthPass: %s\n", ind, quote(in.authPass))
		}
		list(&b, ind, "vips", in.vips)
		list(&b, ind, "peers", in.peers)
		if in.source.IsValid() {
			w(ind, "source", in.source)
		}
		if in.nopreempt {
			w(ind, "preempt", false)
		}
		if in.preemptDelay > 0 {
			w(ind, "preemptDelay", in.preemptDelay)
		}
		if in.garpCount > 0 || in.garpRefresh > 0 {
			b.WriteString(ind + "garp:\n")
			if in.garpCount > 0 {
				w(ind+"  ", "count", in.garpCount)
			}
			if in.garpRefresh > 0 {
				w(ind+"  ", "refresh", in.garpRefresh)
			}
		}
		for i, key := range []string{"notify", "notifyMaster", "notifyBackup", "notifyFault", "notifyStop"} {
			if cmd := in.notify[i]; len(cmd) > 0 {
				fmt.Fprintf(&b, "%s%s: %s\n", ind, key, flow(cmd))
			}
		}
		if len(in.checks) > 0 {
			b.WriteString(ind + "checks:\n")
			for _, c := range in.checks {
				w(ind+"- ", "name", c.name)
				ci := ind + "  "
				if c.https != "" {
					w(ci, "https", c.https)
				} else {
					fmt.Fprintf(&b, "%sexec: %s\n", ci, flow(c.exec))
				}
				w(ci, "interval", c.interval)
				w(ci, "timeout", c.timeout)
				w(ci, "rise", c.rise)
				w(ci, "fall", c.fall)
				w(ci, "weight", c.weight)
			}
		}
		if len(in.ifaces) > 0 {
			b.WriteString(ind + "trackInterfaces:\n")
			for _, t := range in.ifaces {
				w(ind+"- ", "interface", t.name)
				if t.weight > 0 {
					w(ind+"  ", "weight", t.weight)
				}
			}
		}
	}
	return b.Bytes()
}

func list(b *bytes.Buffer, ind, key string, addrs []netip.Addr) {
	if len(addrs) == 0 {
		return
	}
	b.WriteString(ind + key + ":\n")
	for _, a := range addrs {
		fmt.Fprintf(b, "%s- %s\n", ind, scalar(a))
	}
}

func flow(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = scalar(w)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// plain is what YAML reads back as the same string without quotes.
var plain = regexp.MustCompile(`^[A-Za-z0-9_./][A-Za-z0-9_./-]*$`)

// scalar writes v as YAML: numbers and booleans plain, durations as Go
// durations, strings plain only when YAML 1.1 cannot read them as anything else.
func scalar(v any) string {
	switch v := v.(type) {
	case int:
		return strconv.Itoa(v)
	case bool:
		return strconv.FormatBool(v)
	case time.Duration:
		return v.String()
	case netip.Addr:
		if v.Is6() {
			return quote(v.String())
		}
		return v.String()
	case string:
		if plain.MatchString(v) && !yamlSpecial(v) {
			return v
		}
		return quote(v)
	}
	return quote(fmt.Sprint(v))
}

func yamlSpecial(s string) bool {
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return true
	}
	switch strings.ToLower(s) {
	case "y", "n", "yes", "no", "on", "off", "true", "false", "null", ".inf", ".nan":
		return true
	}
	return false
}

// quote writes a double-quoted YAML string (JSON's escapes are YAML's).
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
