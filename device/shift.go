package device

import (
	"github.com/posagent/posagent/device/staff"
	"github.com/posagent/posagent/wire"

	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
)

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
	if err := staff.Check(s); err != nil {
		return a.badRequest(tx, m, "shift.start: %v", err)
	}
	if b.Roster != nil {
		r := Roster(*b.Roster)
		if err := r.Check(); err != nil {
			return a.badRequest(tx, m, "shift.start: roster: %v", err)
		}
		if _, err := staff.Put(tx, r); err != nil {
			return nil, nil, err
		}
	}
	if s.PINHash != "" {
		if err := staff.Upsert(tx, s); err != nil {
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
	if _, open, err := staff.Current(tx); err != nil {
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
	if err := staff.Open(tx, sh); err != nil {
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
		sh, ok, err = staff.Current(tx)
		return err
	})
	if ok {
		a.mu.Lock()
		a.state.Shift = &Shift{Staff: sh.Staff.ID, StaffName: sh.Staff.Name, Since: sh.Since}
		a.mu.Unlock()
	}
}
