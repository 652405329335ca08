package device

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/posagent/posagent/device/reconfig"
	"github.com/posagent/posagent/wire"

	"github.com/posagent/posagent/audio"
	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/ota"
)

// qrSeenPrefix keys a used QR's jti in journal.Seen. A QR lives at most
// ota.MaxLifetime (+ skew) after its iat, well within SeenTTL, so pruning
// the record can never let a still-valid QR be used twice.
const qrSeenPrefix = "qr "

// qrSeenPrefixOld is the prefix journals written before qrSeenPrefix used:
// a QR recorded so is still refused as used (its record is pruned after
// 48 h, past the QR's own 24 h life).
const qrSeenPrefixOld = "qr:"

// onConfigQR handles a scanned PCFG1. line: verify, check single use, stage
// the trial and restart into it once no payment runs. A refusal is said
// (配置失败) and logged with its reason; the text itself is never logged (it
// holds the broker password and auth key).
func (a *Agent) onConfigQR(line string) {
	if a.ctl == nil {
		a.configRefused("qr", ota.Refused(ota.ReasonBusy, "this agent does not apply configuration (not run by a supervisor)"))
		return
	}
	pub, _ := base64.StdEncoding.DecodeString(a.cfg.ProvisioningPubkey)
	q, err := ota.ParseQR(line, ed25519.PublicKey(pub), a.cfg.Serial, a.now())
	if err != nil {
		a.configRefused("qr", err)
		return
	}
	err = a.j.Update(func(tx *journal.Tx) error {
		var seen seenRecord
		ok, err := tx.Get(journal.Seen, qrSeenPrefix+q.ID, &seen)
		if err == nil && !ok {
			ok, err = tx.Get(journal.Seen, qrSeenPrefixOld+q.ID, &seen)
		}
		if err != nil {
			return err
		}
		if ok {
			return ota.Refused(ota.ReasonReused, "QR %s was used on this device at %s", q.ID, time.Unix(seen.At, 0).UTC().Format(time.RFC3339))
		}
		if err := a.stageConfig(tx, q.Cfg, 0, ota.Trial{Source: "qr", Ref: q.ID, Since: a.now().Unix()}); err != nil {
			return err
		}
		// An installer at the device with a signed QR is the re-binding
		// that a replaced device key waits for.
		if err := a.keyRebound(tx); err != nil {
			return err
		}
		return tx.Put(journal.Seen, qrSeenPrefix+q.ID, seenRecord{At: a.now().Unix(), Type: "config.qr"})
	})
	if err != nil {
		a.configRefused("qr", err)
		return
	}
	a.log.Info("config QR accepted: trying the new config", "jti", q.ID, "bytes", len(line))
	a.applyWhenIdle()
}

// configRefused says 配置失败 and the reason (audio.ConfigFailed) for a
// config that is not even tried, and logs why. The prompt's name carries
// the reason too (config-refused-REASON.wav on the sim board).
func (a *Agent) configRefused(source string, err error) {
	reason := ota.ReasonOf(err)
	if reason == "" {
		a.log.Error("config not applied", "source", source, "err", err)
		reason = "internal"
	} else {
		a.log.Warn("config refused", "source", source, "reason", reason, "err", err)
	}
	a.prompt("config-refused-"+reason, audio.ConfigFailed(reason))
}

// stageConfig stages patch as the trial t within tx (reconfig.Stage).
func (a *Agent) stageConfig(tx *journal.Tx, patch json.RawMessage, version int64, t ota.Trial) error {
	return reconfig.Stage(tx, a.ctl.File(), patch, version, t)
}

