package device

import (
	"fmt"
	"strconv"
	"time"

	"github.com/posagent/posagent/device/books"
	"github.com/posagent/posagent/device/staff"
	"github.com/posagent/posagent/wire"

	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/printer"
)

// closeShift ends the open shift in tx: its summary is kept, printed
// (queued durably) and returned; the caller sends it as shift.summary. staffID, when given, must be the one on
// shift.
func (a *Agent) closeShift(tx *journal.Tx, staffID string) (printer.ShiftSummary, error) {
	sh, ok, err := staff.Current(tx)
	if err != nil {
		return printer.ShiftSummary{}, err
	}
	if !ok || (staffID != "" && staffID != sh.Staff.ID) {
		return printer.ShiftSummary{}, say("没有 "+staffID+" 的当班记录", fmt.Errorf("%w: no open shift for %q", ErrConflict, staffID))
	}
	// To the millisecond, as records and the next shift's start are: the
	// next window begins at or after this end, never inside it.
	now := time.UnixMilli(a.now().UnixMilli())
	sum, err := books.Summarize(tx, a.cfg.Store.Name, a.cfg.DeviceID, sh.Start(), now)
	if err != nil {
		return sum, err
	}
	sum.StaffID, sum.StaffName = sh.Staff.ID, sh.Staff.Name
	if err := staff.Close(tx); err != nil {
		return sum, err
	}
	key := "closed:" + strconv.FormatInt(sh.Since, 10) + ":" + sh.Staff.ID
	if err := tx.Put(journal.Shifts, key, sum); err != nil {
		return sum, err
	}
	if a.printer != nil && a.pq != nil {
		doc := sum.Markup(a.pq.Profile().Columns)
		if err := a.pq.AddDoc(tx, "shift:"+strconv.FormatInt(sh.Since, 10)+":"+sh.Staff.ID, "", doc); err != nil {
			return sum, err
		}
	}
	a.mu.Lock()
	a.state.Shift = nil
	a.mu.Unlock()
	return sum, nil
}

// afterShift tells everyone of a shift change once it is committed.
func (a *Agent) afterShift(sum any) {
	a.link.Kick()
	if a.pq != nil {
		a.pq.Kick()
	}
	a.publishState()
	if s, ok := sum.(printer.ShiftSummary); ok {
		a.publishLocal("shift", summaryJSON(s))
		return
	}
	a.publishLocal("shift", sum)
}

// ShiftSummary is the open shift's summary so far.
func (a *Agent) ShiftSummary() (printer.ShiftSummary, error) {
	var sum printer.ShiftSummary
	err := a.j.View(func(tx *journal.Tx) error {
		sh, ok, err := staff.Current(tx)
		if err != nil {
			return err
		}
		if !ok {
			return say("当前没有人当班", fmt.Errorf("%w: no shift is open", ErrNotFound))
		}
		sum, err = books.Summarize(tx, a.cfg.Store.Name, a.cfg.DeviceID, sh.Start(), a.now())
		sum.StaffID, sum.StaffName = sh.Staff.ID, sh.Staff.Name
		return err
	})
	return sum, err
}

// TransactionSummary is the transaction report (交易汇总) of [from, to).
func (a *Agent) TransactionSummary(from, to time.Time) (printer.TransactionSummary, error) {
	var t printer.TransactionSummary
	err := a.j.View(func(tx *journal.Tx) error {
		s, err := books.Summarize(tx, a.cfg.Store.Name, a.cfg.DeviceID, from, to)
		t = printer.TransactionSummary{Store: s.Store, Device: s.Device, From: from, To: to,
			Count: s.PayCount + s.ConsumeCount, Amount: s.PayAmount + s.ConsumeAmount, Settled: s.PayAmount + s.ConsumeAmount,
			RefundCount: s.RefundCount, Refunded: s.RefundAmount, ByWallet: s.ByWallet, Printed: a.now(),
			FrozenCount: s.DepositCount, FrozenAmount: s.DepositAmount, ConsumeCount: s.ConsumeCount, ConsumeAmount: s.ConsumeAmount,
			ReleasedCount: s.UnfreezeCount + s.ConsumeReleasedCount, ReleasedAmount: s.UnfreezeAmount + s.ConsumeReleased}
		return err
	})
	return t, err
}

// acceptShiftEndSummary is shift.end: it closes the shift and answers the
// handover summary (protocol §3), which is also printed.
func (a *Agent) acceptShiftEndSummary(tx *journal.Tx, m mqtt.Message) (*mqtt.Message, func(), error) {
	var b wire.ShiftEnd
	if err := decodeBody(m.Body, &b); err != nil {
		return a.badRequest(tx, m, "shift.end: %v", err)
	}
	sum, err := a.closeShift(tx, b.StaffID)
	if err != nil {
		return a.badRequest(tx, m, "shift.end: %v", err)
	}
	ans, err := a.emit(tx, wire.TypeShiftSummary, m.ID, summaryJSON(sum))
	return &ans, func() { a.afterShift(sum) }, err
}
