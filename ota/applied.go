package ota

import (
	"encoding/json"
	"errors"
)

// Applied is the configuration applied over the air, kept in the device's
// journal (never in the config file, protocol §9). Patch is the sum of the
// patches applied, over the config file; Prev is the one before the last
// change, to fall back to; Trial is set while a new config has yet to
// connect (also across a restart: the trial is then run again).
type Applied struct {
	Version int64           `json:"version"`
	Patch   json.RawMessage `json:"patch,omitempty"`
	Prev    *Snapshot       `json:"prev,omitempty"`
	Trial   *Trial          `json:"trial,omitempty"`
	// Report is an outcome not told yet (said, and answered for
	// config.set); the agent that runs next tells it and clears it in the
	// same transaction.
	Report *Outcome `json:"report,omitempty"`
}

// Snapshot is one applied config.
type Snapshot struct {
	Version int64           `json:"version"`
	Patch   json.RawMessage `json:"patch,omitempty"`
}

// Trial is a config being tried.
type Trial struct {
	Source string `json:"source"` // "qr" or "config.set"
	Ref    string `json:"ref"`    // the QR's or the command's jti
	Since  int64  `json:"since"`  // Unix seconds
}

// Outcome is how a trial ended.
type Outcome struct {
	Source  string `json:"source"`
	Ref     string `json:"ref"`
	Version int64  `json:"version"`
	OK      bool   `json:"ok"`
	Reason  string `json:"reason,omitempty"`
	Msg     string `json:"msg,omitempty"`
}

// ErrBusy is returned by Stage while a trial runs.
var ErrBusy = Refused(ReasonBusy, "another configuration is being applied")

// Stage starts trying patch (merged over the applied one) as version
// (0: the next one). The current config becomes Prev.
func (a *Applied) Stage(patch json.RawMessage, version int64, t Trial) error {
	if a.Trial != nil {
		return ErrBusy
	}
	if version == 0 {
		version = a.Version + 1
	}
	if version <= a.Version {
		return Refused(ReasonVersion, "version %d is not above the current %d", version, a.Version)
	}
	merged, err := MergePatch(a.Patch, patch)
	if err != nil {
		return Refused(ReasonBadConfig, "%v", err)
	}
	a.Prev = &Snapshot{Version: a.Version, Patch: a.Patch}
	a.Version, a.Patch, a.Trial = version, merged, &t
	return nil
}

// Commit ends the trial: the new config stays; Prev is kept.
func (a *Applied) Commit() error {
	if a.Trial == nil {
		return errors.New("ota: no config trial to commit")
	}
	a.Report = &Outcome{Source: a.Trial.Source, Ref: a.Trial.Ref, Version: a.Version, OK: true}
	a.Trial = nil
	return nil
}

// Rollback ends the trial by going back to Prev, with why.
func (a *Applied) Rollback(reason, msg string) error {
	if a.Trial == nil || a.Prev == nil {
		return errors.New("ota: no config trial to roll back")
	}
	a.Report = &Outcome{Source: a.Trial.Source, Ref: a.Trial.Ref, Version: a.Version, Reason: reason, Msg: msg}
	a.Version, a.Patch = a.Prev.Version, a.Prev.Patch
	a.Prev, a.Trial = nil, nil
	return nil
}
