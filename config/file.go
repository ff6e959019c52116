package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"
)

// fileConfig is the YAML config file. Unknown keys are errors.
type fileConfig struct {
	ControlSocket  *string        `json:"controlSocket"`
	StateDir       *string        `json:"stateDir"`
	MetricsAddress *string        `json:"metricsAddress"`
	LogFormat      *string        `json:"logFormat"`
	LogLevel       *string        `json:"logLevel"`
	Instances      []fileInstance `json:"instances"`
}

type fileInstance struct {
	Name           string      `json:"name"`
	Interface      string      `json:"interface"`
	VRID           int         `json:"vrid"`
	Priority       *int        `json:"priority"`
	VIPs           []string    `json:"vips"`
	AdvertInterval *duration   `json:"advertInterval"`
	VRRPVersion    *int        `json:"vrrpVersion"`
	Peers          []string    `json:"peers"`
	Source         string      `json:"source"`
	Preempt        *bool       `json:"preempt"`
	PreemptDelay   *duration   `json:"preemptDelay"`
	Checksum       string      `json:"checksum"`
	GARP           *fileGARP   `json:"garp"`
	AuthType       string      `json:"authType"`
	AuthPass       *string     `json:"authPass"`
	Notify         command     `json:"notify"`
	NotifyMaster   command     `json:"notifyMaster"`
	NotifyBackup   command     `json:"notifyBackup"`
	NotifyFault    command     `json:"notifyFault"`
	NotifyStop     command     `json:"notifyStop"`
	Checks         []fileCheck `json:"checks"`
	// TrackInterfaces become checks of kind "interface".
	TrackInterfaces []fileTrackInterface `json:"trackInterfaces"`
}

type fileTrackInterface struct {
	Interface string `json:"interface"`
	Name      string `json:"name"`
	// Weight omitted (or 0): the instance goes to FAULT while the link is down.
	Weight *int `json:"weight"`
}

type fileGARP struct {
	Count    *int      `json:"count"`
	Interval *duration `json:"interval"`
	Refresh  *duration `json:"refresh"`
}

type fileCheck struct {
	Name       string   `json:"name"`
	HTTPS      string   `json:"https"`
	HTTP       string   `json:"http"`
	TCP        string   `json:"tcp"`
	Exec       []string `json:"exec"`
	CAFile     string   `json:"caFile"`
	Cert       string   `json:"cert"`
	Key        string   `json:"key"`
	ServerName string   `json:"serverName"`
	Interval   duration `json:"interval"`
	Timeout    duration `json:"timeout"`
	Rise       int      `json:"rise"`
	Fall       int      `json:"fall"`
	// Weight omitted: DefaultCheckWeight, or for https/http a tier check
	// (Check.Tier); 0: a fault check.
	Weight *int `json:"weight"`
}

// command is a command line: a list (argv), or a string split on spaces.
type command []string

func (c *command) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*c = commandLine(s)
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return fmt.Errorf("write a command as a list, such as [/usr/local/bin/hook, arg], or as one string")
	}
	*c = l
	return nil
}

// duration reads "1s", "500ms" and the like.
type duration time.Duration

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("write a duration in quotes, such as \"1s\" or \"100ms\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration; write one such as \"1s\" or \"100ms\"", s)
	}
	*d = duration(v)
	return nil
}

func parseFile(path string, data []byte) (*fileConfig, error) {
	field := func(p string) string { return fmt.Sprintf("--config %s: %s", path, p) }
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fieldErr(field("(syntax)"), "fix the YAML syntax", "%v", err)
	}
	var raw any
	if err := json.Unmarshal(js, &raw); err != nil {
		return nil, fieldErr(field("(syntax)"), "fix the YAML syntax", "%v", err)
	}
	if err := checkKeys(raw, reflect.TypeFor[fileConfig](), ""); err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			fe.Field = field(fe.Field)
		}
		return nil, err
	}
	var fc fileConfig
	if err := json.Unmarshal(js, &fc); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, fieldErr(field(te.Field), fmt.Sprintf("write a %s", kindName(te.Type)), "got a %s", te.Value)
		}
		return nil, fieldErr(field("(value)"), "", "%v", err)
	}
	if len(fc.Instances) == 0 {
		return nil, fieldErr(field("instances"), "list at least one instance", "no instances")
	}
	return &fc, nil
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int64:
		return "whole number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "string"
	case reflect.Slice:
		return "list"
	case reflect.Struct:
		return "mapping"
	}
	return t.String()
}

