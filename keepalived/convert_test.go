package keepalived

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vipd/vipd/config"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// Every testdata/*.conf is converted with testdata/root as the host's root.
// NAME.yaml and NAME.stderr are the output and the notes; a bad-*.conf must
// fail, and NAME.err is its error. Every output must load as a vipd config.
func TestGolden(t *testing.T) {
	confs, err := filepath.Glob("testdata/*.conf")
	if err != nil || len(confs) < 10 {
		t.Fatalf("corpus: %v %v", confs, err)
	}
	for _, conf := range confs {
		name := strings.TrimSuffix(filepath.Base(conf), ".conf")
		t.Run(name, func(t *testing.T) {
			res, err := Convert(conf, Options{Root: "testdata/root"})
			if strings.HasPrefix(name, "bad-") {
				if err == nil {
					t.Fatalf("converted:\n%s", res.YAML)
				}
				if !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrUnsupported) {
					t.Errorf("%v is neither ErrSyntax nor ErrUnsupported", err)
				}
				golden(t, "testdata/"+name+".err", []byte(err.Error()+"\n"))
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := config.Load(name+".yaml", res.YAML); err != nil {
				t.Errorf("the output does not load: %v\n%s", err, res.YAML)
			}
			golden(t, "testdata/"+name+".yaml", res.YAML)
			var notes strings.Builder
			for _, n := range res.Notes {
				notes.WriteString(n.String() + "\n")
			}
			golden(t, "testdata/"+name+".stderr", []byte(notes.String()))
		})
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if string(want) != string(got) {
		t.Errorf("%s differs (-want +got):\n%s", path, lineDiff(string(want), string(got)))
	}
}

// lineDiff shows the lines only in want (-) and only in got (+).
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	in := func(l []string, s string) bool {
		for _, x := range l {
			if x == s {
				return true
			}
		}
		return false
	}
	var b strings.Builder
	for _, l := range w {
		if !in(g, l) {
			b.WriteString("-" + l + "\n")
		}
	}
	for _, l := range g {
		if !in(w, l) {
			b.WriteString("+" + l + "\n")
		}
	}
	return b.String()
}
