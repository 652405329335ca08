package device

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/ota"
)

// Control is how an agent run by a supervisor (package device/supervisor)
// asks for what only the supervisor can do: end this configuration and run
// the next (a config change or rollback), or replace the process
// (firmware). An agent run alone has none, and refuses config.set, config
// QRs and ota.update.
type Control interface {
	// File is the config file's configuration, which patches apply over.
	File() config.Config
	// Binary is this process's executable ("": no firmware updates) and
	// Args its arguments after the program name.
	Binary() string
	Args() []string
	// Restart ends the running agent; the supervisor builds the next one
	// from the journal's applied config.
	Restart(reason string)
	// ExecInto ends the running agent and has the supervisor return e.
	ExecInto(e *RestartError)
}

// RestartError is returned by the supervisor when the process must be replaced by
// another binary (firmware switch or rollback, ota.go): the caller closes
// what it opened and execs Path with Args (Args[0] included).
type RestartError struct {
	Path   string
	Args   []string
	Reason string
}

func (e *RestartError) Error() string { return "restart into " + e.Path + ": " + e.Reason }

// RunSupervised runs a under ctl until ctx ends or ctl restarts it. ap is
// the journal's applied config a was built from: a config under trial gets
// config.apply_timeout_ms to connect (watchTrial); a trial ended before
// this start is reported; an OTA cut off by the restart is resumed.
func (a *Agent) RunSupervised(ctx context.Context, ctl Control, ap ota.Applied) error {
	a.ctl = ctl
	a.state.Cfg = int(ap.Version)
	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if ap.Trial != nil {
		wg.Add(1)
		go func() { defer wg.Done(); a.watchTrial(wctx, config.MS(a.cfg.ConfigApply.ApplyTimeoutMS)) }()
	} else if ap.Report != nil {
		a.reportConfig()
	}
	wg.Add(1)
	go func() { defer wg.Done(); a.resumeOTA(wctx) }()
	err := a.Run(ctx)
	cancel()
	wg.Wait()
	return err
}

// LoadApplied reads the journal's applied-config record (ota.Applied):
// the patch in force over the config file, and any trial.
func LoadApplied(j *journal.Journal) (ota.Applied, error) {
	var ap ota.Applied
	err := j.View(func(tx *journal.Tx) error {
		var err error
		ap, err = loadApplied(tx)
		return err
	})
	return ap, err
}

// RollbackTrial ends a trial that could not even start (its config does
// not fit, or its agent cannot be built): the previous config is restored
// and the trial's end is reported by the next agent.
func RollbackTrial(j *journal.Journal, reason, msg string) error {
	return j.Update(func(tx *journal.Tx) error {
		ap, err := loadApplied(tx)
		if err != nil {
			return err
		}
		if err := ap.Rollback(reason, msg); err != nil {
			return err
		}
		return tx.Put(journal.Meta, metaApplied, ap)
	})
}

// watchTrial gives the config under trial until timeout to connect: then
// it is committed and told, or rolled back and the agent restarted with the
// previous one (which tells it).
func (a *Agent) watchTrial(ctx context.Context, timeout time.Duration) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return // stopped: the trial runs again at the next start
		case <-tick.C:
			if !a.link.Connected() {
				continue
			}
			if err := a.endTrial(true, "", ""); err != nil && !errors.Is(err, errNoTrial) {
				a.log.Error("config trial not committed", "err", err)
				return
			}
			a.reportConfig()
			return
		case <-deadline.C:
			msg := fmt.Sprintf("no connection to %s within %s", a.cfg.MQTT.URL, timeout)
			if err := a.endTrial(false, ota.ReasonConnect, msg); err != nil && !errors.Is(err, errNoTrial) {
				a.log.Error("config trial not rolled back", "err", err)
				return
			}
			a.ctl.Restart("config fallback")
			return
		}
	}
}
