package device

import (
	"time"

	"github.com/posagent/posagent/wire"

	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
)

// Staff is a staff member as the platform's roster names them (roster.go):
// the wire's own struct, so shift.start, staff.roster and the journal's
// records (roster, open shift) share one shape.
type Staff = wire.Staff

// ShiftRecord is the open shift (journal.Shifts, key "current").
type ShiftRecord struct {
	Staff Staff `json:"staff"`
	Since int64 `json:"since"` // Unix seconds, as shift.changed says it
	// SinceMS is the start to the millisecond: the previous shift ends at
	// the same instant, so no payment falls into two windows (a start
	// truncated to the second would overlap the shift before it).
	SinceMS int64 `json:"since_ms,omitempty"`
}

// start is when the shift began (records from before since_ms: Since).
func (sh ShiftRecord) start() time.Time {
	if sh.SinceMS > 0 {
		return time.UnixMilli(sh.SinceMS)
	}
	return time.Unix(sh.Since, 0)
}

const shiftCurrent = "current"

// acceptShiftStart opens a shift for the staff member, closing any open
// one. The body may carry the roster (replacing it), or the person's own
// entry: with pin_hash, their refund/manager rights and PIN hash replace
// their roster entry; without, the roster's entry stands (a platform of
// the bare contract sends only staff_id and staff_name).
func (a *Agent) acceptShiftStart(tx *journal.Tx, m mqtt.Message) (*mqtt.Message, func(), error) {
	var b wire.ShiftStart
	if err := decodeBody(m.Body, &b); err != nil {
		return a.badRequest(tx, m, "shift.start: %v", err)
	}
	s := b.Staff
	if err := checkStaff(s); err != nil {
		return a.badRequest(tx, m, "shift.start: %v", err)
	}
	if b.Roster != nil {
		r := Roster(*b.Roster)
		if err := r.check(); err != nil {
			return a.badRequest(tx, m, "shift.start: roster: %v", err)
		}
		if _, err := a.putRoster(tx, r); err != nil {
			return nil, nil, err
		}
	}
	if s.PINHash != "" {
		if err := a.upsertStaff(tx, s); err != nil {
			return a.badRequest(tx, m, "shift.start: %v", err)
		}
	}
	sh, err := a.openShift(tx, s)
	if err != nil {
		return nil, nil, err
	}
	ans, err := a.emit(tx, wire.TypeShiftChanged, m.ID, wire.ShiftChanged{Open: true, StaffID: s.ID, StaffName: s.Name, Since: sh.Since})
	return &ans, func() { a.afterShift(sh) }, err
}

// openShift records s as on shift from now (rights are the roster's). An
// open shift is closed first (one shift at a time): its summary is sent as
// shift.summary and printed.
func (a *Agent) openShift(tx *journal.Tx, s Staff) (ShiftRecord, error) {
	var sh ShiftRecord
	var cur ShiftRecord
	if open, err := tx.Get(journal.Shifts, shiftCurrent, &cur); err != nil {
		return sh, err
	} else if open {
		sum, err := a.closeShift(tx, "")
		if err != nil {
			return sh, err
		}
		if _, err := a.emit(tx, wire.TypeShiftSummary, "", summaryJSON(sum)); err != nil {
			return sh, err
		}
		tx.OnCommit(func() { a.publishLocal("shift", summaryJSON(sum)) })
	}
	// Taken after the close: the new window starts where the old one ended.
	now := a.now()
	sh = ShiftRecord{Staff: Staff{ID: s.ID, Name: s.Name}, Since: now.Unix(), SinceMS: now.UnixMilli()}
	if err := tx.Put(journal.Shifts, shiftCurrent, sh); err != nil {
		return sh, err
	}
	a.mu.Lock()
	a.state.Shift = &Shift{Staff: s.ID, StaffName: s.Name, Since: sh.Since}
	a.mu.Unlock()
	return sh, nil
}

// loadShift restores the open shift into the state at start.
func (a *Agent) loadShift() {
	var sh ShiftRecord
	var ok bool
	a.j.View(func(tx *journal.Tx) error {
		var err error
		ok, err = tx.Get(journal.Shifts, shiftCurrent, &sh)
		return err
	})
	if ok {
		a.mu.Lock()
		a.state.Shift = &Shift{Staff: sh.Staff.ID, StaffName: sh.Staff.Name, Since: sh.Since}
		a.mu.Unlock()
	}
}
