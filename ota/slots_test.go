package ota

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDecide(t *testing.T) {
	s := Slots{Dir: t.TempDir()}
	base := filepath.Join(t.TempDir(), "posagent")
	os.WriteFile(base, []byte("base"), 0o755)
	art := filepath.Join(t.TempDir(), "art")
	os.WriteFile(art, []byte("new"), 0o600)

	if next, err := s.Decide(base); err != nil || next != "" {
		t.Fatalf("no pointer: %q %v", next, err)
	}
	b, _ := s.Load()
	slot := s.Inactive(b)
	if slot != "a" {
		t.Fatalf("first inactive slot %q", slot)
	}
	if err := s.Install(slot, art); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(s.Binary("a")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("installed: %v %v", fi, err)
	}
	s.Save(Boot{Active: "a", State: StateTrial, Ref: "r1", Version: "2", Base: base})

	// The base, right after the switch: exec the trial slot, marked started.
	if next, err := s.Decide(base); err != nil || next != s.Binary("a") {
		t.Fatalf("trial start: %q %v", next, err)
	}
	// The trial binary itself goes on.
	if next, err := s.Decide(s.Binary("a")); err != nil || next != "" {
		t.Fatalf("trial binary: %q %v", next, err)
	}
	// The base again: the trial died before its health check; rolled back.
	if next, err := s.Decide(base); err != nil || next != "" {
		t.Fatalf("after a crashed trial: %q %v", next, err)
	}
	b, _ = s.Load()
	if b.Active != "" || b.State != StateOK || b.RolledBack != FailCrashed || b.Ref != "r1" {
		t.Fatalf("rolled back pointer %+v", b)
	}

	// A committed slot is exec'd by the base at every start.
	s.Save(Boot{Active: "a", State: StateOK, Base: base})
	if next, _ := s.Decide(base); next != s.Binary("a") {
		t.Errorf("committed slot not started: %q", next)
	}
	if next, _ := s.Decide(s.Binary("a")); next != "" {
		t.Errorf("slot binary re-execs itself: %q", next)
	}
	if s.Inactive(Boot{Active: "a"}) != "b" {
		t.Error("inactive of a")
	}
	// A pointer to a missing slot is an error: the caller runs itself.
	s.Save(Boot{Active: "b", State: StateOK})
	if _, err := s.Decide(base); err == nil {
		t.Error("missing slot binary accepted")
	}
}
