package device

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/posagent/posagent/wire"

	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
)

// seenRecord remembers a command id for 48 h with the answer sent, so a
// redelivery is answered again and never executed again.
type seenRecord struct {
	At     int64         `json:"at"`
	Type   string        `json:"type"`
	Answer *mqtt.Message `json:"answer,omitempty"` // nil while the command is still running
	Iat    int64         `json:"answer_iat,omitempty"`
}

// Error codes of the error event. unknown_type is protocol §3's; the others
// are this agent's (documented in docs/protocol.md).
const (
	CodeUnknownType = "unknown_type"
	CodeBadRequest  = "bad_request"
	CodeExpired     = "expired"
	CodeUnsupported = "unsupported"
	CodeInternal    = "internal"
)

// errorBody is the body of error (wire.Error).
type errorBody = wire.Error

// handler runs inside the command's journal transaction. It either answers
// at once (answer non-nil) or leaves work that will answer later (after
// commit, run is called).
type handler func(tx *journal.Tx, m mqtt.Message) (answer *mqtt.Message, run func(), err error)

func (a *Agent) handlers() map[string]handler {
	return map[string]handler{
		wire.TypeNotifyPayment: a.acceptNotify,
		wire.TypeDeviceVolume:  a.acceptVolume,
		wire.TypeDeviceSpeak:   a.acceptSpeak,
		wire.TypePayCollect:    a.acceptCollect,
		wire.TypePayCancel:     a.acceptCancel,
		wire.TypePayStatus:     a.acceptPayStatus,
		wire.TypeOrderFound:    a.acceptOrderFound,
		wire.TypeRefundStatus:  a.acceptRefundStatus,
		wire.TypeDepositStatus: a.acceptDepositStatus,
		wire.TypeShiftStart:    a.acceptShiftStart,
		wire.TypeShiftEnd:      a.acceptShiftEndSummary,
		wire.TypeStaffRoster:   a.acceptRoster,
		wire.TypePrintJob:      a.acceptPrintJob,
		wire.TypeConfigSet:     a.acceptConfigSet,
		wire.TypeOTAUpdate:     a.acceptOTA,
	}
}

// unsupported are the commands of the contract (wire.Catalogue) this
// build does not run: answered unsupported, not unknown.
var unsupported = map[string]bool{
	wire.TypeDeviceReboot: true,
}

// onCommand verifies one payload from the cmd topic and journals it before
// returning (the PUBACK follows a true return). It returns false only when
// the command could not be journaled (a full disk): then no PUBACK goes,
// and once the journal takes writes again the link reconnects so that the
// broker sends it again (storage.go).
func (a *Agent) onCommand(payload []byte) bool {
	if a.takeCommand(payload) {
		return true
	}
	a.keepUnacked(payload)
	return false
}

// takeCommand is onCommand's work.
func (a *Agent) takeCommand(payload []byte) bool {
	m, err := mqtt.Verify(payload, mqtt.Keys{Auth: a.auth}, mqtt.Policy{
		Algs: []string{mqtt.HS256}, Dev: a.cfg.DeviceID, Now: a.now(),
	})
	if err == nil && m.ExpiresAt.After(a.now().Add(SeenTTL)) {
		// Its jti would be pruned while it is still valid: replayed then,
		// it would run again. Valid commands live minutes, not days.
		err = fmt.Errorf("%w: exp more than %v ahead", mqtt.ErrClaims, SeenTTL)
	}
	if errors.Is(err, mqtt.ErrSignature) || (err != nil && m.Dev != a.cfg.DeviceID) {
		// Forged, tampered or someone else's: no answer, so a prober learns nothing.
		a.log.Warn("command dropped", "reason", err, "bytes", len(payload))
		return true
	}
	if !validID(m.ID) {
		// The jti names the command's journal record and is logged: one
		// of 40 KB, or with spaces or control bytes, is refused with a clear
		// error whose ref is empty (it cannot be echoed), logged by length.
		a.log.Warn("command refused: jti not 1-64 printable ASCII characters", "jti_len", len(m.ID), "type", m.Type)
		if err := a.j.Update(func(tx *journal.Tx) error {
			_, err := a.emit(tx, wire.TypeError, "", errorBody{Code: CodeBadRequest, Message: fmt.Sprintf("jti must be 1-64 printable ASCII characters without spaces; this one is %d bytes", len(m.ID))})
			return err
		}); err != nil {
			a.log.Error("error event not journaled", "err", err)
			return !a.storageFault(err)
		}
		a.link.Kick()
		return true
	}
	if err != nil {
		a.log.Warn("command refused", "jti", m.ID, "type", m.Type, "reason", err)
		return a.answerOnce(m, func(tx *journal.Tx) (*mqtt.Message, func(), error) {
			ans, err := a.emit(tx, wire.TypeError, m.ID, errorBody{Ref: m.ID, Code: CodeExpired, Message: err.Error()})
			return &ans, nil, err
		})
	}
	if a.refusesBefore(m.IssuedAt) {
		return a.refuseLost(m)
	}
	return a.answerOnce(m, func(tx *journal.Tx) (*mqtt.Message, func(), error) { return a.dispatch(tx, m) })
}

