package device

import (
	"github.com/posagent/posagent/device/staff"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/wire"
)

// The roster, the PIN check and the rights are device/staff's; these
// names are the agent's API for them.
type (
	Staff       = staff.Staff
	Roster      = staff.Roster
	ShiftRecord = staff.Shift
)

// MaxRoster bounds a roster (staff.MaxRoster).
const MaxRoster = staff.MaxRoster

// Errors of staff authentication (device/staff).
var (
	ErrStaffAuth = staff.ErrStaffAuth
	ErrPINLocked = staff.ErrPINLocked
	ErrNoRoster  = staff.ErrNoRoster
)

// acceptRoster is staff.roster {version, staff:[{staff_id, staff_name,
// refund, manager, pin_hash}]}: it replaces the roster.
func (a *Agent) acceptRoster(tx *journal.Tx, m mqtt.Message) (*mqtt.Message, func(), error) {
	var b wire.StaffRoster
	if err := decodeBody(m.Body, &b); err != nil {
		return a.badRequest(tx, m, "staff.roster: %v", err)
	}
	r := Roster(b)
	if err := r.Check(); err != nil {
		return a.badRequest(tx, m, "staff.roster: %v", err)
	}
	applied, err := staff.Put(tx, r)
	if err != nil {
		return nil, nil, err
	}
	a.log.Info("staff roster", "version", r.Version, "staff", len(r.Staff), "applied", applied)
	ans, err := a.emit(tx, wire.TypeStaffRosterApplied, m.ID, wire.StaffRosterApplied{Version: r.Version, Staff: len(r.Staff), Applied: applied})
	return &ans, nil, err
}

// authStaff checks that pin is staff id's PIN in the roster in force and
// returns their entry (staff.Guard.Auth).
func (a *Agent) authStaff(id, pin string) (Staff, error) {
	var r Roster
	if err := a.j.View(func(tx *journal.Tx) error {
		var err error
		r, err = staff.Load(tx)
		return err
	}); err != nil {
		return Staff{}, err
	}
	return a.pins.Auth(r, id, pin, a.now())
}
