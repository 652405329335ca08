// Package books adds up the money records of a window of time — a
// shift's handover slip (交接班), the transaction report (交易汇总) — from the
// journal's done index (orders.DoneIn), so its cost follows what happened
// in the window, not the years of records a device keeps.
//
// Invariants: a record counts in the window of the instant it was settled
// (a payment when the device confirmed it, a refund or deposit operation
// when it succeeded, a release when the device learnt of it), once; income
// is payments and deposit consumption less refunds, and frozen or
// released money is never income.
package books

import (
	"cmp"
	"sort"
	"time"

	"github.com/posagent/posagent/device/orders"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/printer"
)

// Summarize adds up, from the journal, what happened in [from, to): paid
// payments and frozen deposits by the time the device confirmed them,
// refunds and deposit operations by the time they succeeded, deposits the
// provider released by itself by the time the device learnt it. Income by
// wallet holds payments and deposit consumption, so its counts and amounts
// add up to PayCount+ConsumeCount and PayAmount+ConsumeAmount; released
// money is never income.
func Summarize(tx *journal.Tx, store, device string, from, to time.Time) (printer.ShiftSummary, error) {
	s := printer.ShiftSummary{Store: store, Device: device, Start: from, End: to}
	in := func(ms int64) bool { t := time.UnixMilli(ms); return !t.Before(from) && t.Before(to) }
	wallets := map[string]*printer.WalletTotal{}
	income := func(wallet string, amount int64) {
		w := wallets[wallet]
		if w == nil {
			w = &printer.WalletTotal{Wallet: wallet, WalletName: printer.WalletName(wallet)}
			wallets[wallet] = w
		}
		w.Count++
		w.Amount += amount
	}
	// Only what was filed under a time in the window is read (orders.DoneIn);
	// each record is then checked by its own current times.
	order := func(no string) (orders.Payment, bool, error) {
		var p orders.Payment
		ok, err := tx.Get(journal.Orders, no, &p)
		return p, ok && p.State == orders.Paid, err
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
			if err != nil || !ok || !in(cmp.Or(p.ConfirmedAt, p.CreatedAt)) {
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
			var r orders.Refund
			ok, err := tx.Get(journal.Refunds, id, &r)
			if err == nil && ok && r.State == orders.RefundSuccess && in(r.UpdatedAt) {
				s.RefundCount++
				s.RefundAmount += r.Amount
			}
			return err
		case orders.DoneOp:
			var d orders.DepositOp
			ok, err := tx.Get(journal.Deposits, id, &d)
			if err != nil || !ok || d.State != orders.OpSuccess || !in(d.UpdatedAt) {
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
					var p orders.Payment
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
