package device

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/posagent/posagent/wire"

	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/ota"
)

// metaOTA is the journal.Meta key of the firmware update in progress: at
// most one at a time, and its ota.result is owed until it is deleted.
const metaOTA = "ota.job"

// OTA job states.
const (
	otaDownload  = "download"  // downloading, verifying, installing
	otaSwitching = "switching" // boot pointer set: the next start tells
)

// otaJob is the update in progress.
type otaJob struct {
	Ref      string       `json:"ref"` // the ota.update jti
	URL      string       `json:"url"`
	Manifest ota.Manifest `json:"manifest"`
	State    string       `json:"state"`
	Slot     string       `json:"slot,omitempty"`
	From     string       `json:"from"` // the version that took the update
}

// acceptOTA checks an ota.update before anything is downloaded (form,
// signature, https URL, one update at a time) and starts it.
func (a *Agent) acceptOTA(tx *journal.Tx, m mqtt.Message) (*mqtt.Message, func(), error) {
	if a.ctl == nil || a.ctl.Binary() == "" {
		ans, err := a.emit(tx, wire.TypeError, m.ID, errorBody{Ref: m.ID, Code: CodeUnsupported, Message: "ota.update: this agent cannot replace its binary"})
		return &ans, nil, err
	}
	var b wire.OTAUpdate
	if err := decodeBody(m.Body, &b); err != nil {
		return a.badRequest(tx, m, "ota.update: %v", err)
	}
	man := ota.Manifest{Version: b.Version, Size: b.Size, SHA256: b.SHA256, Sig: b.Sig, AllowDowngrade: b.AllowDowngrade}
	result := func(status, reason, msg string) (*mqtt.Message, func(), error) {
		a.log.Warn("ota.update not run", "jti", m.ID, "version", b.Version, "status", status, "reason", reason, "err", msg)
		ans, err := a.emit(tx, wire.TypeOTAResult, m.ID, wire.OTAResult{Version: b.Version, Status: status, Reason: reason, Message: msg, Running: Version})
		return &ans, nil, err
	}
	pub, _ := base64.StdEncoding.DecodeString(a.cfg.OTA.Pubkey)
	err := man.Check(ed25519.PublicKey(pub), a.cfg.OTA.MaxBytes)
	if err == nil {
		err = ota.CheckURL(b.URL)
	}
	if err != nil {
		return result("failed", ota.ReasonOf(err), err.Error())
	}
	var job otaJob
	if ok, err := tx.Get(journal.Meta, metaOTA, &job); err != nil {
		return nil, nil, err
	} else if ok {
		return result("failed", "busy", "update "+job.Ref+" to "+job.Manifest.Version+" is in progress")
	}
	if b.Version == Version {
		return result("current", "", "this version is running")
	}
	if err := man.CheckForward(Version); err != nil {
		return result("failed", ota.ReasonOf(err), err.Error())
	}
	job = otaJob{Ref: m.ID, URL: b.URL, Manifest: man, State: otaDownload, From: Version}
	if err := tx.Put(journal.Meta, metaOTA, job); err != nil {
		return nil, nil, err
	}
	a.log.Info("ota.update accepted", "jti", m.ID, "version", b.Version, "size", b.Size)
	return nil, func() {
		a.wg.Add(1)
		go func() { defer a.wg.Done(); a.runOTA(a.runCtx, job) }()
	}, nil
}

// resumeOTA runs at every start of an agent under Serve: it goes on with a
// download cut off by a restart, runs the health check of new firmware, or
// tells how a switch ended.
func (a *Agent) resumeOTA(ctx context.Context) {
	var job otaJob
	var ok bool
	if err := a.j.View(func(tx *journal.Tx) error {
		var err error
		ok, err = tx.Get(journal.Meta, metaOTA, &job)
		return err
	}); err != nil || !ok {
		return
	}
	if job.State == otaDownload {
		a.log.Info("resuming firmware update", "version", job.Manifest.Version)
		a.runOTA(ctx, job)
		return
	}
	slots := ota.Slots{Dir: a.cfg.OTADir()}
	b, err := slots.Load()
	if err != nil {
		a.log.Error("boot pointer unreadable", "err", err)
		return
	}
	switch {
	case b.Ref == job.Ref && b.State == ota.StateTrial && slots.Which(a.ctl.Binary()) == b.Active:
		a.healthCheck(ctx, job, slots, b)
	case b.Ref == job.Ref && b.State == ota.StateOK && b.Active == job.Slot:
		a.otaDone(job, "ok", "", "")
	case b.Ref == job.Ref && b.RolledBack != "":
		a.otaDone(job, "rolled_back", b.RolledBack, "the new firmware stopped before its health check passed")
	default:
		a.otaDone(job, "failed", ota.FailInstall, "the switch to the new slot did not happen")
	}
}

