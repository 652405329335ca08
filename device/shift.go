package device

import (
	"fmt"
	"time"

	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
)

// Staff is what the device knows of a staff member, from shift.start.
type Staff struct {
	ID      string `json:"staff_id"`
	Name    string `json:"staff_name"`
	Refund  bool   `json:"refund"`  // holds the refund right
	Manager bool   `json:"manager"` // the store manager: may refund off shift
}

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

const (
	shiftCurrent = "current"
	staffPrefix  = "staff:"
)

// acceptShiftStart opens a shift for the staff member, closing any open one.
func (a *Agent) acceptShiftStart(tx *journal.Tx, m mqtt.Message) (*mqtt.Message, func(), error) {
	var s Staff
	if err := decodeBody(m.Body, &s); err != nil {
		return a.badRequest(tx, m, "shift.start: %v", err)
	}
	if !validID(s.ID) || len(s.Name) > 64 {
		return a.badRequest(tx, m, "shift.start: staff_id must be 1-64 printable ASCII characters, staff_name at most 64 bytes")
	}
	sh, err := a.openShift(tx, s)
	if err != nil {
		return nil, nil, err
	}
	ans, err := a.emit(tx, "shift.changed", m.ID, map[string]any{"open": true, "staff_id": s.ID, "staff_name": s.Name, "since": sh.Since})
	return &ans, func() { a.afterShift(sh) }, err
}

// openShift records s as on shift from now, and remembers s's rights. An
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
		if _, err := a.emit(tx, "shift.summary", "", sum); err != nil {
			return sh, err
		}
		tx.OnCommit(func() { a.publishLocal("shift", sum) })
	}
	// Taken after the close: the new window starts where the old one ended.
	now := a.now()
	sh = ShiftRecord{Staff: s, Since: now.Unix(), SinceMS: now.UnixMilli()}
	if err := tx.Put(journal.Meta, staffPrefix+s.ID, s); err != nil {
		return sh, err
	}
	if err := tx.Put(journal.Shifts, shiftCurrent, sh); err != nil {
		return sh, err
	}
	a.mu.Lock()
	a.state.Shift = &Shift{Staff: s.ID, Since: sh.Since}
	a.mu.Unlock()
	return sh, nil
}

// mayRefund checks the refund right: the staff member on shift with the
// right, or a manager, on shift or not.
func (a *Agent) mayRefund(tx *journal.Tx, staffID string) error {
	if staffID == "" {
		return fmt.Errorf("%w: staff_id is required to refund", ErrDenied)
	}
	var s Staff
	known, err := tx.Get(journal.Meta, staffPrefix+staffID, &s)
	if err != nil {
		return err
	}
	if known && s.Manager {
		return nil
	}
	var sh ShiftRecord
	open, err := tx.Get(journal.Shifts, shiftCurrent, &sh)
	if err != nil {
		return err
	}
	switch {
	case !open || sh.Staff.ID != staffID:
		return fmt.Errorf("%w: %s is not on shift (only the staff on shift or the manager may refund)", ErrDenied, staffID)
	case !sh.Staff.Refund:
		return fmt.Errorf("%w: %s does not hold the refund right", ErrDenied, staffID)
	}
	return nil
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
		a.state.Shift = &Shift{Staff: sh.Staff.ID, Since: sh.Since}
		a.mu.Unlock()
	}
}

// onShift checks that staffID is the staff member on shift, or a manager.
func (a *Agent) onShift(tx *journal.Tx, staffID string) error {
	if staffID == "" {
		return fmt.Errorf("%w: staff_id is required", ErrDenied)
	}
	var s Staff
	if known, err := tx.Get(journal.Meta, staffPrefix+staffID, &s); err != nil {
		return err
	} else if known && s.Manager {
		return nil
	}
	var sh ShiftRecord
	open, err := tx.Get(journal.Shifts, shiftCurrent, &sh)
	if err != nil {
		return err
	}
	if !open || sh.Staff.ID != staffID {
		return fmt.Errorf("%w: %s is not on shift", ErrDenied, staffID)
	}
	return nil
}
