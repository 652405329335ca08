// Package firmware is ota.update: a signed firmware image is downloaded
// (resuming), verified, installed into the inactive slot and switched to
// once no payment runs; the new firmware then has ota.health_timeout_ms to
// connect and pass its self-test, or the previous slot runs again.
//
// Invariants:
//   - nothing is downloaded before the update checks (signature, https,
//     size bound, never backwards unless allowed), and nothing is installed
//     that does not match its signed digest;
//   - one update at a time (journal.Meta "ota.job"), and its ota.result is
//     owed until the job is deleted — in the same commit that answers it,
//     so it is answered once, across restarts and the switch too;
//   - the switch waits for the till to be idle: a payment at the till is
//     never cut off by a new binary;
//   - new firmware that does not prove itself (the version it was
//     announced as, a valid config, a readable journal, a connection) in
//     time is rolled back by itself.
package firmware

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/device/exchange"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/ota"
	"github.com/posagent/posagent/wire"
)

// metaJob is the journal.Meta key of the update in progress.
const metaJob = "ota.job"

// Job states.
const (
	stateDownload  = "download"  // downloading, verifying, installing
	stateSwitching = "switching" // boot pointer set: the next start tells
)

// Job is the update in progress.
type Job struct {
	Ref      string       `json:"ref"` // the ota.update jti
	URL      string       `json:"url"`
	Manifest ota.Manifest `json:"manifest"`
	State    string       `json:"state"`
	Slot     string       `json:"slot,omitempty"`
	From     string       `json:"from"` // the version that took the update
}

// Host is what an update needs of the device that runs it.
type Host struct {
	Journal *journal.Journal
	Log     *slog.Logger
	exchange.Events
	// Connected says whether the link is up (the health check's proof).
	Connected func() bool
	// Idle waits until no payment is at the till (false: ctx ended).
	Idle func(ctx context.Context) bool
	// Binary is this process's executable ("": no updates) and Args its
	// arguments after the program name; Exec ends the agent and has its
	// supervisor exec path with args (args[0] included).
	Binary func() string
	Args   func() []string
	Exec   func(path string, args []string, reason string)
}

// Updater runs the firmware updates of the device running Version with
// config Config.
type Updater struct {
	Host
	Version string
	Config  config.Config
	// Poll is how often the health check looks at the link (100 ms).
	Poll time.Duration
}

func (u *Updater) poll() time.Duration {
	if u.Poll > 0 {
		return u.Poll
	}
	return 100 * time.Millisecond
}

// Accept checks ota.update b, command jti, within tx before anything is
// downloaded (form, signature, https URL, one update at a time, never
// backwards) and journals the job. It returns the result owed at once (a
// refusal, or "current"), or the job to Run after the commit.
func (u *Updater) Accept(tx *journal.Tx, jti string, b wire.OTAUpdate) (*wire.OTAResult, *Job, error) {
	man := ota.Manifest{Version: b.Version, Size: b.Size, SHA256: b.SHA256, Sig: b.Sig, AllowDowngrade: b.AllowDowngrade}
	result := func(status, reason, msg string) (*wire.OTAResult, *Job, error) {
		u.Log.Warn("ota.update not run", "jti", jti, "version", b.Version, "status", status, "reason", reason, "err", msg)
		return &wire.OTAResult{Version: b.Version, Status: status, Reason: reason, Message: msg, Running: u.Version}, nil, nil
	}
	pub, _ := base64.StdEncoding.DecodeString(u.Config.OTA.Pubkey)
	err := man.Check(ed25519.PublicKey(pub), u.Config.OTA.MaxBytes)
	if err == nil {
		err = ota.CheckURL(b.URL)
	}
	if err != nil {
		return result("failed", ota.ReasonOf(err), err.Error())
	}
	var job Job
	if ok, err := tx.Get(journal.Meta, metaJob, &job); err != nil {
		return nil, nil, err
	} else if ok {
		return result("failed", "busy", "update "+job.Ref+" to "+job.Manifest.Version+" is in progress")
	}
	if b.Version == u.Version {
		return result("current", "", "this version is running")
	}
	if err := man.CheckForward(u.Version); err != nil {
		return result("failed", ota.ReasonOf(err), err.Error())
	}
	job = Job{Ref: jti, URL: b.URL, Manifest: man, State: stateDownload, From: u.Version}
	if err := tx.Put(journal.Meta, metaJob, job); err != nil {
		return nil, nil, err
	}
	u.Log.Info("ota.update accepted", "jti", jti, "version", b.Version, "size", b.Size)
	return nil, &job, nil
}

