package keepalived

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"
)

// The kubeadm HA guide's check_apiserver.sh (and scripts shaped like it) only
// asks the local apiserver whether it answers:
//
//	errorExit() { echo "*** $*" 1>&2; exit 1; }
//	curl --silent --max-time 2 --insecure https://localhost:${APISERVER_DEST_PORT}/ -o /dev/null || errorExit "..."
//	if ip addr | grep -q ${APISERVER_VIP}; then curl ... https://${APISERVER_VIP}:${APISERVER_DEST_PORT}/ ...; fi
//
// vipd's built-in apiserver check does that better (/readyz, verified with the
// cluster CA, no shell), so such a script becomes one.
var (
	localURL   = regexp.MustCompile(`^https://(localhost|127\.0\.0\.1|\[::1\])(:([0-9]+|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?))?(/[^\s"']*)?$`)
	assignment = regexp.MustCompile(`^(export\s+)?([A-Za-z_][A-Za-z0-9_]*)=["']?([^"'\s]*)["']?$`)
	varRef     = regexp.MustCompile(`^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$`)
)

// apiserver turns ch into the built-in apiserver check when its script only
// curls the local apiserver.
func (c *converter) apiserver(ch *outCheck, s *script, pos Pos) {
	var lines []string
	what := "script"
	switch {
	case len(s.command) > 0 && (s.command[0] == "curl" || strings.HasSuffix(s.command[0], "/curl")):
		lines = []string{strings.Join(s.command, " ")}
		what = "the command"
	case len(s.command) == 1 && strings.HasPrefix(s.command[0], "/"):
		data, err := os.ReadFile(c.r.hostPath(s.command[0]))
		if err != nil {
			c.note(pos, "track_script %s: %s → an exec check (the script could not be read to see whether it only asks the local apiserver: %v)", s.name, s.command[0], err)
			return
		}
		lines = strings.Split(string(data), "\n")
	default:
		return
	}
	port, maxTime, ok := localCurl(lines)
	if !ok {
		return
	}
	portNote := ""
	if port == "" {
		port = "6443"
		portNote = " (the script's port is a variable it never sets: kubeadm's default 6443 is assumed, check it)"
	}
	ch.exec = nil
	ch.https = "https://127.0.0.1:" + port + "/readyz"
	if maxTime > 0 && maxTime < ch.timeout {
		ch.timeout = maxTime
	}
	c.note(pos, "track_script %s: %s only asks the local apiserver → the built-in apiserver check %s, verified with the cluster CA /etc/kubernetes/pki/ca.crt (where the script did not verify), with the script's interval, rise, fall and weight%s",
		s.name, what, ch.https, portNote)
}

// localCurl reports whether lines (a shell script, or one command) do nothing
// but curl the local apiserver, and its port, resolved from the script's
// assignments ("" when unknown), and curl's --max-time.
func localCurl(lines []string) (port string, maxTime time.Duration, ok bool) {
	vars := map[string]string{}
	curls, depth := 0, 0
	for _, raw := range lines {
		line := strings.TrimSpace(raw)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
			continue
		case strings.HasPrefix(line, "errorExit()") || strings.HasPrefix(line, "function errorExit"):
			if !strings.HasSuffix(line, "}") {
				depth++ // the guide's helper: echo and exit 1
			}
			continue
		case depth > 0 && (strings.HasPrefix(line, "echo ") || line == "exit 1" || line == "{"):
			continue
		case depth > 0 && line == "}":
			depth--
			continue
		case strings.HasPrefix(line, "if ip addr") && strings.HasSuffix(line, "then"):
			// The guide's second curl, to the VIP while this host holds it,
			// asks the same apiserver through the VIP: vipd's check covers it.
			depth++
			continue
		case depth > 0 && line == "fi":
			depth--
			continue
		}
		if m := assignment.FindStringSubmatch(line); m != nil {
			vars[m[2]] = m[3]
			continue
		}
		cmd, _, _ := strings.Cut(line, "||")
		words := strings.Fields(cmd)
		if len(words) == 0 || (words[0] != "curl" && !strings.HasSuffix(words[0], "/curl")) {
			return "", 0, false
		}
		local := false
		for i, w := range words[1:] {
			w = strings.Trim(w, `"'`)
			if m := localURL.FindStringSubmatch(w); m != nil {
				local = true
				p := m[3]
				if v := varRef.FindStringSubmatch(p); v != nil {
					p = vars[v[1]]
				}
				if p == "" && m[3] == "" {
					p = "443"
				}
				port = p
			} else if strings.HasPrefix(w, "https://") || strings.HasPrefix(w, "http://") {
				if depth == 0 {
					return "", 0, false // another host: not only the local apiserver
				}
			}
			if (w == "--max-time" || w == "-m") && i+2 < len(words) {
				var secs float64
				if _, err := fmt.Sscanf(words[i+2], "%g", &secs); err == nil && secs > 0 {
					maxTime = time.Duration(secs * float64(time.Second))
				}
			}
		}
		if !local && depth == 0 {
			return "", 0, false
		}
		if depth == 0 {
			curls++
		}
	}
	return port, maxTime, curls > 0 && depth == 0
}