// runOTA downloads (resuming), verifies, installs into the inactive slot,
// waits until no payment runs, and switches.
func (a *Agent) runOTA(ctx context.Context, job otaJob) {
	man := job.Manifest
	fail := func(err error) {
		if ctx.Err() != nil {
			return // stopped: resumed at the next start
		}
		reason := ota.ReasonOf(err)
		if reason == "" {
			reason = ota.FailInstall
		}
		a.otaDone(job, "failed", reason, err.Error())
	}
	dir := filepath.Join(a.cfg.DataDir, "ota")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		fail(err)
		return
	}
	part := filepath.Join(dir, man.SHA256[:16]+".part")
	client, err := ota.HTTPClient(a.cfg.OTA.CAFile)
	if err != nil {
		fail(ota.Refused(ota.FailDownload, "%v", err))
		return
	}
	a.otaProgress(job, "downloading", 0)
	quarter := int64(0)
	d := ota.Download{URL: job.URL, Part: part, Size: man.Size, Client: client,
		Progress: func(have int64) {
			if q := have * 4 / man.Size; q > quarter {
				quarter = q
				a.otaProgress(job, "downloading", have)
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
	a.otaProgress(job, "verified", man.Size)
	slots := ota.Slots{Dir: a.cfg.OTADir()}
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
	a.otaProgress(job, "installed", man.Size)
	if !a.waitPaymentsIdle(ctx) {
		return
	}
	base := b.Base
	if base == "" {
		base = a.ctl.Binary()
	}
	job.State, job.Slot = otaSwitching, slot
	if err := a.j.Update(func(tx *journal.Tx) error {
		if err := tx.Put(journal.Meta, metaOTA, job); err != nil {
			return err
		}
		_, err := a.emit(tx, wire.TypeOTAProgress, job.Ref, wire.OTAProgress{Version: man.Version, State: "restarting"})
		return err
	}); err != nil {
		a.log.Error("ota switch not journaled", "err", err)
		return
	}
	nb := ota.Boot{Active: slot, Previous: b.Active, State: ota.StateTrial, Version: man.Version, Ref: job.Ref, Base: base}
	if err := slots.Save(nb); err != nil {
		a.otaDone(job, "failed", ota.FailInstall, err.Error())
		return
	}
	a.link.Kick()
	a.log.Info("switching firmware", "version", man.Version, "slot", slot)
	a.ctl.ExecInto(&RestartError{Path: base, Args: append([]string{base}, a.ctl.Args()...), Reason: "firmware " + man.Version})
}

// healthCheck is run by new firmware on trial: connected to the broker and
// self-test passed within ota.health_timeout_ms commits it; otherwise the
// previous slot is made active again and the base binary exec'd.
func (a *Agent) healthCheck(ctx context.Context, job otaJob, slots ota.Slots, b ota.Boot) {
	a.otaProgress(job, "health_check", 0)
	timeout := time.Duration(a.cfg.OTA.HealthTimeoutMS) * time.Millisecond
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	rollback := func(msg string) {
		a.log.Error("new firmware failed its health check: rolling back", "version", Version, "err", msg)
		if err := slots.Save(b.RollBack(ota.FailHealth)); err != nil {
			a.log.Error("rollback not saved", "err", err)
			return
		}
		a.otaDone(job, "rolled_back", ota.FailHealth, msg)
		a.ctl.ExecInto(&RestartError{Path: b.Base, Args: append([]string{b.Base}, a.ctl.Args()...), Reason: "rollback"})
	}
	if err := a.selfTest(job); err != nil {
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
			if !a.link.Connected() {
				continue
			}
			b.State, b.Started, b.RolledBack = ota.StateOK, 0, ""
			if err := slots.Save(b); err != nil {
				a.log.Error("firmware not committed", "err", err)
				return
			}
			a.log.Info("new firmware healthy", "version", Version)
			a.otaDone(job, "ok", "", "")
			return
		}
	}
}

// selfTest checks what new firmware must have besides a connection: it is
// the version the update announced (a wrong build shipped is rolled back),
// its configuration is valid and its journal readable.
func (a *Agent) selfTest(job otaJob) error {
	if Version != job.Manifest.Version {
		return fmt.Errorf("running version %q, the update announced %q", Version, job.Manifest.Version)
	}
	if err := a.cfg.Validate(); err != nil {
		return err
	}
	return a.j.View(func(tx *journal.Tx) error {
		var j otaJob
		_, err := tx.Get(journal.Meta, metaOTA, &j)
		return err
	})
}

func (a *Agent) otaProgress(job otaJob, state string, have int64) {
	err := a.j.Update(func(tx *journal.Tx) error {
		_, err := a.emit(tx, wire.TypeOTAProgress, job.Ref, wire.OTAProgress{Version: job.Manifest.Version, State: state, Bytes: have, Size: job.Manifest.Size})
		return err
	})
	if err != nil {
		a.log.Error("ota.progress not queued", "err", err)
	}
	a.link.Kick()
}

// otaDone answers the ota.update with its result and ends the job, in one
// transaction.
func (a *Agent) otaDone(job otaJob, status, reason, msg string) {
	err := a.j.Update(func(tx *journal.Tx) error {
		ans, err := a.emit(tx, wire.TypeOTAResult, job.Ref, wire.OTAResult{Version: job.Manifest.Version, Status: status,
			Reason: reason, Message: msg, From: job.From, Running: Version})
		if err != nil {
			return err
		}
		if err := finish(tx, job.Ref, ans); err != nil {
			return err
		}
		return tx.Delete(journal.Meta, metaOTA)
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		a.log.Error("ota.result not recorded", "err", err)
		return
	}
	a.log.Info("firmware update ended", "version", job.Manifest.Version, "status", status, "reason", reason, "err", msg)
	a.link.Kick()
}