// acceptConfigSet stages config.set's patch; the answer (config.applied or
// config.rejected) follows when the trial ends, possibly after a restart,
// from the journal. A patch refused before any trial is answered at once.
func (a *Agent) acceptConfigSet(tx *journal.Tx, m mqtt.Message) (*mqtt.Message, func(), error) {
	if a.ctl == nil {
		ans, err := a.emit(tx, wire.TypeError, m.ID, errorBody{Ref: m.ID, Code: CodeUnsupported, Message: "config.set: this agent does not apply configuration"})
		return &ans, nil, err
	}
	var b wire.ConfigSet
	if err := decodeBody(m.Body, &b); err != nil {
		return a.badRequest(tx, m, "config.set: %v", err)
	}
	if b.Version <= 0 || len(b.Patch) == 0 {
		return a.badRequest(tx, m, "config.set: version (above 0) and patch are required")
	}
	err := a.stageConfig(tx, b.Patch, b.Version, ota.Trial{Source: wire.TypeConfigSet, Ref: m.ID, Since: a.now().Unix()})
	if reason := ota.ReasonOf(err); reason != "" {
		a.log.Warn("config.set refused", "jti", m.ID, "reason", reason, "err", err)
		ans, err := a.emit(tx, wire.TypeConfigRejected, m.ID, wire.ConfigRejected{Version: b.Version, Reason: reason, Message: err.Error()})
		return &ans, func() { a.prompt("config-refused-"+reason, audio.ConfigFailed(reason)) }, err
	}
	if err != nil {
		return nil, nil, err
	}
	a.log.Info("config.set accepted: trying the new config", "jti", m.ID, "version", b.Version)
	return nil, a.applyWhenIdle, nil
}

// applyWhenIdle restarts the agent into the staged config once no payment
// is running, so a reconnect never cuts a payment off.
func (a *Agent) applyWhenIdle() {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if a.waitPaymentsIdle(a.runCtx) {
			a.ctl.Restart("config")
		}
	}()
}

// waitPaymentsIdle waits until no payment waits for a code or is being
// settled with its customer at the till, at most config.idle_wait_ms; false
// when ctx ended first. A payment UNKNOWN or waiting for a person does not
// hold it: no one waits at the till for it, and it resumes from the journal
// after the restart as after any other. Past the bound the restart goes
// ahead for the same reason.
func (a *Agent) waitPaymentsIdle(ctx context.Context) bool {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	bound := time.NewTimer(config.MS(a.cfg.ConfigApply.IdleWaitMS))
	defer bound.Stop()
	logged := false
	for {
		busy := a.paymentAtTill()
		if busy == "" {
			return true
		}
		if !logged {
			a.log.Info("waiting for the payment in progress to end", "out_trade_no", busy, "at_most", config.MS(a.cfg.ConfigApply.IdleWaitMS))
			logged = true
		}
		select {
		case <-ctx.Done():
			return false
		case <-bound.C:
			a.log.Warn("payment still in progress: restarting anyway, it resumes from the journal", "out_trade_no", busy)
			return true
		case <-t.C:
		}
	}
}

// paymentAtTill is a payment waiting for its code or being settled (not
// UNKNOWN, not waiting for a person), or "".
func (a *Agent) paymentAtTill() string {
	if no := a.pays.Awaiting(); no != "" {
		return no
	}
	for _, no := range a.pays.Running() {
		p, err := a.pays.Load(no)
		if err != nil || (p.State != Unknown && p.State != Attention && !Terminal(p.State)) {
			return no
		}
	}
	return ""
}

// newTrial wires the config trial (device/reconfig) to the agent and its
// supervisor.
func (a *Agent) newTrial(ctl Control) *reconfig.Trial {
	t := &reconfig.Trial{Host: reconfig.Host{
		Journal: a.j, Log: a.log, Now: a.now, Events: a.events(),
		Connected: a.link.Connected, Restart: ctl.Restart,
	}, Timeout: config.MS(a.cfg.ConfigApply.ApplyTimeoutMS), Broker: a.cfg.MQTT.URL}
	if a.speech != nil {
		t.Owe = func(tx *journal.Tx, r audio.Record) error { return putSpeech(tx, r) }
		t.Say = func(r audio.Record) {
			if _, err := a.speech.Enqueue(audio.Request{ID: r.ID, Name: r.Name, Class: audio.Announce, Text: r.Text, Since: r.Since}); err != nil {
				a.log.Error("config outcome not queued (said after restart)", "err", err)
			}
		}
	}
	return t
}
