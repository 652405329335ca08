// Package refund runs the refunds of paid orders: it checks a refund
// against its order and the providers' limits, journals it under a number
// that never changes, and drives it over refund.request and refund.query
// to a definite end.
//
// Invariants:
//   - one refund, one out_refund_no, for every retry (WeChat: "请不要更换
//     退款单号"): the platform refunds at most once per number, so a retry
//     never refunds twice;
//   - never more refunded than paid: what is left of an order (its amount,
//     or a consumed deposit's consumed part, less every refund not failed)
//     is checked in the commit that journals a new refund;
//   - a success adds to the order's refunded amount and owes its
//     announcement and receipt in the same commit;
//   - a refund ends only on a definite answer (orders.RefundFinal): an
//     unknown outcome is asked again, and past pay.reverse_max_tries it asks
//     a person (ATTENTION), never "failed" on a guess.
package refund

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/posagent/posagent/audio"
	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/device/exchange"
	"github.com/posagent/posagent/device/orders"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/printer"
	"github.com/posagent/posagent/wire"
)

// The providers' refund limits, checked before anything is sent so the
// cashier hears why at once. WeChat Pay v2 申请退款: "一笔退款失败后重新提交，
// 请不要更换退款单号 … 每个支付订单的部分退款次数不能超过50次" and "交易时间超过
// 一年的订单无法提交退款" (pay.weixin.qq.com/wiki/doc/api/micropay.php?chapter=9_4);
// Alipay's refund window is shorter for some merchants, never longer
// (docs/provider-codes.md).
const (
	MaxPerOrder = 50
	Window      = 365 * 24 * time.Hour
)

// Runner starts and runs refunds. Its fields are what a refund needs of
// the device (Host: Number makes refund numbers); set them all before the
// first Create or Open.
type Runner struct {
	exchange.Host
	// Changed is told, after the commit, of a refund whose state changed;
	// Say speaks to the person at the till of one that did not succeed.
	Changed func(r orders.Refund)
	Say     func(words string)

	inboxes exchange.Inboxes[wire.RefundStatus]
}

// chinaTime is the time a person in the shop reads.
var chinaTime = time.FixedZone("CST", 8*3600)

// Create checks a refund of amount fen of order outTradeNo by staffID and
// journals it in tx, PENDING. The caller has checked that staffID may
// refund; after the commit it starts the refund (Open).
func (u *Runner) Create(tx *journal.Tx, outTradeNo string, amount int64, staffID string) (orders.Refund, error) {
	var r orders.Refund
	p, ok, err := orders.Get(tx, outTradeNo)
	if err != nil {
		return r, err
	}
	if !ok {
		return r, orders.ErrNotFound
	}
	if p.State != orders.Paid {
		return r, orders.Say("该订单未支付成功，不能退款", fmt.Errorf("%w: payment %s is %s, only a paid one can be refunded", orders.ErrConflict, outTradeNo, p.State))
	}
	if p.Deposit && p.DepositState != orders.DepositConsumed {
		// A deposit's money leaves once: frozen money goes back by
		// unfreeze (or consume's release), never by a refund as well.
		return r, orders.Say("押金只能退已消费的部分；冻结中的押金请解冻", fmt.Errorf("%w: deposit %s is %s: only the consumed part of a deposit can be refunded (unfreeze releases a frozen one)",
			orders.ErrConflict, outTradeNo, cmp.Or(p.DepositState, orders.DepositFrozen)))
	}
	if paidAt := paidTime(p); !paidAt.IsZero() && u.Now().Sub(paidAt) > Window {
		day := paidAt.In(chinaTime).Format("2006-01-02")
		return r, orders.Say("该订单支付已超过一年（"+day+"），不能退款", fmt.Errorf("%w: payment %s was paid on %s: refunds are possible for one year only", orders.ErrConflict, outTradeNo, day))
	}
	left, n, err := Refundable(tx, p)
	if err != nil {
		return r, err
	}
	if n >= MaxPerOrder {
		return r, orders.Say(fmt.Sprintf("该订单已退款 %d 次，已达上限", n), fmt.Errorf("%w: payment %s has %d refunds, the providers' limit", orders.ErrConflict, outTradeNo, n))
	}
	if amount <= 0 || amount > left {
		if left <= 0 {
			return r, orders.Say("该订单已全部退款", fmt.Errorf("%w: nothing is left to refund", orders.ErrInvalid))
		}
		return r, orders.Say("退款金额须在 ￥0.01 至 ￥"+printer.FormatAmount(left)+"（可退余额）之间", fmt.Errorf("%w: amount must be 1..%d fen (what is left of the payment)", orders.ErrInvalid, left))
	}
	no, err := orders.FreshNumber(tx, journal.Refunds, u.Number)
	if err != nil {
		return r, err
	}
	now := u.Now().UnixMilli()
	r = orders.Refund{OutRefundNo: no, OutTradeNo: outTradeNo, Amount: amount,
		StaffID: staffID, Wallet: p.Wallet, State: orders.RefundPending, CreatedAt: now, UpdatedAt: now}
	return r, u.save(tx, r)
}

