package device

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/posagent/posagent/audio"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
)

// The journal's health (docs/protocol-extensions.md "Storage"). A journal
// lost or damaged was replaced by a new one at start (journal.OpenDir):
// the device no longer knows which commands it ran, so it refuses every
// command issued before the new journal began — each may have run already
// (a replayed notify.payment would be a second 收款) — and tells the
// platform, which reconciles them, in device.storage, the state and the
// hello; it says 存储故障 once.

// CodeJournalLost refuses a command issued before the journal was lost.
const CodeJournalLost = "journal_lost"

const metaLostReported = "journal.lost.reported"

// Storage states (State.Storage).
const (
	StorageLost = "lost"
	StorageFull = "full"
)

// refusesBefore says whether a command issued at iat may predate the
// journal (it was lost since): such a command may have run already. iat
// is whole seconds (JWT), so the second the new journal began counts as
// before.
func (a *Agent) refusesBefore(iat time.Time) bool {
	return a.lost != nil && iat.Unix() <= a.lost.At/1000
}

// storageState is State.Storage: full while a journal write fails for
// space, lost for SeenTTL after a loss (as long as a command from before
// it can still arrive valid), "" otherwise.
func (a *Agent) storageState() string {
	switch {
	case a.full.Load():
		return StorageFull
	case a.lost != nil && a.now().Before(time.UnixMilli(a.lost.At).Add(SeenTTL)):
		return StorageLost
	}
	return ""
}

// refuseLost answers a command from before the loss.
func (a *Agent) refuseLost(m mqtt.Message) {
	a.log.Warn("command refused: issued before the journal was lost", "jti", m.ID, "type", m.Type,
		"issued", m.IssuedAt.UTC().Format(time.RFC3339), "journal_since", time.UnixMilli(a.lost.At).UTC().Format(time.RFC3339))
	a.answerOnce(m, func(tx *journal.Tx) (*mqtt.Message, func(), error) {
		ans, err := a.emit(tx, "error", m.ID, errorBody{Ref: m.ID, Code: CodeJournalLost,
			Message: fmt.Sprintf("the device's journal was lost (%s) and restarted at %s; this command was issued before and may have run already: reconcile it",
				a.lost.Cause, time.UnixMilli(a.lost.At).UTC().Format(time.RFC3339))})
		return &ans, nil, err
	})
}

// reportLost sends device.storage and says 存储故障, once per loss.
func (a *Agent) reportLost() {
	if a.lost == nil {
		return
	}
	a.log.Error("journal lost: started on a new one", "cause", a.lost.Cause, "reason", a.lost.Reason, "kept", a.lost.Kept,
		"refusing_commands_issued_before", time.UnixMilli(a.lost.At).UTC().Format(time.RFC3339))
	var first bool
	err := a.j.Update(func(tx *journal.Tx) error {
		var done bool
		if _, err := tx.Get(journal.Meta, metaLostReported, &done); err != nil || done {
			return err
		}
		first = true
		if _, err := a.emit(tx, "device.storage", "", a.storageBody()); err != nil {
			return err
		}
		return tx.Put(journal.Meta, metaLostReported, true)
	})
	if err != nil {
		a.log.Error("device.storage not journaled", "err", err)
		return
	}
	if first {
		a.link.Kick()
		a.prompt("storage", audio.PhraseStorageFault)
	}
}

// decodeRecord decodes a journal record for a scan; one that does not
// decode (a damaged value) is skipped with a warning naming it, never
// silently: it stays in the journal for posagent -salvage and a person.
func (a *Agent) decodeRecord(bucket, key string, v []byte, dst any) bool {
	if err := json.Unmarshal(v, dst); err != nil {
		a.badRecords.Add(1)
		a.log.Warn("journal record unreadable: skipped", "bucket", bucket, "key", clip(key, 64), "bytes", len(v), "err", err)
		return false
	}
	return true
}

// storageBody is device.storage's body.
func (a *Agent) storageBody() map[string]any {
	b := map[string]any{"state": a.storageState()}
	if b["state"] == "" {
		b["state"] = "ok"
	}
	if a.lost != nil {
		b["lost"] = map[string]any{"cause": a.lost.Cause, "kept": a.lost.Kept, "reason": a.lost.Reason,
			"at": a.lost.At, "refuse_before": a.lost.At}
	}
	return b
}
