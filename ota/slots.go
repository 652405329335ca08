package ota

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// Slots are the two firmware slots, Dir/a/posagent and Dir/b/posagent, and
// the boot pointer Dir/boot.json. The binary installed by the package (the
// base) is the boot loader: every start runs it first, and it execs the
// slot the pointer names (Boot). Switching and rolling back are a pointer
// change and an exec of the base, in the same process (the PID a
// supervisor watches does not change).
type Slots struct{ Dir string }

// BinaryName is the file name of the binary in a slot.
const BinaryName = "posagent"

// Boot is the boot pointer.
type Boot struct {
	// Active is the slot to run ("a" or "b"); "" runs the base binary.
	Active string `json:"active"`
	// Previous is the slot to roll back to ("" the base).
	Previous string `json:"previous"`
	// State is "ok", or "trial" while Active has yet to pass its health
	// check.
	State string `json:"state"`
	// Started counts the starts of a trial binary: a trial seen again by
	// another binary after one start has died before its health check.
	Started int `json:"started,omitempty"`
	// Version is Active's firmware version, Ref the ota.update it came from.
	Version string `json:"version,omitempty"`
	Ref     string `json:"ref,omitempty"`
	// Base is the installed binary that every restart execs.
	Base string `json:"base,omitempty"`
	// RolledBack says why the last trial was rolled back ("" if it was not).
	RolledBack string `json:"rolled_back,omitempty"`
}

// Boot states.
const (
	StateOK    = "ok"
	StateTrial = "trial"
)

// Binary is the path of slot's binary.
func (s Slots) Binary(slot string) string { return filepath.Join(s.Dir, slot, BinaryName) }

func (s Slots) pointer() string { return filepath.Join(s.Dir, "boot.json") }

// Load reads the boot pointer; with none, the base runs (State ok, Active "").
func (s Slots) Load() (Boot, error) {
	data, err := os.ReadFile(s.pointer())
	if errors.Is(err, os.ErrNotExist) {
		return Boot{State: StateOK}, nil
	}
	if err != nil {
		return Boot{}, err
	}
	var b Boot
	if err := json.Unmarshal(data, &b); err != nil {
		return Boot{}, fmt.Errorf("ota: boot pointer %s: %w", s.pointer(), err)
	}
	return b, nil
}

// Save writes the boot pointer atomically (temp file, fsync, rename, fsync
// of the directory): a power cut leaves the old pointer or the new one.
func (s Slots) Save(b Boot) error {
	data, err := json.Marshal(b)
	if err != nil {
		return err
	}
	return writeAtomic(s.pointer(), func(w io.Writer) error { _, err := w.Write(data); return err }, 0o600)
}

// Inactive is the slot an update is written to.
func (s Slots) Inactive(b Boot) string {
	if b.Active == "a" {
		return "b"
	}
	return "a"
}

// Install copies the verified artifact at path into slot, executable,
// atomically.
func (s Slots) Install(slot, path string) error {
	src, err := os.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	return writeAtomic(s.Binary(slot), func(w io.Writer) error { _, err := io.Copy(w, src); return err }, 0o755)
}

// Which is the slot whose binary is exe ("" when it is none: the base).
func (s Slots) Which(exe string) string {
	for _, slot := range []string{"a", "b"} {
		if sameFile(exe, s.Binary(slot)) {
			return slot
		}
	}
	return ""
}

func sameFile(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

// Decide is what every start does first: it returns the binary to exec
// instead of going on ("" to go on). exe is this process's binary.
//
//   - A trial's first start (from the base, after the switch) marks it
//     started and execs the trial slot.
//   - The trial binary itself goes on: its agent runs the health check.
//   - A trial found started by any other binary died before its health
//     check (a supervisor restarted the base): it is rolled back here.
//   - Otherwise the active slot is exec'd unless it is this binary.
func (s Slots) Decide(exe string) (string, error) {
	b, err := s.Load()
	if err != nil {
		return "", err
	}
	me := s.Which(exe)
	if b.State == StateTrial {
		if me == b.Active {
			return "", nil
		}
		if b.Started == 0 {
			b.Started = 1
			if err := s.Save(b); err != nil {
				return "", err
			}
			return s.Binary(b.Active), nil
		}
		b = b.RollBack(FailCrashed)
		if err := s.Save(b); err != nil {
			return "", err
		}
	}
	if b.Active == "" || me == b.Active {
		return "", nil
	}
	if _, err := os.Stat(s.Binary(b.Active)); err != nil {
		return "", fmt.Errorf("ota: active slot %s: %w", b.Active, err)
	}
	return s.Binary(b.Active), nil
}

// RollBack returns b with the trial undone: Previous active again.
func (b Boot) RollBack(reason string) Boot {
	b.Active, b.Previous = b.Previous, b.Active
	b.State, b.Started, b.RolledBack = StateOK, 0, reason
	b.Version = ""
	return b
}

// Exec replaces the process with path, keeping its arguments (args[0]
// included) and environment. It returns only on failure.
func Exec(path string, args []string) error {
	return syscall.Exec(path, args, os.Environ())
}

func writeAtomic(path string, fill func(io.Writer) error, mode os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := fill(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
