package device

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/wire"
)

// Refund states.
const (
	RefundPending    = "PENDING"    // journaled, request not answered yet
	RefundProcessing = "PROCESSING" // the provider is working on it
	RefundSuccess    = "SUCCESS"
	RefundFail       = "FAIL"
)

// Refund is one refund, journaled under its out_refund_no before the
// request leaves. The number is stable: every retry re-sends it, and the
// platform refunds at most once per number.
type Refund struct {
	OutRefundNo string `json:"out_refund_no"`
	OutTradeNo  string `json:"out_trade_no"`
	Amount      int64  `json:"amount"`
	StaffID     string `json:"staff_id"`
	Wallet      string `json:"wallet,omitempty"`
	State       string `json:"state"`
	RefundID    string `json:"refund_id,omitempty"`
	ErrCode     string `json:"err_code,omitempty"`
	ErrMsg      string `json:"err_msg,omitempty"`
	Tries       int    `json:"tries,omitempty"`
	CreatedAt   int64  `json:"created_at"`
	UpdatedAt   int64  `json:"updated_at"`
}

// refundStatus is refund.status's body (package wire).
type refundStatus = wire.RefundStatus

// StartRefund journals a refund of amount fen of a paid payment by staff and
// starts it. The staff member must be on shift with the refund right, or be
// a manager (who may refund off shift).
func (a *Agent) StartRefund(outTradeNo string, amount int64, staffID string) (Refund, error) {
	var r Refund
	err := a.j.Update(func(tx *journal.Tx) error {
		if err := a.mayRefund(tx, staffID); err != nil {
			return err
		}
		var p Payment
		ok, err := tx.Get(journal.Orders, outTradeNo, &p)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		if p.State != Paid {
			return fmt.Errorf("%w: payment %s is %s, only a paid one can be refunded", ErrConflict, outTradeNo, p.State)
		}
		left, err := refundable(tx, p)
		if err != nil {
			return err
		}
		if amount <= 0 || amount > left {
			return fmt.Errorf("%w: amount must be 1..%d fen (what is left of the payment)", ErrInvalid, left)
		}
		now := a.now().UnixMilli()
		r = Refund{OutRefundNo: "R" + NewOutTradeNo(a.now())[1:], OutTradeNo: outTradeNo, Amount: amount,
			StaffID: staffID, Wallet: p.Wallet, State: RefundPending, CreatedAt: now, UpdatedAt: now}
		return a.saveRefund(tx, r)
	})
	if err != nil {
		return r, err
	}
	a.link.Kick()
	a.payMu.Lock()
	a.refunds[r.OutRefundNo] = make(chan refundStatus, 8)
	a.payMu.Unlock()
	a.goRefund(a.runCtx, r.OutRefundNo)
	return r, nil
}

// refundable is what is left to refund of p: its amount less every refund
// not failed.
func refundable(tx *journal.Tx, p Payment) (int64, error) {
	left := p.Amount
	err := tx.ForEach(journal.Refunds, func(_ string, v []byte) error {
		var r Refund
		if json.Unmarshal(v, &r) == nil && r.OutTradeNo == p.OutTradeNo && r.State != RefundFail {
			left -= r.Amount
		}
		return nil
	})
	return left, err
}

func (a *Agent) saveRefund(tx *journal.Tx, r Refund) error {
	var old Refund
	had, err := tx.Get(journal.Refunds, r.OutRefundNo, &old)
	if err != nil {
		return err
	}
	r.UpdatedAt = a.now().UnixMilli()
	if err := tx.Put(journal.Refunds, r.OutRefundNo, r); err != nil {
		return err
	}
	if had && old.State == r.State {
		return nil
	}
	body := map[string]any{"out_refund_no": r.OutRefundNo, "out_trade_no": r.OutTradeNo, "amount": r.Amount,
		"state": r.State, "refund_id": r.RefundID, "err_code": r.ErrCode, "err_msg": r.ErrMsg}
	if _, err := a.emit(tx, "refund.result", "", body); err != nil {
		return err
	}
	tx.OnCommit(func() { a.publishLocal("refund", r) })
	return nil
}

