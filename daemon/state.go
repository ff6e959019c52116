package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
)

// persisted is what vipd keeps across restarts and reboots, in
// <state-dir>/state.json: the instances in maintenance mode, so that a node an
// operator drained stays drained until `vipctl maintenance off`.
type persisted struct {
	Maintenance []string `json:"maintenance"`
}

const stateFile = "state.json"

// loadState reads the persisted state; a missing file is the empty state. A
// file that does not parse is an error: guessing could put a drained node
// back into the election.
func loadState(dir string) (persisted, error) {
	var p persisted
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return p, fmt.Errorf("daemon: reading %s: %w", filepath.Join(dir, stateFile), err)
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("daemon: %s is not valid (fix or remove it; it holds the maintenance mode): %w", filepath.Join(dir, stateFile), err)
	}
	return p, nil
}

// saveState writes the state atomically (a temporary file, fsync, rename,
// fsync of the directory), so that a crash or a full disk leaves the old
// state or the new one, never half of one.
func saveState(dir string, p persisted) error {
	sort.Strings(p.Maintenance)
	p.Maintenance = slices.Compact(p.Maintenance)
	if p.Maintenance == nil {
		p.Maintenance = []string{}
	}
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, stateFile+".*")
	if err != nil {
		return fmt.Errorf("daemon: saving state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("daemon: saving state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("daemon: saving state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("daemon: saving state: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, stateFile)); err != nil {
		return fmt.Errorf("daemon: saving state: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// setMaintenance records name's maintenance mode.
func (p persisted) setMaintenance(name string, on bool) persisted {
	out := persisted{Maintenance: slices.DeleteFunc(slices.Clone(p.Maintenance), func(n string) bool { return n == name })}
	if on {
		out.Maintenance = append(out.Maintenance, name)
	}
	return out
}
