package device

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/posagent/posagent/device/orders"
	"github.com/posagent/posagent/wire"

	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/printer"
)

// summarize adds up, from the journal, what happened in [from, to): paid
// payments and frozen deposits by the time the device confirmed them,
// refunds and deposit operations by the time they succeeded, deposits the
// provider released by itself by the time the device learnt it. Income by
// wallet holds payments and deposit consumption, so its counts and amounts
// add up to PayCount+ConsumeCount and PayAmount+ConsumeAmount; released
// money is never income.
func (a *Agent) summarize(tx *journal.Tx, from, to time.Time) (printer.ShiftSummary, error) {
	s := printer.ShiftSummary{Store: a.cfg.Store.Name, Device: a.cfg.DeviceID, Start: from, End: to}
	in := func(ms int64) bool { t := time.UnixMilli(ms); return !t.Before(from) && t.Before(to) }
	wallets := map[string]*printer.WalletTotal{}
	income := func(wallet string, amount int64) {
		w := wallets[wallet]
		if w == nil {
			w = &printer.WalletTotal{Wallet: wallet}
			wallets[wallet] = w
		}
		w.Count++
		w.Amount += amount
	}
	// Only what was filed under a time in the window is read (index.go);
	// each record is then checked by its own current times.
	order := func(no string) (Payment, bool, error) {
		var p Payment
		ok, err := tx.Get(journal.Orders, no, &p)
		return p, ok && p.State == Paid, err
	}
	err := orders.DoneIn(tx, from, to, func(kind, id string) error {
		switch kind {
		case orders.DoneRelease:
			p, ok, err := order(id)
			if err != nil || !ok {
				return err
			}
			if p.Deposit && p.ReleasedAt > 0 && in(p.ReleasedAt) {
				s.UnfreezeCount++
				s.UnfreezeAmount += p.Released
			}
		case orders.DonePay:
			p, ok, err := order(id)
			if err != nil || !ok || !in(firstPositive(p.ConfirmedAt, p.CreatedAt)) {
				return err
			}
			if p.Deposit {
				s.DepositCount++
				s.DepositAmount += p.Amount
				return nil
			}
			s.PayCount++
			s.PayAmount += p.Amount
			income(p.Wallet, p.Amount)
		case orders.DoneRefund:
			var r Refund
			ok, err := tx.Get(journal.Refunds, id, &r)
			if err == nil && ok && r.State == RefundSuccess && in(r.UpdatedAt) {
				s.RefundCount++
				s.RefundAmount += r.Amount
			}
			return err
		case orders.DoneOp:
			var d DepositOp
			ok, err := tx.Get(journal.Deposits, id, &d)
			if err != nil || !ok || d.State != OpSuccess || !in(d.UpdatedAt) {
				return err
			}
			if d.Op == "consume" {
				s.ConsumeCount++
				s.ConsumeAmount += d.Consumed
				if d.Released > 0 {
					s.ConsumeReleasedCount++
					s.ConsumeReleased += d.Released
				}
				wallet := d.Wallet
				if wallet == "" {
					var p Payment
					if _, err := tx.Get(journal.Orders, d.OutTradeNo, &p); err != nil {
						return err
					}
					wallet = p.Wallet
				}
				income(wallet, d.Consumed)
			} else {
				s.UnfreezeCount++
				s.UnfreezeAmount += d.Released
			}
		}
		return nil
	})
	for _, w := range wallets {
		s.ByWallet = append(s.ByWallet, *w)
	}
	sort.Slice(s.ByWallet, func(i, j int) bool { return s.ByWallet[i].Wallet < s.ByWallet[j].Wallet })
	return s, err
}

func firstPositive(a, b int64) int64 {
	if a > 0 {
		return a
	}
	return b
}

// closeShift ends the open shift in tx: its summary is kept, printed
// (queued durably) and returned; the caller sends it as shift.summary. staffID, when given, must be the one on
// shift.
func (a *Agent) closeShift(tx *journal.Tx, staffID string) (printer.ShiftSummary, error) {
	var sh ShiftRecord
	ok, err := tx.Get(journal.Shifts, shiftCurrent, &sh)
	if err != nil {
		return printer.ShiftSummary{}, err
	}
	if !ok || (staffID != "" && staffID != sh.Staff.ID) {
		return printer.ShiftSummary{}, say("没有 "+staffID+" 的当班记录", fmt.Errorf("%w: no open shift for %q", ErrConflict, staffID))
	}
	// To the millisecond, as records and the next shift's start are: the
	// next window begins at or after this end, never inside it.
	now := time.UnixMilli(a.now().UnixMilli())
	sum, err := a.summarize(tx, sh.start(), now)
	if err != nil {
		return sum, err
	}
	sum.StaffID, sum.StaffName = sh.Staff.ID, sh.Staff.Name
	if err := tx.Delete(journal.Shifts, shiftCurrent); err != nil {
		return sum, err
	}
	key := "closed:" + strconv.FormatInt(sh.Since, 10) + ":" + sh.Staff.ID
	if err := tx.Put(journal.Shifts, key, sum); err != nil {
		return sum, err
	}
	if a.printer != nil && a.pq != nil {
		doc := sum.Markup(a.pq.profile.Columns)
		if err := a.queueDoc(tx, "shift:"+strconv.FormatInt(sh.Since, 10)+":"+sh.Staff.ID, "", doc); err != nil {
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
		a.pq.kick()
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
		var sh ShiftRecord
		ok, err := tx.Get(journal.Shifts, shiftCurrent, &sh)
		if err != nil {
			return err
		}
		if !ok {
			return say("当前没有人当班", fmt.Errorf("%w: no shift is open", ErrNotFound))
		}
		sum, err = a.summarize(tx, sh.start(), a.now())
		sum.StaffID, sum.StaffName = sh.Staff.ID, sh.Staff.Name
		return err
	})
	return sum, err
}

// TransactionSummary is the transaction report (交易汇总) of [from, to).
func (a *Agent) TransactionSummary(from, to time.Time) (printer.TransactionSummary, error) {
	var t printer.TransactionSummary
	err := a.j.View(func(tx *journal.Tx) error {
		s, err := a.summarize(tx, from, to)
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
