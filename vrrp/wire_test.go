package vrrp

import (
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

// field is one wire field of a fixture: its bytes in hex and what they mean.
type field struct{ hex, note string }

// wire is a message written one field per line, as in the RFC diagrams.
type wire []field

func (w wire) bytes(t testing.TB) []byte {
	t.Helper()
	var b []byte
	for _, f := range w {
		p, err := hex.DecodeString(strings.ReplaceAll(f.hex, " ", ""))
		if err != nil {
			t.Fatalf("fixture field %q: %v", f.hex, err)
		}
		b = append(b, p...)
	}
	return b
}

// lines cuts b into the fields of w, one annotated line each, so that two
// messages compare field by field. Bytes beyond w are one last line.
func (w wire) lines(t testing.TB, b []byte) []string {
	t.Helper()
	var out []string
	for _, f := range w {
		n := len(strings.ReplaceAll(f.hex, " ", "")) / 2
		take := min(n, len(b))
		out = append(out, fmt.Sprintf("%-*s  %s", 2*n, hex.EncodeToString(b[:take])+strings.Repeat("__", n-take), f.note))
		b = b[take:]
	}
	if len(b) > 0 {
		out = append(out, fmt.Sprintf("%x  (trailing)", b))
	}
	return out
}

// diff returns "" if want and got are the same lines, else every line
// marked as in both ("  "), only in want ("- ") or only in got ("+ ").
// Lines are compared by position: fixtures keep fields aligned.
func diff(want, got []string) string {
	var b strings.Builder
	same := true
	for i := range max(len(want), len(got)) {
		if i < len(want) && i < len(got) && want[i] == got[i] {
			fmt.Fprintf(&b, "  %s\n", want[i])
			continue
		}
		same = false
		if i < len(want) {
			fmt.Fprintf(&b, "- %s\n", want[i])
		}
		if i < len(got) {
			fmt.Fprintf(&b, "+ %s\n", got[i])
		}
	}
	if same {
		return ""
	}
	return b.String()
}

// fields renders an advertisement one field per line, for diff.
func fields(a Advertisement) []string {
	out := []string{
		fmt.Sprintf("Version: %d", a.Version),
		fmt.Sprintf("Type: %v", a.Type),
		fmt.Sprintf("VRID: %d", a.VRID),
		fmt.Sprintf("Priority: %d", a.Priority),
		fmt.Sprintf("Interval: %v", a.Interval),
		fmt.Sprintf("AuthType: %d", a.AuthType),
		fmt.Sprintf("AuthData: %x", a.AuthData),
		fmt.Sprintf("Addresses: %d (nil: %t)", len(a.Addresses), a.Addresses == nil),
	}
	for i, addr := range a.Addresses {
		out = append(out, fmt.Sprintf("Addresses[%d]: %v", i, addr))
	}
	return out
}

func diffAdvert(want, got Advertisement) string {
	return diff(fields(want), fields(got))
}

func TestDiff(t *testing.T) {
	if d := diff([]string{"a", "b"}, []string{"a", "b"}); d != "" {
		t.Errorf("equal lines: got diff\n%s", d)
	}
	want := "  a\n- b\n+ c\n- d\n"
	if d := diff([]string{"a", "b", "d"}, []string{"a", "c"}); d != want {
		t.Errorf("diff =\n%s\nwant\n%s", d, want)
	}
}
