package platform

import "fmt"

// LedgerEntry is what really happened to the customer's money for one
// out_trade_no, whatever the device was told. End-to-end tests compare it
// with the device journal: a charge the device does not know as paid, or
// Charges > 1, is money lost or doubled.
type LedgerEntry struct {
	OutTradeNo string  `json:"out_trade_no"`
	Dev        string  `json:"dev"`
	Amount     int64   `json:"amount"` // fen; 0 for a reverse of an order never submitted
	Wallet     string  `json:"wallet"`
	Deposit    bool    `json:"deposit"`
	Outcome    Outcome `json:"outcome"`
	// State is the order's trade state now (SUCCESS, REFUND, REVOKED, ...).
	State string `json:"state"`
	// Charged: money was taken (or, for a deposit, frozen) from the
	// customer (it may since have been given back by a reverse, refunds or
	// a release).
	Charged bool `json:"charged"`
	// Reversed: the order was closed by a pay.reverse; if it had been
	// charged, the charge was undone.
	Reversed bool `json:"reversed"`
	// Refunded is the fen given back by refunds (money returned; a refund
	// still PROCESSING or ABNORMAL is in RefundHeld instead).
	Refunded int64 `json:"refunded"`
	// RefundCount is how many refunds returned money.
	RefundCount int `json:"refund_count"`
	// RefundHeld is the fen of refunds accepted whose money has not come
	// back: PROCESSING, or ABNORMAL (WeChat CHANGE: a person must settle it).
	RefundHeld int64 `json:"refund_held,omitempty"`
	// Refunds are the accepted refunds, in the order they came.
	Refunds []LedgerRefund `json:"refunds,omitempty"`
	// DoubleRefunds counts out_refund_nos that returned money more than
	// once: the provider makes that impossible, so it must be 0.
	DoubleRefunds int `json:"double_refunds,omitempty"`
	// Consumed and Released are a deposit's final step: fen taken, and
	// whether the (rest of the) freeze went back to the customer.
	Consumed int64 `json:"consumed,omitempty"`
	Released bool  `json:"released,omitempty"`
	// ReleasedFen is the fen a release gave back (unfreeze: all; consume:
	// the rest; the provider's release for age: all).
	ReleasedFen int64 `json:"released_fen,omitempty"`
	// AutoReleased: the provider released the deposit for its age
	// (DepositReleaseAge), not the device.
	AutoReleased bool `json:"auto_released,omitempty"`
	// Frozen is the fen frozen now (a deposit not yet consumed or released).
	Frozen int64 `json:"frozen,omitempty"`
	// Charges counts the times money was actually taken: never more than 1.
	Charges       int    `json:"charges"`
	TransactionID string `json:"transaction_id"`
	PaidAt        int64  `json:"paid_at"` // Unix seconds, 0 when never charged
}

// LedgerRefund is one accepted refund.
type LedgerRefund struct {
	OutRefundNo string  `json:"out_refund_no"`
	Amount      int64   `json:"amount"`
	State       string  `json:"state"` // SUCCESS, PROCESSING, ABNORMAL, CLOSED
	Outcome     Outcome `json:"outcome"`
	RefundID    string  `json:"refund_id"`
	// Returned counts the times this refund gave the money back: 0 or 1.
	Returned int `json:"returned"`
}

// Net is the fen the customer is out of pocket for this order now (a
// frozen deposit counts: the customer cannot spend it).
func (e LedgerEntry) Net() int64 {
	if !e.Charged || e.Reversed {
		return 0
	}
	if e.Deposit && e.Released {
		return e.Consumed - e.Refunded
	}
	return e.Amount - e.Refunded
}

// LedgerSummary totals the ledger.
type LedgerSummary struct {
	Orders        int   `json:"orders"`          // out_trade_nos seen (reverse-only ones included)
	Charged       int   `json:"charged"`         // orders that took (or froze) money
	ChargedFen    int64 `json:"charged_fen"`     // what they took
	Reversed      int   `json:"reversed"`        // orders closed by a reverse
	ReversedFen   int64 `json:"reversed_fen"`    // what reverses gave back
	Refunded      int   `json:"refunded"`        // orders with refunds that returned money
	RefundedFen   int64 `json:"refunded_fen"`    // what refunds gave back
	RefundHeldFen int64 `json:"refund_held_fen"` // refunds accepted, money not returned (processing, abnormal)
	ReleasedFen   int64 `json:"released_fen"`    // what deposit releases gave back (unfreeze, consume's rest, auto-release)
	AutoReleased  int   `json:"auto_released"`   // deposits the provider released for their age
	FrozenFen     int64 `json:"frozen_fen"`      // deposits frozen now
	NetFen        int64 `json:"net_fen"`         // charged − reversed − refunded − released
	DoubleCharges int   `json:"double_charges"`  // orders with Charges > 1: must be 0
	DoubleRefunds int   `json:"double_refunds"`  // out_refund_nos refunded twice: must be 0
}

func (s LedgerSummary) String() string {
	return fmt.Sprintf("%d orders: %d charged (%d fen), %d reversed (%d fen back), %d refunded (%d fen back, %d fen held), %d fen released (%d deposits by age), %d fen frozen, net %d fen, %d double charges, %d double refunds",
		s.Orders, s.Charged, s.ChargedFen, s.Reversed, s.ReversedFen, s.Refunded, s.RefundedFen, s.RefundHeldFen,
		s.ReleasedFen, s.AutoReleased, s.FrozenFen, s.NetFen, s.DoubleCharges, s.DoubleRefunds)
}

