package device

import (
	"github.com/posagent/posagent/device/firmware"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/wire"
)

// newUpdater wires ota.update (device/firmware) to the agent and the
// supervisor that runs it (ctl).
func (a *Agent) newUpdater(ctl Control) *firmware.Updater {
	return &firmware.Updater{Host: firmware.Host{
		Journal: a.j, Log: a.log, Events: a.events(),
		Connected: a.link.Connected, Idle: a.waitPaymentsIdle,
		Binary: ctl.Binary, Args: ctl.Args,
		Exec: func(path string, args []string, reason string) {
			ctl.ExecInto(&RestartError{Path: path, Args: args, Reason: reason})
		},
	}, Version: Version, Config: a.cfg}
}

// acceptOTA checks an ota.update before anything is downloaded and starts
// it (firmware.Updater.Accept); an agent not run by a supervisor that can
// replace its binary refuses it.
func (a *Agent) acceptOTA(tx *journal.Tx, m mqtt.Message) (*mqtt.Message, func(), error) {
	if a.ctl == nil || a.ctl.Binary() == "" {
		ans, err := a.emit(tx, wire.TypeError, m.ID, errorBody{Ref: m.ID, Code: CodeUnsupported, Message: "ota.update: this agent cannot replace its binary"})
		return &ans, nil, err
	}
	var b wire.OTAUpdate
	if err := decodeBody(m.Body, &b); err != nil {
		return a.badRequest(tx, m, "ota.update: %v", err)
	}
	res, job, err := a.fw.Accept(tx, m.ID, b)
	switch {
	case err != nil:
		return nil, nil, err
	case res != nil:
		ans, err := a.emit(tx, wire.TypeOTAResult, m.ID, *res)
		return &ans, nil, err
	}
	return nil, func() {
		a.wg.Add(1)
		go func() { defer a.wg.Done(); a.fw.Run(a.runCtx, *job) }()
	}, nil
}
