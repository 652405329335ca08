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
	// Charged: money was taken from the customer (it may since have been
	// given back by a reverse or refunds).
	Charged bool `json:"charged"`
	// Reversed: the order was closed by a pay.reverse; if it had been
	// charged, the charge was undone.
	Reversed bool `json:"reversed"`
	// Refunded is the fen given back by refunds.
	Refunded int64 `json:"refunded"`
	// Consumed and Released are a deposit's final step: fen taken, and
	// whether the (rest of the) freeze went back to the customer.
	Consumed int64 `json:"consumed,omitempty"`
	Released bool  `json:"released,omitempty"`
	// Charges counts the times money was actually taken: never more than 1.
	Charges       int    `json:"charges"`
	TransactionID string `json:"transaction_id"`
	PaidAt        int64  `json:"paid_at"` // Unix seconds, 0 when never charged
}

// Net is the fen the customer is out of pocket for this order now.
func (e LedgerEntry) Net() int64 {
	if !e.Charged || e.Reversed {
		return 0
	}
	return e.Amount - e.Refunded
}

// LedgerSummary totals the ledger.
type LedgerSummary struct {
	Orders        int   `json:"orders"`         // out_trade_nos seen (reverse-only ones included)
	Charged       int   `json:"charged"`        // orders that took money
	ChargedFen    int64 `json:"charged_fen"`    // what they took
	Reversed      int   `json:"reversed"`       // orders closed by a reverse
	ReversedFen   int64 `json:"reversed_fen"`   // what reverses gave back
	Refunded      int   `json:"refunded"`       // orders with refunds
	RefundedFen   int64 `json:"refunded_fen"`   // what refunds gave back
	NetFen        int64 `json:"net_fen"`        // charged − reversed − refunded
	DoubleCharges int   `json:"double_charges"` // orders with Charges > 1: must be 0
}

func (s LedgerSummary) String() string {
	return fmt.Sprintf("%d orders: %d charged (%d fen), %d reversed (%d fen back), %d refunded (%d fen back), net %d fen, %d double charges",
		s.Orders, s.Charged, s.ChargedFen, s.Reversed, s.ReversedFen, s.Refunded, s.RefundedFen, s.NetFen, s.DoubleCharges)
}

// Ledger lists every out_trade_no the provider saw, in the order it first
// saw them.
func (p *Provider) Ledger() []LedgerEntry {
	p.mu.Lock()
	defer p.mu.Unlock()
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
	o, ok := p.orders[outTradeNo]
	if !ok {
		return LedgerEntry{}, false
	}
	return p.entry(o), true
}

// entry is o as a ledger entry; p.mu is held.
func (p *Provider) entry(o *order) LedgerEntry {
	st := p.status(o, "")
	return LedgerEntry{
		OutTradeNo: o.outTradeNo, Dev: o.dev, Amount: o.amount, Wallet: o.wallet, Deposit: o.deposit,
		Outcome: o.outcome, State: st.State, Charged: o.charges > 0, Reversed: o.reversed,
		Refunded: o.refunded, Charges: o.charges, TransactionID: st.TransactionID, PaidAt: st.PaidAt,
		Consumed: o.consumed, Released: o.released,
	}
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
		if e.Charges > 1 {
			s.DoubleCharges++
		}
		s.NetFen += e.Net()
	}
	return s
}