// dispatch runs m's handler within tx: the accept step of a command
// verified and never seen.
func (a *Agent) dispatch(tx *journal.Tx, m mqtt.Message) (*mqtt.Message, func(), error) {
	h := a.handlers()[m.Type]
	if h == nil {
		code, msg := CodeUnknownType, "unknown command type "+m.Type
		switch spec, ok := wire.Catalogue[m.Type]; {
		case ok && spec.Class.FromPlatform():
			code, msg = CodeUnsupported, m.Type+" is not supported by this firmware"
		case ok:
			msg = m.Type + " is a device " + spec.Class.String() + ", not a command"
		}
		ans, err := a.emit(tx, wire.TypeError, m.ID, errorBody{Ref: m.ID, Code: code, Message: msg})
		return &ans, nil, err
	}
	return h(tx, m)
}

// verified is the message of a payload that verifies and takes the usual
// way (answerOnce), or false for one refused, dropped or from before a
// journal loss, which takeCommand handles alone.
func (a *Agent) verified(payload []byte) (mqtt.Message, bool) {
	m, err := mqtt.Verify(payload, mqtt.Keys{Auth: a.auth}, mqtt.Policy{
		Algs: []string{mqtt.HS256}, Dev: a.cfg.DeviceID, Now: a.now(),
	})
	if err != nil || m.ExpiresAt.After(a.now().Add(SeenTTL)) || !validID(m.ID) || a.refusesBefore(m.IssuedAt) {
		return mqtt.Message{}, false
	}
	return m, true
}

// onCommands takes the commands that arrived together (a burst, a queue
// held by the broker through an outage), in their order, journaling them
// in one commit instead of one each: group commit. Each still gets its
// own answer and its own PUBACK after the commit. A command refused or
// dropped is handled alone, in its place; when the shared commit fails
// each is taken alone, so one command's failure is no other's. What the
// commands start after their commit (the outbox's
// kick, their workers' kicks) is left to then, which the link runs once
// their PUBACKs are queued: a worker woken first would wait behind the
// goroutines that write them. One taken alone (refused, dropped, or
// after the shared commit failed) kicks at once.
func (a *Agent) onCommands(payloads [][]byte) (taken []bool, then func()) {
	taken = make([]bool, len(payloads))
	var later []func() // the commands' work after their commit, for then
	type cmd struct {
		i int
		m mqtt.Message
	}
	var batch []cmd
	flush := func() {
		defer func() { batch = batch[:0] }()
		if len(batch) == 1 {
			// Verified already (verified): straight to its commit, as
			// takeCommand would take it, without verifying it again.
			c := batch[0]
			var run func()
			if taken[c.i], run = a.takeOnce(c.m, func(tx *journal.Tx) (*mqtt.Message, func(), error) { return a.dispatch(tx, c.m) }); !taken[c.i] {
				a.keepUnacked(payloads[c.i])
			}
			if run != nil {
				later = append(later, run)
			}
			return
		}
		var runs []func()
		var enqueued bool
		err := a.j.Update(func(tx *journal.Tx) error {
			runs = runs[:0]
			for _, c := range batch {
				run, err := a.acceptOnce(tx, c.m, func(tx *journal.Tx) (*mqtt.Message, func(), error) { return a.dispatch(tx, c.m) })
				if err != nil {
					return err
				}
				if run != nil {
					runs = append(runs, run)
				}
			}
			enqueued = tx.Enqueued()
			return nil
		})
		if err != nil {
			a.log.Warn("commands taken together not journaled: each taken alone", "count", len(batch), "err", err)
			for _, c := range batch {
				taken[c.i] = a.onCommand(payloads[c.i])
			}
			return
		}
		a.storageOK()
		if enqueued {
			later = append(later, a.link.Kick)
		}
		later = append(later, runs...)
		for _, c := range batch {
			taken[c.i] = true
		}
	}
	for i, p := range payloads {
		if m, ok := a.verified(p); ok {
			batch = append(batch, cmd{i, m})
			continue
		}
		if len(batch) > 0 {
			flush()
		}
		taken[i] = a.onCommand(p)
	}
	if len(batch) > 0 {
		flush()
	}
	if len(later) == 0 {
		return taken, nil
	}
	return taken, func() {
		for _, run := range later {
			run()
		}
	}
}

// answerOnce runs accept for a command id never seen, recording the id in
// the same transaction; for an id seen before it re-sends the answer given
// the first time (same jti, so the platform can drop the copy). It says
// false when the command could not be journaled for lack of space (not to
// be acknowledged).
func (a *Agent) answerOnce(m mqtt.Message, accept func(*journal.Tx) (*mqtt.Message, func(), error)) bool {
	ok, run := a.takeOnce(m, accept)
	if run != nil {
		run()
	}
	return ok
}