// Resume runs at every start of an agent under a supervisor: it goes on
// with a download cut off by a restart, runs the health check of new
// firmware, or tells how a switch ended.
func (u *Updater) Resume(ctx context.Context) {
	var job Job
	var ok bool
	if err := u.Journal.View(func(tx *journal.Tx) error {
		var err error
		ok, err = tx.Get(journal.Meta, metaJob, &job)
		return err
	}); err != nil || !ok {
		return
	}
	if job.State == stateDownload {
		u.Log.Info("resuming firmware update", "version", job.Manifest.Version)
		u.Run(ctx, job)
		return
	}
	slots := ota.Slots{Dir: u.Config.OTADir()}
	b, err := slots.Load()
	if err != nil {
		u.Log.Error("boot pointer unreadable", "err", err)
		return
	}
	switch {
	case b.Ref == job.Ref && b.State == ota.StateTrial && slots.Which(u.Binary()) == b.Active:
		u.healthCheck(ctx, job, slots, b)
	case b.Ref == job.Ref && b.State == ota.StateOK && b.Active == job.Slot:
		u.done(job, "ok", "", "")
	case b.Ref == job.Ref && b.RolledBack != "":
		u.done(job, "rolled_back", b.RolledBack, "the new firmware stopped before its health check passed")
	default:
		u.done(job, "failed", ota.FailInstall, "the switch to the new slot did not happen")
	}
}

// Run downloads (resuming), verifies, installs into the inactive slot,
// waits until no payment runs, and switches.
func (u *Updater) Run(ctx context.Context, job Job) {
	man := job.Manifest
	fail := func(err error) {
		if ctx.Err() != nil {
			return // stopped: resumed at the next start
		}
		reason := ota.ReasonOf(err)
		if reason == "" {
			reason = ota.FailInstall
		}
		u.done(job, "failed", reason, err.Error())
	}
	dir := filepath.Join(u.Config.DataDir, "ota")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		fail(err)
		return
	}
	part := filepath.Join(dir, man.SHA256[:16]+".part")
	client, err := ota.HTTPClient(u.Config.OTA.CAFile)
	if err != nil {
		fail(ota.Refused(ota.FailDownload, "%v", err))
		return
	}
	u.progress(job, "downloading", 0)
	quarter := int64(0)
	d := ota.Download{URL: job.URL, Part: part, Size: man.Size, Client: client,
		Progress: func(have int64) {
			if q := have * 4 / man.Size; q > quarter {
				quarter = q
				u.progress(job, "downloading", have)
			}
		}}
	if err := d.Run(ctx); err != nil {
		if ctx.Err() == nil {
			os.Remove(part)
		}
		fail(err)
		return
	}
	if err := man.VerifyFile(part); err != nil {
		os.Remove(part)
		fail(err)
		return
	}
	u.progress(job, "verified", man.Size)
	slots := ota.Slots{Dir: u.Config.OTADir()}
	b, err := slots.Load()
	if err != nil {
		fail(ota.Refused(ota.FailInstall, "%v", err))
		return
	}
	slot := slots.Inactive(b)
	if err := slots.Install(slot, part); err != nil {
		fail(ota.Refused(ota.FailInstall, "slot %s: %v", slot, err))
		return
	}
	os.Remove(part)
	u.progress(job, "installed", man.Size)
	if !u.Idle(ctx) {
		return
	}
	base := b.Base
	if base == "" {
		base = u.Binary()
	}
	job.State, job.Slot = stateSwitching, slot
	if err := u.Journal.Update(func(tx *journal.Tx) error {
		if err := tx.Put(journal.Meta, metaJob, job); err != nil {
			return err
		}
		_, err := u.Emit(tx, wire.TypeOTAProgress, job.Ref, wire.OTAProgress{Version: man.Version, State: "restarting"})
		return err
	}); err != nil {
		u.Log.Error("ota switch not journaled", "err", err)
		return
	}
	nb := ota.Boot{Active: slot, Previous: b.Active, State: ota.StateTrial, Version: man.Version, Ref: job.Ref, Base: base}
	if err := slots.Save(nb); err != nil {
		u.done(job, "failed", ota.FailInstall, err.Error())
		return
	}
	u.Flush()
	u.Log.Info("switching firmware", "version", man.Version, "slot", slot)
	u.Exec(base, append([]string{base}, u.Args()...), "firmware "+man.Version)
}