// Refundable is what is left to refund of p — its amount, or a consumed
// deposit's consumed part — less every refund not failed, and how many
// refunds count against the providers' limit.
func Refundable(tx *journal.Tx, p orders.Payment) (left int64, n int, err error) {
	left = p.Amount
	if p.Deposit {
		left = p.Consumed
	}
	err = orders.RefundsOf(tx, p.OutTradeNo, func(r orders.Refund) error {
		if r.State != orders.RefundFail {
			left -= r.Amount
			n++
		}
		return nil
	})
	return left, n, err
}

// paidTime is when p was paid: the provider's paid_at, else when the
// device confirmed it.
func paidTime(p orders.Payment) time.Time {
	switch {
	case p.PaidAt > 0:
		return time.Unix(p.PaidAt, 0)
	case p.ConfirmedAt > 0:
		return time.UnixMilli(p.ConfirmedAt)
	}
	return time.Time{}
}

// save writes r with its indexes and, when its state changed, enqueues
// refund.result in the same commit.
func (u *Runner) save(tx *journal.Tx, r orders.Refund) error {
	var old orders.Refund
	had, err := tx.Get(journal.Refunds, r.OutRefundNo, &old)
	if err != nil {
		return err
	}
	r.UpdatedAt = u.Now().UnixMilli()
	if err := tx.Put(journal.Refunds, r.OutRefundNo, r); err != nil {
		return err
	}
	if !had {
		if err := orders.FileRefund(tx, r); err != nil {
			return err
		}
	}
	if err := orders.FileRefundDone(tx, r); err != nil {
		return err
	}
	if had && old.State == r.State {
		return nil
	}
	body := wire.RefundResult{OutRefundNo: r.OutRefundNo, OutTradeNo: r.OutTradeNo, Amount: r.Amount,
		State: r.State, RefundID: r.RefundID, ErrCode: r.ErrCode, ErrMsg: r.ErrMsg}
	if _, err := u.Emit(tx, wire.TypeRefundResult, "", body); err != nil {
		return err
	}
	tx.OnCommit(func() { u.Changed(r) })
	return nil
}

// Load reads refund no (orders.ErrNotFound when there is none).
func (u *Runner) Load(no string) (orders.Refund, error) {
	return orders.Load[orders.Refund](u.Journal, journal.Refunds, no)
}

// Open opens refund no's inbox and returns what runs it to its end; the
// caller runs that on a goroutine of its own. The inbox opens before the
// run starts, so an answer to its first request finds it.
func (u *Runner) Open(no string) func(ctx context.Context) error {
	inbox := u.inboxes.Open(no)
	return func(ctx context.Context) error {
		defer u.inboxes.Close(no)
		return u.run(ctx, no, inbox)
	}
}

// Deliver hands an answer to the running refund no
// (exchange.ErrNotRunning, exchange.ErrFull).
func (u *Runner) Deliver(no string, st wire.RefundStatus) error { return u.inboxes.Deliver(no, st) }