// takeOnce is answerOnce leaving what follows the commit (the outbox's
// kick, the command's run) to its caller: run, nil when there is nothing.
func (a *Agent) takeOnce(m mqtt.Message, accept func(*journal.Tx) (*mqtt.Message, func(), error)) (ok bool, run func()) {
	var enqueued bool
	err := a.j.Update(func(tx *journal.Tx) error {
		var err error
		run, err = a.acceptOnce(tx, m, accept)
		enqueued = tx.Enqueued()
		return err
	})
	if err != nil {
		// Not journaled: not acknowledged either, so the broker keeps it
		// and sends it again once the journal takes writes (storage.go).
		a.log.Error("command not journaled: not acknowledged", "jti", m.ID, "type", m.Type, "err", err)
		return !a.storageFault(err), nil
	}
	a.storageOK()
	switch {
	case enqueued && run != nil:
		cmd := run
		return true, func() { a.link.Kick(); cmd() }
	case enqueued:
		return true, a.link.Kick
	}
	return true, run
}

// acceptOnce is answerOnce's step within tx: accept for an id never seen,
// recorded as seen; the first answer again for one seen. run is what to do
// after the commit.
func (a *Agent) acceptOnce(tx *journal.Tx, m mqtt.Message, accept func(*journal.Tx) (*mqtt.Message, func(), error)) (run func(), err error) {
	var seen seenRecord
	ok, err := tx.Get(journal.Seen, m.ID, &seen)
	if err != nil {
		return nil, err
	}
	if ok {
		a.log.Info("command redelivered, not executed again", "jti", m.ID, "type", m.Type, "answered", seen.Answer != nil)
		if seen.Answer != nil {
			return nil, mqtt.Enqueue(tx, *seen.Answer)
		}
		return nil, nil // still running: its answer will follow
	}
	ans, run, err := accept(tx)
	if err != nil {
		return nil, err
	}
	rec := seenRecord{At: a.now().Unix(), Type: m.Type, Answer: ans}
	return run, tx.Put(journal.Seen, m.ID, rec)
}

// finish records the answer of a command that ran asynchronously, in tx.
func finish(tx *journal.Tx, jti string, ans mqtt.Message) error {
	var seen seenRecord
	if _, err := tx.Get(journal.Seen, jti, &seen); err != nil {
		return err
	}
	if seen.At == 0 {
		// Pruned meanwhile (a job older than 48 h): keep the answer anyway.
		seen.At = ans.IssuedAt.Unix()
	}
	seen.Answer = &ans
	return tx.Put(journal.Seen, jti, seen)
}

// badRequest answers a command whose body is wrong.
func (a *Agent) badRequest(tx *journal.Tx, m mqtt.Message, format string, args ...any) (*mqtt.Message, func(), error) {
	msg := fmt.Sprintf(format, args...)
	a.log.Warn("command refused", "jti", m.ID, "type", m.Type, "reason", msg)
	ans, err := a.emit(tx, wire.TypeError, m.ID, errorBody{Ref: m.ID, Code: CodeBadRequest, Message: msg})
	return &ans, nil, err
}

// decodeBody decodes a command body strictly: unknown fields are refused so
// a misspelt field is not silently ignored.
func decodeBody(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		raw = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	return nil
}

// hello is sent first on every connect: the platform learns the firmware,
// board and the public key that verifies the device's PS256 requests.
func (a *Agent) hello() mqtt.Message {
	der, _ := x509.MarshalPKIXPublicKey(&a.key.PublicKey)
	pub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	h := wire.DeviceHello{FW: Version, Board: a.cfg.Board, Serial: a.cfg.Serial, PublicKey: string(pub),
		// The platform pinned the old key and will refuse this one until
		// the device is re-bound: say so, so it can be told apart from an
		// attacker announcing a key.
		KeyReplaced: a.stateLocked().Key == "replaced",
		Storage:     a.storageState()}
	body, _ := json.Marshal(h)
	return mqtt.Message{ID: mqtt.NewID(), Type: wire.TypeDeviceHello, Dev: a.cfg.DeviceID, IssuedAt: a.now(), Body: body}
}

// acceptVolume sets and persists the volume and answers device.state.
func (a *Agent) acceptVolume(tx *journal.Tx, m mqtt.Message) (*mqtt.Message, func(), error) {
	var b wire.DeviceVolume
	if err := decodeBody(m.Body, &b); err != nil {
		return a.badRequest(tx, m, "device.volume: %v", err)
	}
	if b.Level == nil || *b.Level < 0 || *b.Level > 10 {
		return a.badRequest(tx, m, "device.volume: level must be 0-10")
	}
	if err := tx.Put(journal.Meta, metaVolume, *b.Level); err != nil {
		return nil, nil, err
	}
	a.mu.Lock()
	a.state.Volume = *b.Level
	a.mu.Unlock()
	ans, err := a.emit(tx, wire.TypeDeviceState, m.ID, a.stateLocked())
	level := *b.Level
	return &ans, func() { a.publishState(); a.volumeChanged(level) }, err
}

// stateLocked is State without touching the journal (callable inside a
// transaction, where a nested read would deadlock on a write lock).
func (a *Agent) stateLocked() State {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.state
	s.TS = a.now().Unix()
	return s
}