// checkKeys walks the decoded document against the struct's json tags so that an
// unknown key is reported with its full path and the nearest known key.
func checkKeys(v any, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return nil // the typed decode reports the mismatch
		}
		known := map[string]reflect.Type{}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name != "" && name != "-" {
				known[name] = f.Type
			}
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			ft, ok := known[k]
			p := joinPath(path, k)
			if !ok {
				names := make([]string, 0, len(known))
				for n := range known {
					names = append(names, n)
				}
				slices.Sort(names)
				fix := "known keys here: " + strings.Join(names, ", ")
				if near := nearest(k, names); near != "" {
					fix = fmt.Sprintf("did you mean %q?", near)
				}
				return fieldErr(p, fix, "unknown key")
			}
			if err := checkKeys(m[k], ft, p); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			return nil
		}
		l, ok := v.([]any)
		if !ok {
			return nil
		}
		for i, e := range l {
			if err := checkKeys(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

func joinPath(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

// nearest returns the known name within edit distance 2 of k, if any.
func nearest(k string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if d := editDistance(strings.ToLower(k), strings.ToLower(n)); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance: insertions, deletions,
// substitutions and swaps of neighbours ("vird" is one swap from "vrid").
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// apply fills cfg from the file; global flags given on the command line win.
func (fc *fileConfig) apply(cfg *Config, fs *pflag.FlagSet) {
	setString := func(flag string, dst *string, v *string) {
		if v != nil && !fs.Changed(flag) {
			*dst = *v
		}
	}
	setString("control-socket", &cfg.ControlSocket, fc.ControlSocket)
	setString("state-dir", &cfg.StateDir, fc.StateDir)
	setString("metrics-address", &cfg.MetricsAddress, fc.MetricsAddress)
	setString("log-format", &cfg.LogFormat, fc.LogFormat)
	setString("log-level", &cfg.LogLevel, fc.LogLevel)
	for i, fi := range fc.Instances {
		cfg.Instances = append(cfg.Instances, fi.instance(i))
	}
}

// instance converts one file entry. Values that fail to parse are kept invalid so
// that Validate reports them by their path; addresses are checked here.
func (fi *fileInstance) instance(i int) Instance {
	prefix := fmt.Sprintf("instances[%d].", i)
	in := Instance{
		Name:             fi.Name,
		Interface:        fi.Interface,
		VRID:             fi.VRID,
		Priority:         100,
		AdvertInterval:   DefaultAdvertInterval,
		Version:          DefaultVersion,
		Preempt:          true,
		Checksum:         ChecksumPseudoHeader,
		AnnounceCount:    DefaultAnnounceCount,
		AnnounceInterval: DefaultAnnounceInterval,
		Notify:           fi.Notify,
		NotifyMaster:     fi.NotifyMaster,
		NotifyBackup:     fi.NotifyBackup,
		NotifyFault:      fi.NotifyFault,
		NotifyStop:       fi.NotifyStop,
		field:            func(key string) string { return prefix + fileKey(key) },
	}
	if in.Name == "" {
		in.Name = fmt.Sprintf("vrid-%d", fi.VRID)
	}
	if fi.Priority != nil {
		in.Priority = *fi.Priority
	}
	if fi.AdvertInterval != nil {
		in.AdvertInterval = time.Duration(*fi.AdvertInterval)
	}
	if fi.VRRPVersion != nil {
		in.Version = *fi.VRRPVersion
	}
	if fi.Preempt != nil {
		in.Preempt = *fi.Preempt
	}
	if fi.PreemptDelay != nil {
		in.PreemptDelay = time.Duration(*fi.PreemptDelay)
	}
	if fi.Checksum != "" {
		in.Checksum = fi.Checksum
	}
	if g := fi.GARP; g != nil {
		if g.Count != nil {
			in.AnnounceCount = *g.Count
		}
		if g.Interval != nil {
			in.AnnounceInterval = time.Duration(*g.Interval)
		}
		if g.Refresh != nil {
			in.AnnounceRefresh = time.Duration(*g.Refresh)
		}
	}
	in.VIPs = fileAddrs(&in, "vip", fi.VIPs)
	in.Peers = fileAddrs(&in, "peer", fi.Peers)
	if fi.Source != "" {
		in.Source = fileAddrs(&in, "source", []string{fi.Source})[0]
	}
	fi.auth(&in)
	for j, fc := range fi.Checks {
		c := Check{Name: fc.Name, CAFile: fc.CAFile, CertFile: fc.Cert, KeyFile: fc.Key, ServerName: fc.ServerName,
			Interval: time.Duration(fc.Interval), Timeout: time.Duration(fc.Timeout), Rise: fc.Rise, Fall: fc.Fall,
			field: fmt.Sprintf("%schecks[%d]", prefix, j)}
		if fc.Weight != nil {
			c.Weight, c.Fault = *fc.Weight, *fc.Weight == 0
		}
		switch {
		case fc.HTTPS != "":
			c.Kind, c.Target = "https", fc.HTTPS
		case fc.HTTP != "":
			c.Kind, c.Target = "http", fc.HTTP
		case fc.TCP != "":
			c.Kind, c.Target = "tcp", fc.TCP
		case len(fc.Exec) > 0:
			c.Kind, c.Command = "exec", fc.Exec
		}
		// The apiserver check without a weight ranks a failing master below
		// every healthy one, whatever the priorities.
		c.Tier = fc.Weight == nil && (c.Kind == "https" || c.Kind == "http")
		in.Checks = append(in.Checks, c)
	}
	for j, ti := range fi.TrackInterfaces {
		// keepalived: track_interface without a weight faults the instance.
		c := Check{Name: ti.Name, Kind: "interface", Target: ti.Interface, Fault: true,
			field: fmt.Sprintf("%strackInterfaces[%d]", prefix, j)}
		if ti.Weight != nil && *ti.Weight != 0 {
			c.Weight, c.Fault = *ti.Weight, false
		}
		in.Checks = append(in.Checks, c)
	}
	nameChecks(in.Checks)
	return in
}

// auth reads authType and authPass. Only PASS exists in vipd: IPsec AH
// (RFC 2338 §5.3.6.2) was dropped by RFC 3768 and never interoperated.
func (fi *fileInstance) auth(in *Instance) {
	fail := func(err error) {
		if in.parseErr == nil {
			in.parseErr = err
		}
	}
	switch strings.ToLower(fi.AuthType) {
	case "", "pass":
	case "ah":
		fail(fieldErr(in.Field("authType"), "drop authentication on every router of this VRID, or use PASS with authPass", "IPsec AH authentication is not supported"))
	default:
		fail(fieldErr(in.Field("authType"), "use pass (with authPass), or drop it", "%q is not an authentication type", fi.AuthType))
	}
	if fi.AuthPass == nil {
		if fi.AuthType != "" {
			fail(fieldErr(in.Field("authPass"), "give the password of 1–8 bytes", "authType pass without authPass"))
		}
		return
	}
	if *fi.AuthPass == "" {
		fail(fieldErr(in.Field("authPass"), "give 1–8 bytes, or drop the key for no authentication", "empty password"))
	}
	in.AuthPass = *fi.AuthPass
}

// fileAddrs parses addresses; a bad one becomes the invalid address, which
// Validate reports under the right path. The parse error itself is kept for it.
func fileAddrs(in *Instance, key string, ss []string) []netip.Addr {
	out := make([]netip.Addr, 0, len(ss))
	for _, s := range ss {
		a, err := parseAddr(in.Field(key), s)
		if err != nil && in.parseErr == nil {
			in.parseErr = err
		}
		out = append(out, a)
	}
	return out
}

// fileKey maps a flag-style key to the file's camelCase key.
func fileKey(key string) string {
	switch key {
	case "vip":
		return "vips"
	case "peer":
		return "peers"
	case "vrrp-version":
		return "vrrpVersion"
	case "garp-count":
		return "garp.count"
	case "garp-interval":
		return "garp.interval"
	case "garp-refresh":
		return "garp.refresh"
	}
	parts := strings.Split(key, "-")
	for i := 1; i < len(parts); i++ {
		parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
	}
	return strings.Join(parts, "")
}

// Load reads a config file's contents as `vipd --config` does, with the
// defaults of the process-level flags, and validates the result. name labels
// the errors, which are FieldErrors.
func Load(name string, data []byte) (*Config, error) {
	fs := pflag.NewFlagSet("vipd", pflag.ContinueOnError)
	f := NewFlags(fs)
	cfg := &Config{ControlSocket: f.controlSocket, StateDir: f.stateDir, MetricsAddress: f.metricsAddress,
		LogFormat: f.logFormat, LogLevel: f.logLevel}
	fc, err := parseFile(name, data)
	if err != nil {
		return nil, err
	}
	fc.apply(cfg, fs)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}