// run drives one refund to a definite end. It sends refund.request
// (PS256) and follows the answers: PROCESSING is queried (refund.query)
// until it ends; an unknown outcome (no answer, SYSTEMERROR, a FAIL whose
// code does not say "not refunded") is queried, then the request is sent
// again with the same out_refund_no — never a new number, which could
// refund twice (WeChat: "请不要更换退款单号"). With no answer at all, query
// and request alternate, so a platform that has no refund.query (an
// extension of protocol §4) still settles it by the idempotent request.
func (u *Runner) run(ctx context.Context, no string, inbox <-chan wire.RefundStatus) error {
	defer u.Requests.Forget(no)
	r, err := u.Load(no)
	if err != nil {
		return err
	}
	f := &flow{u: u, no: no, r: r, send: wire.TypeRefundRequest}
	if r.State == orders.RefundProcessing {
		f.send = wire.TypeRefundQuery
	}
	if !orders.RefundFinal(r.State) {
		if err := exchange.Run(ctx, f, inbox, nil); err != nil {
			return err
		}
	}
	switch f.r.State {
	case orders.RefundSuccess:
		u.Completed(f.r.OutRefundNo)
	case orders.RefundFail:
		u.Log.Warn("refund failed", "out_refund_no", no, "err_code", f.r.ErrCode)
		u.Say(FailedWords(f.r.ErrCode))
	case orders.RefundAttention:
		u.Log.Warn("refund needs a person", "out_refund_no", no, "err_code", f.r.ErrCode, "err_msg", f.r.ErrMsg)
		u.Say(audio.PhraseAttention)
	}
	return nil
}

// flow is one refund's steps (exchange.Flow): r as last journaled, send
// the request to send next.
type flow struct {
	u    *Runner
	no   string
	r    orders.Refund
	send string
}

// Send sends refund.request or refund.query; the wait is the poll interval
// for a refund PROCESSING, else the backoff of its tries.
func (f *flow) Send() (time.Duration, error) {
	r, pc := f.r, f.u.Pay
	var err error
	if f.send == wire.TypeRefundQuery {
		err = f.u.Requests.Send(f.send, f.no, wire.RefundQuery{OutTradeNo: r.OutTradeNo, OutRefundNo: r.OutRefundNo})
	} else {
		err = f.u.Requests.Send(f.send, f.no, wire.RefundRequest{
			OutTradeNo: r.OutTradeNo, OutRefundNo: r.OutRefundNo, Amount: r.Amount, StaffID: r.StaffID,
		})
	}
	if err != nil {
		f.u.Log.Info(f.send+" not sent, will retry", "out_refund_no", f.no, "err", err)
	}
	if r.State == orders.RefundProcessing {
		return config.MS(pc.RefundPollMS), nil
	}
	return exchange.Backoff(r.Tries, config.MS(pc.PollIntervalMS)), nil
}

// Answer journals an answer. One that leaves the refund open waits out the
// wait: the next request is paced, not sent as fast as answers come.
func (f *flow) Answer(st wire.RefundStatus) (exchange.Next, error) { return f.apply(&st) }

// Tick: after an answer, the paced request goes; with none, the silence
// is journaled as a try and decides the next request.
func (f *flow) Tick(answered bool) (exchange.Next, error) {
	if answered {
		return exchange.Send, nil
	}
	return f.apply(nil)
}