// healthCheck is run by new firmware on trial: connected to the broker and
// self-test passed within ota.health_timeout_ms commits it; otherwise the
// previous slot is made active again and the base binary exec'd.
func (u *Updater) healthCheck(ctx context.Context, job Job, slots ota.Slots, b ota.Boot) {
	u.progress(job, "health_check", 0)
	timeout := config.MS(u.Config.OTA.HealthTimeoutMS)
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(u.poll())
	defer tick.Stop()
	rollback := func(msg string) {
		u.Log.Error("new firmware failed its health check: rolling back", "version", u.Version, "err", msg)
		if err := slots.Save(b.RollBack(ota.FailHealth)); err != nil {
			u.Log.Error("rollback not saved", "err", err)
			return
		}
		u.done(job, "rolled_back", ota.FailHealth, msg)
		u.Exec(b.Base, append([]string{b.Base}, u.Args()...), "rollback")
	}
	if err := u.selfTest(job); err != nil {
		rollback("self-test: " + err.Error())
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			rollback(fmt.Sprintf("not connected within %s", timeout))
			return
		case <-tick.C:
			if !u.Connected() {
				continue
			}
			b.State, b.Started, b.RolledBack = ota.StateOK, 0, ""
			if err := slots.Save(b); err != nil {
				u.Log.Error("firmware not committed", "err", err)
				return
			}
			u.Log.Info("new firmware healthy", "version", u.Version)
			u.done(job, "ok", "", "")
			return
		}
	}
}

// selfTest checks what new firmware must have besides a connection: it is
// the version the update announced (a wrong build shipped is rolled back),
// its configuration is valid and its journal readable.
func (u *Updater) selfTest(job Job) error {
	if u.Version != job.Manifest.Version {
		return fmt.Errorf("running version %q, the update announced %q", u.Version, job.Manifest.Version)
	}
	if err := u.Config.Validate(); err != nil {
		return err
	}
	return u.Journal.View(func(tx *journal.Tx) error {
		var j Job
		_, err := tx.Get(journal.Meta, metaJob, &j)
		return err
	})
}

func (u *Updater) progress(job Job, state string, have int64) {
	err := u.Journal.Update(func(tx *journal.Tx) error {
		_, err := u.Emit(tx, wire.TypeOTAProgress, job.Ref, wire.OTAProgress{Version: job.Manifest.Version, State: state, Bytes: have, Size: job.Manifest.Size})
		return err
	})
	if err != nil {
		u.Log.Error("ota.progress not queued", "err", err)
	}
	u.Flush()
}

// done answers the ota.update with its result and ends the job, in one
// transaction.
func (u *Updater) done(job Job, status, reason, msg string) {
	err := u.Journal.Update(func(tx *journal.Tx) error {
		ans, err := u.Emit(tx, wire.TypeOTAResult, job.Ref, wire.OTAResult{Version: job.Manifest.Version, Status: status,
			Reason: reason, Message: msg, From: job.From, Running: u.Version})
		if err != nil {
			return err
		}
		if err := u.Answered(tx, job.Ref, ans); err != nil {
			return err
		}
		return tx.Delete(journal.Meta, metaJob)
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		u.Log.Error("ota.result not recorded", "err", err)
		return
	}
	u.Log.Info("firmware update ended", "version", job.Manifest.Version, "status", status, "reason", reason, "err", msg)
	u.Flush()
}
