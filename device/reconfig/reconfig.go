// Package reconfig is configuration over the air: a patch from a config QR
// or config.set is staged as a trial (journal.Meta "config.applied", an
// ota.Applied), the agent restarts into it once no payment is at the till,
// and the new agent has config.apply_timeout_ms to connect with it: then
// it is committed, or rolled back to the previous one. Its outcome is said
// (配置成功 / 配置失败，已恢复原配置) and, for config.set, answered.
//
// Invariants:
//   - a patch is checked against the config file before it is staged: one
//     that does not fit is refused and never tried;
//   - a running agent's config never changes: a trial runs in an agent of
//     its own (the supervisor's restart);
//   - a trial that does not connect in time is rolled back by itself, so
//     a bad broker address or key cannot strand a device;
//   - a trial's outcome is told once: said, answered and cleared in one
//     commit, across a crash too.
package reconfig

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/posagent/posagent/audio"
	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/device/exchange"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/ota"
	"github.com/posagent/posagent/wire"
)

// metaApplied is the journal.Meta key of the ota.Applied record: the
// configuration applied over the air, with the previous one and any trial.
const metaApplied = "config.applied"

// Get reads the applied-config record within tx.
func Get(tx *journal.Tx) (ota.Applied, error) {
	var ap ota.Applied
	_, err := tx.Get(journal.Meta, metaApplied, &ap)
	return ap, err
}

// Load reads the journal's applied-config record: the patch in force over
// the config file, and any trial.
func Load(j *journal.Journal) (ota.Applied, error) {
	var ap ota.Applied
	err := j.View(func(tx *journal.Tx) error {
		var err error
		ap, err = Get(tx)
		return err
	})
	return ap, err
}

// Rollback ends a trial that could not even start (its config does not
// fit, or its agent cannot be built): the previous config is restored and
// the trial's end is reported by the next agent.
func Rollback(j *journal.Journal, reason, msg string) error {
	return j.Update(func(tx *journal.Tx) error {
		ap, err := Get(tx)
		if err != nil {
			return err
		}
		if err := ap.Rollback(reason, msg); err != nil {
			return err
		}
		return tx.Put(journal.Meta, metaApplied, ap)
	})
}

// Stage checks patch against file and stages it as the trial t, within
// tx. Errors are ota.RefusedErrors unless the journal failed.
func Stage(tx *journal.Tx, file config.Config, patch json.RawMessage, version int64, t ota.Trial) error {
	ap, err := Get(tx)
	if err != nil {
		return err
	}
	if err := ap.Stage(patch, version, t); err != nil {
		return err
	}
	if _, err := ota.Merged(file, ap.Patch); err != nil {
		return ota.Refused(ota.ReasonBadConfig, "%v", err)
	}
	return tx.Put(journal.Meta, metaApplied, ap)
}

// errNoTrial is returned by end when the trial was ended meanwhile.
var errNoTrial = errors.New("no config trial")

// end commits the running trial (ok) or rolls it back with reason.
func end(j *journal.Journal, ok bool, reason, msg string) error {
	return j.Update(func(tx *journal.Tx) error {
		ap, err := Get(tx)
		if err != nil {
			return err
		}
		if ap.Trial == nil {
			return errNoTrial
		}
		if ok {
			err = ap.Commit()
		} else {
			err = ap.Rollback(reason, msg)
		}
		if err != nil {
			return err
		}
		return tx.Put(journal.Meta, metaApplied, ap)
	})
}

// Host is what a trial needs of the agent that runs it.
type Host struct {
	Journal *journal.Journal
	Log     *slog.Logger
	Now     func() time.Time
	exchange.Events
	// Connected says whether the link is up (the trial's proof).
	Connected func() bool
	// Restart ends this agent; the supervisor runs the next from the
	// journal's applied config.
	Restart func(reason string)
	// Owe journals, in tx, an announcement to say (nil: no speaker);
	// Say says it after the commit.
	Owe func(tx *journal.Tx, r audio.Record) error
	Say func(r audio.Record)
}

// Trial watches the config this agent runs under trial, and tells how
// trials ended.
type Trial struct {
	Host
	// Timeout is config.apply_timeout_ms; Poll how often the link is
	// looked at (50 ms); Broker the broker the trial must reach (for the
	// rollback's message).
	Timeout time.Duration
	Poll    time.Duration
	Broker  string
}

// Watch gives the config under trial until Timeout to connect: then it is
// committed and told, or rolled back and the agent restarted with the
// previous one (which tells it). It returns when ctx ends too: the trial
// runs again at the next start.
func (t *Trial) Watch(ctx context.Context) {
	deadline := time.NewTimer(t.Timeout)
	defer deadline.Stop()
	poll := t.Poll
	if poll <= 0 {
		poll = 50 * time.Millisecond
	}
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if !t.Connected() {
				continue
			}
			if err := end(t.Journal, true, "", ""); err != nil && !errors.Is(err, errNoTrial) {
				t.Log.Error("config trial not committed", "err", err)
				return
			}
			t.Report()
			return
		case <-deadline.C:
			msg := fmt.Sprintf("no connection to %s within %s", t.Broker, t.Timeout)
			if err := end(t.Journal, false, ota.ReasonConnect, msg); err != nil && !errors.Is(err, errNoTrial) {
				t.Log.Error("config trial not rolled back", "err", err)
				return
			}
			t.Restart("config fallback")
			return
		}
	}
}

// Report tells an outcome the journal owes (ota.Applied.Report): it is
// said, answered to config.set, and cleared, in one transaction, so it is
// told once even across a crash.
func (t *Trial) Report() {
	var owed *audio.Record
	err := t.Journal.Update(func(tx *journal.Tx) error {
		owed = nil
		ap, err := Get(tx)
		if err != nil || ap.Report == nil {
			return err
		}
		r := ap.Report
		ap.Report = nil
		if err := tx.Put(journal.Meta, metaApplied, ap); err != nil {
			return err
		}
		text, name, what := audio.PhraseConfigOK, fmt.Sprintf("config-ok-%d", r.Version), "ok"
		if !r.OK {
			text = audio.PhraseConfigFailed + "，" + audio.PhraseConfigRestored
			name, what = fmt.Sprintf("config-restored-%d", r.Version), "restored"
			t.Log.Warn("config fell back to the previous one", "source", r.Source, "version", r.Version, "reason", r.Reason, "err", r.Msg)
		} else {
			t.Log.Info("config applied", "source", r.Source, "version", r.Version)
		}
		if t.Owe != nil {
			rec := audio.Record{ID: "config/" + r.Ref + "/" + what, Name: name, Text: text, Since: t.Now()}
			if err := t.Owe(tx, rec); err != nil {
				return err
			}
			owed = &rec
		}
		if r.Source != wire.TypeConfigSet {
			return nil
		}
		var body any = wire.ConfigApplied{Version: r.Version}
		typ := wire.TypeConfigApplied
		if !r.OK {
			body, typ = wire.ConfigRejected{Version: r.Version, Reason: r.Reason, Message: r.Msg, Restored: true}, wire.TypeConfigRejected
		}
		ans, err := t.Emit(tx, typ, r.Ref, body)
		if err != nil {
			return err
		}
		return t.Answered(tx, r.Ref, ans)
	})
	if err != nil {
		t.Log.Error("config outcome not recorded", "err", err)
		return
	}
	t.Flush()
	if owed != nil {
		t.Say(*owed)
	}
}