func (a *Agent) loadRefund(no string) (Refund, error) {
	var r Refund
	err := a.j.View(func(tx *journal.Tx) error {
		ok, err := tx.Get(journal.Refunds, no, &r)
		if err == nil && !ok {
			err = ErrNotFound
		}
		return err
	})
	return r, err
}

func (a *Agent) goRefund(ctx context.Context, no string) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer func() {
			a.payMu.Lock()
			delete(a.refunds, no)
			a.payMu.Unlock()
		}()
		if err := a.runRefund(ctx, no); err != nil && ctx.Err() == nil {
			a.log.Error("refund stopped", "out_refund_no", no, "err", err)
		}
	}()
}

// runRefund sends the refund request (PS256) until it is answered with a
// final state: PROCESSING or no answer send it again, with backoff.
func (a *Agent) runRefund(ctx context.Context, no string) error {
	a.payMu.Lock()
	inbox := a.refunds[no]
	a.payMu.Unlock()
	r, err := a.loadRefund(no)
	if err != nil {
		return err
	}
	for r.State == RefundPending || r.State == RefundProcessing {
		err := a.request("refund.request", mqtt.PS256, map[string]any{
			"out_trade_no": r.OutTradeNo, "out_refund_no": r.OutRefundNo, "amount": r.Amount, "staff_id": r.StaffID,
		})
		if err != nil {
			a.log.Info("refund.request not sent, will retry", "out_refund_no", no, "err", err)
		}
		timer := time.NewTimer(reverseBackoff(r.Tries, a.cfg.Pay))
		var st *refundStatus
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case v := <-inbox:
			st = &v
		case <-timer.C:
		}
		timer.Stop()
		err = a.j.Update(func(tx *journal.Tx) error {
			if _, err := tx.Get(journal.Refunds, no, &r); err != nil {
				return err
			}
			r.Tries++
			if st != nil {
				switch st.State {
				case RefundSuccess:
					r.State, r.RefundID = RefundSuccess, st.RefundID
				case RefundFail:
					r.State, r.ErrCode, r.ErrMsg = RefundFail, st.ErrCode, st.ErrMsg
				default:
					r.State = RefundProcessing
				}
			}
			if r.State == RefundSuccess {
				var p Payment
				if _, err := tx.Get(journal.Orders, r.OutTradeNo, &p); err != nil {
					return err
				}
				p.Refunded += r.Amount
				if err := tx.Put(journal.Orders, p.OutTradeNo, p); err != nil {
					return err
				}
				// Announced (退款 + amount) and printed once, like a payment.
				b := notifyBody{OrderID: r.OutRefundNo, Amount: r.Amount, Wallet: r.Wallet, Kind: "refund", Print: true, Copies: 1}
				if err := a.putCompletion(tx, b); err != nil {
					return err
				}
			}
			return a.saveRefund(tx, r)
		})
		if err != nil {
			return err
		}
		a.link.Kick()
	}
	switch r.State {
	case RefundSuccess:
		a.completeOrder(r.OutRefundNo)
	case RefundFail:
		a.log.Warn("refund failed", "out_refund_no", no, "err_code", r.ErrCode)
	}
	return nil
}

func (a *Agent) acceptRefundStatus(tx *journal.Tx, m mqtt.Message) (*mqtt.Message, func(), error) {
	return acceptAnswer(a, m, func(st refundStatus) bool { return st.OutRefundNo != "" },
		func(st refundStatus) { deliver(a, a.refunds, st.OutRefundNo, st, "refund.status") })
}

// resumeRefunds restarts every refund not final.
func (a *Agent) resumeRefunds(ctx context.Context) error {
	open, err := openKeys(a.j, journal.Refunds, func(r Refund) bool {
		return r.State == RefundPending || r.State == RefundProcessing
	})
	for _, no := range open {
		a.payMu.Lock()
		a.refunds[no] = make(chan refundStatus, 8)
		a.payMu.Unlock()
		a.goRefund(ctx, no)
	}
	return err
}
