package device

import (
	"context"
	"sync"

	"github.com/posagent/posagent/config"
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
// config.apply_timeout_ms to connect (reconfig.Trial.Watch); a trial ended before
// this start is reported; an OTA cut off by the restart is resumed.
func (a *Agent) RunSupervised(ctx context.Context, ctl Control, ap ota.Applied) error {
	a.ctl = ctl
	a.fw = a.newUpdater(ctl)
	trial := a.newTrial(ctl)
	a.state.Cfg = int(ap.Version)
	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if ap.Trial != nil {
		wg.Add(1)
		go func() { defer wg.Done(); trial.Watch(wctx) }()
	} else if ap.Report != nil {
		trial.Report()
	}
	wg.Add(1)
	go func() { defer wg.Done(); a.fw.Resume(wctx) }()
	err := a.Run(ctx)
	cancel()
	wg.Wait()
	return err
}