// apply journals one answer (nil: none came in time) with what it makes
// of the refund: a success adds to the order's refunded amount and owes
// its announcement and receipt, in the same commit.
func (f *flow) apply(st *wire.RefundStatus) (exchange.Next, error) {
	u := f.u
	err := u.Journal.Update(func(tx *journal.Tx) error {
		r := f.r
		if _, err := tx.Get(journal.Refunds, f.no, &r); err != nil {
			return err
		}
		r.Tries++
		r, f.send = Apply(r, st, f.send, u.Pay)
		if r.State == orders.RefundSuccess {
			p, _, err := orders.Get(tx, r.OutTradeNo)
			if err != nil {
				return err
			}
			p.Refunded += r.Amount
			if err := orders.Put(tx, p); err != nil {
				return err
			}
			// Announced (退款 + amount) and printed once, like a payment.
			if err := u.Owe(tx, orders.Completion{OrderID: r.OutRefundNo, Kind: "refund", Amount: r.Amount, Wallet: r.Wallet,
				OutTradeNo: r.OutTradeNo, StaffID: r.StaffID, TransactionID: p.TransactionID}); err != nil {
				return err
			}
		}
		f.r = r
		return u.save(tx, r)
	})
	if err != nil {
		return exchange.Done, err
	}
	u.Flush()
	switch {
	case orders.RefundFinal(f.r.State):
		return exchange.Done, nil
	case st != nil:
		return exchange.Wait, nil
	}
	return exchange.Send, nil
}

// FailedWords is what a failed refund says: 退款失败, and its reason when
// the voice pack has one for the code (the screen shows err_msg).
func FailedWords(code string) string {
	r := audio.FailureReason(code)
	if info, ok := wire.ClassifyRefund(code); r == "" && ok {
		r = info.Reason
	}
	if r != "" {
		return audio.PhraseRefundFailed + "，" + r
	}
	return audio.PhraseRefundFailed
}

// Apply moves r by one answer (nil: none came in time) to the request
// sent, sent; it returns r and the request to send next. Pure: the caller
// journals r.
func Apply(r orders.Refund, st *wire.RefundStatus, sent string, pc config.Pay) (orders.Refund, string) {
	unclear := func(code, msg string) (orders.Refund, string) {
		r.Unclear++
		if max := pc.ReverseMaxTries; max > 0 && int64(r.Unclear) >= max {
			r.State, r.ErrCode, r.ErrMsg = orders.RefundAttention, cmp.Or(code, "REFUND_UNKNOWN"),
				cmp.Or(msg, "the refund's outcome stayed unknown")
			return r, ""
		}
		if sent == wire.TypeRefundQuery {
			return r, wire.TypeRefundRequest // same out_refund_no: refunded at most once
		}
		return r, wire.TypeRefundQuery
	}
	if st == nil {
		if r.State == orders.RefundProcessing {
			return r, wire.TypeRefundQuery
		}
		if sent == wire.TypeRefundQuery {
			return r, wire.TypeRefundRequest
		}
		return r, wire.TypeRefundQuery
	}
	if st.RefundID != "" {
		r.RefundID = st.RefundID
	}
	switch st.State {
	case orders.RefundSuccess:
		r.State, r.ErrCode, r.ErrMsg = orders.RefundSuccess, "", ""
		return r, ""
	case orders.RefundProcessing:
		r.State = orders.RefundProcessing
		return r, wire.TypeRefundQuery
	case "CLOSED", "REFUNDCLOSE":
		r.State, r.ErrCode, r.ErrMsg = orders.RefundFail, cmp.Or(st.ErrCode, "REFUNDCLOSE"), st.ErrMsg
		return r, ""
	case "ABNORMAL", "CHANGE":
		r.State, r.ErrCode, r.ErrMsg = orders.RefundAttention, cmp.Or(st.ErrCode, "REFUND_ABNORMAL"),
			cmp.Or(st.ErrMsg, "the provider could not return the money (退款异常)")
		return r, ""
	case "NOTFOUND":
		// The request never arrived: send it again, same number.
		return r, wire.TypeRefundRequest
	case orders.RefundFail:
		info, _ := wire.ClassifyRefund(st.ErrCode)
		switch info.Class {
		case wire.ClassDefinite:
			r.State, r.ErrCode, r.ErrMsg = orders.RefundFail, st.ErrCode, st.ErrMsg
			return r, ""
		case wire.ClassNotFound:
			if sent == wire.TypeRefundQuery {
				return r, wire.TypeRefundRequest
			}
			r.State, r.ErrCode, r.ErrMsg = orders.RefundFail, st.ErrCode, st.ErrMsg
			return r, ""
		}
		return unclear(st.ErrCode, st.ErrMsg)
	}
	return unclear(st.ErrCode, st.ErrMsg)
}