// Ledger lists every out_trade_no the provider saw, in the order it first
// saw them, as the provider's clock has it now (a deposit past its age is
// released first).
func (p *Provider) Ledger() []LedgerEntry {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	p.sweepAll()
	out := make([]LedgerEntry, 0, len(p.order))
	for _, o := range p.order {
		out = append(out, p.entry(o))
	}
	return out
}

// Entry returns the ledger entry of one out_trade_no.
func (p *Provider) Entry(outTradeNo string) (LedgerEntry, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	o, ok := p.orders[outTradeNo]
	if !ok {
		return LedgerEntry{}, false
	}
	p.sweep(o)
	return p.entry(o), true
}

// entry is o as a ledger entry; p.mu is held.
func (p *Provider) entry(o *order) LedgerEntry {
	st := p.status(o, "")
	e := LedgerEntry{
		OutTradeNo: o.outTradeNo, Dev: o.dev, Amount: o.amount, Wallet: o.wallet, Deposit: o.deposit,
		Outcome: o.outcome, State: st.State, Charged: o.charges > 0, Reversed: o.reversed,
		Refunded: o.refunded, Charges: o.charges, TransactionID: st.TransactionID, PaidAt: st.PaidAt,
		Consumed: o.consumed, Released: o.released, AutoReleased: o.autoReleased,
	}
	if o.deposit {
		frozen, _, released := depositAmounts(o)
		e.ReleasedFen = released
		if p.depositState(o) == DepositFrozen {
			e.Frozen = frozen
		}
	}
	for _, rf := range o.refunds {
		e.Refunds = append(e.Refunds, LedgerRefund{OutRefundNo: rf.no, Amount: rf.amount, State: rf.state,
			Outcome: rf.outcome, RefundID: rf.refundID, Returned: rf.returned})
		if rf.returned > 0 {
			e.RefundCount++
		}
		if rf.returned > 1 {
			e.DoubleRefunds++
		}
		if rf.state == RefundProcessing || rf.state == RefundAbnormal {
			e.RefundHeld += rf.amount
		}
	}
	return e
}

// Summary totals the ledger.
func (p *Provider) Summary() LedgerSummary {
	return Summarize(p.Ledger())
}

// Summarize totals ledger entries.
func Summarize(entries []LedgerEntry) LedgerSummary {
	var s LedgerSummary
	for _, e := range entries {
		s.Orders++
		if e.Charged {
			s.Charged++
			s.ChargedFen += e.Amount
		}
		if e.Reversed {
			s.Reversed++
			if e.Charged {
				s.ReversedFen += e.Amount
			}
		}
		if e.Refunded > 0 {
			s.Refunded++
			s.RefundedFen += e.Refunded
		}
		s.RefundHeldFen += e.RefundHeld
		s.ReleasedFen += e.ReleasedFen
		s.FrozenFen += e.Frozen
		if e.AutoReleased {
			s.AutoReleased++
		}
		if e.Charges > 1 {
			s.DoubleCharges++
		}
		s.DoubleRefunds += e.DoubleRefunds
		s.NetFen += e.Net()
	}
	return s
}

// Check returns the violations of the provider's own invariants, one
// sentence each; none is the only right answer. The provider is built so
// that none can happen, whatever the devices send: Check is what an
// end-to-end test asserts after a run, so that a change to the simulator
// that lets money be taken twice, or given back more than it was taken,
// fails loudly instead of making a broken device look right.
//
//   - money taken more than once for one out_trade_no;
//   - refunds of more than was charged (a deposit: more than was consumed);
//   - refunds and releases (and a reverse) together giving back more than
//     was taken or frozen;
//   - a refund of a deposit that was still frozen (frozen money goes back
//     by unfreeze or the provider's release, never also by refund);
//   - one out_refund_no returning money more than once;
//   - money given back for an order that never took any.
func (p *Provider) Check() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	p.sweepAll()
	var v []string
	bad := func(o *order, f string, args ...any) {
		v = append(v, o.outTradeNo+": "+fmt.Sprintf(f, args...))
	}
	for _, o := range p.order {
		if o.charges > 1 {
			bad(o, "money taken %d times", o.charges)
		}
		var released int64 // the raw state, not depositAmounts: a broken order shows as broken
		if o.released {
			released = o.amount - o.consumed
		}
		var back int64 // given back by a reverse of a charged order
		if o.reversed && o.charges > 0 {
			back = o.amount
		}
		switch {
		case o.charges == 0 && (o.refunded > 0 || o.consumed > 0 || o.released):
			bad(o, "never charged, yet %d fen refunded, %d consumed, released %v", o.refunded, o.consumed, o.released)
		case o.deposit:
			if o.refunded > o.consumed {
				bad(o, "refunded %d fen of a deposit that consumed %d", o.refunded, o.consumed)
			}
			if o.refunded+released+back > o.amount {
				bad(o, "refunds %d + releases %d + reverse %d fen give back more than the %d frozen", o.refunded, released, back, o.amount)
			}
		default:
			if o.refunded > o.amount {
				bad(o, "refunded %d fen of %d charged", o.refunded, o.amount)
			}
			if o.refunded+back > o.amount {
				bad(o, "refunds %d + reverse %d fen give back more than the %d taken", o.refunded, back, o.amount)
			}
		}
		for _, rf := range o.refunds {
			if rf.returned > 1 {
				bad(o, "refund %s returned the money %d times", rf.no, rf.returned)
			}
			if rf.frozen {
				bad(o, "refund %s of a deposit still frozen", rf.no)
			}
		}
	}
	return v
}
