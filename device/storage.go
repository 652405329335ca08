package device

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/posagent/posagent/wire"

	"github.com/posagent/posagent/audio"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
)

// The journal's health (docs/protocol.md §12). A journal
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
func (a *Agent) refuseLost(m mqtt.Message) bool {
	a.log.Warn("command refused: issued before the journal was lost", "jti", m.ID, "type", m.Type,
		"issued", m.IssuedAt.UTC().Format(time.RFC3339), "journal_since", time.UnixMilli(a.lost.At).UTC().Format(time.RFC3339))
	return a.answerOnce(m, func(tx *journal.Tx) (*mqtt.Message, func(), error) {
		ans, err := a.emit(tx, wire.TypeError, m.ID, errorBody{Ref: m.ID, Code: CodeJournalLost,
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
		if _, err := a.emit(tx, wire.TypeDeviceStorage, "", a.storageBody()); err != nil {
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
func (a *Agent) storageBody() wire.DeviceStorage {
	b := wire.DeviceStorage{State: cmp.Or(a.storageState(), "ok")}
	if a.lost != nil {
		b.Lost = &wire.StorageLost{Cause: a.lost.Cause, Kept: a.lost.Kept, Reason: a.lost.Reason,
			At: a.lost.At, RefuseBefore: a.lost.At}
	}
	return b
}

// A full (or failing) disk. A journal write that fails for the storage
// leaves the command unacknowledged (the broker keeps it), the
// notification owed, the print job unprinted; the state says storage
// "full" and the device says 存储空间已满, once. A probe write every
// StorageProbe finds the space back: then 存储已恢复, the link reconnects
// so the broker sends the unacknowledged commands again, and what is owed
// runs.

// StorageProbe is how often a journal that failed for space is tried;
// StorageFreeMin is the free space it waits for (a journal commit writes
// a few pages; growing the file takes more).
const (
	StorageProbe   = time.Second
	StorageFreeMin = 256 << 10
)

// freeBytes is the space left to an unprivileged writer on dir's file
// system.
func freeBytes(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// storageSaidEvery bounds the 存储空间已满 prompts of a disk that flaps
// between full and not.
const storageSaidEvery = 10 * time.Minute

// isStorageErr: a write failed for the storage itself (space, quota, file
// size limit, I/O, read-only), not for what was written.
func isStorageErr(err error) bool {
	for _, e := range []error{syscall.ENOSPC, syscall.EDQUOT, syscall.EFBIG, syscall.EIO, syscall.EROFS} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// storageFault notes a failed journal write and says whether it was the
// storage's; the first such failure starts the probe.
func (a *Agent) storageFault(err error) bool {
	if !isStorageErr(err) {
		return false
	}
	if a.full.Swap(true) {
		return true
	}
	a.log.Error("journal cannot write: storage full or failing; commands are not acknowledged until it can", "err", err)
	a.mu.Lock()
	say := a.fullSaid.IsZero() || a.now().Sub(a.fullSaid) > storageSaidEvery
	if say {
		a.fullSaid = a.now()
	}
	a.mu.Unlock()
	if say {
		a.prompt("storage", audio.PhraseStorageFull)
	}
	a.kickState()
	ctx := a.runCtx
	if ctx == nil {
		ctx = context.Background()
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.probeStorage(ctx)
	}()
	return true
}

// storageOK notes a journal write that went through. The rest runs on
// its own goroutine: it is called from the link's message handler, which
// Redeliver's disconnect must not wait for.
func (a *Agent) storageOK() {
	if a.full.Load() {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.storageBack()
		}()
	}
}

func (a *Agent) probeStorage(ctx context.Context) {
	t := time.NewTicker(StorageProbe)
	defer t.Stop()
	for a.full.Load() {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// Free space first: a few bytes fit in the journal's free pages
		// of a disk still full, and the next command would fail again.
		if free, err := freeBytes(a.cfg.DataDir); err == nil && free < StorageFreeMin {
			continue
		}
		err := a.j.Update(func(tx *journal.Tx) error { return tx.Put(journal.Meta, "storage.probe", a.now().UnixMilli()) })
		if err == nil {
			a.storageBack()
			return
		}
	}
}

// Commands left unacknowledged are also kept in memory (bounded), and
// run again first thing when the journal takes writes: the broker's copy
// comes back only on a reconnect, and not always (a broker may drop what
// it held in flight). A copy run twice is answered once (jti). After a
// restart the broker's copies are all there is.
const maxUnackedBytes = 1 << 20

func (a *Agent) keepUnacked(payload []byte) {
	a.unackedMu.Lock()
	defer a.unackedMu.Unlock()
	if a.unackedBytes+len(payload) > maxUnackedBytes {
		return
	}
	a.unacked = append(a.unacked, bytes.Clone(payload))
	a.unackedBytes += len(payload)
}

// retryUnacked runs the kept commands again, in the order they came.
func (a *Agent) retryUnacked() {
	a.unackedMu.Lock()
	kept := a.unacked
	a.unacked, a.unackedBytes = nil, 0
	a.unackedMu.Unlock()
	for _, p := range kept {
		a.onCommand(p) // one that fails again is kept again
	}
	if len(kept) > 0 {
		a.log.Info("commands not acknowledged while the journal was full run again", "n", len(kept))
	}
}

// storageBack: the journal takes writes again.
func (a *Agent) storageBack() {
	if !a.full.Swap(false) {
		return
	}
	a.log.Info("journal writes again: storage back")
	a.mu.Lock()
	said := !a.fullSaid.IsZero()
	a.mu.Unlock()
	if said {
		a.prompt("storage", audio.PhraseStorageOK)
	}
	a.kickState()
	a.retryUnacked()
	a.link.Redeliver()
	a.nf.Kick()
	if a.pq != nil {
		a.pq.Kick()
	}
}
