package device

import (
	"context"
	"fmt"
	"time"

	"github.com/posagent/posagent/audio"
	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/device/exchange"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/printer"
	"github.com/posagent/posagent/wire"
)

// Refund states. A refund ends only on a definite answer: SUCCESS (money
// returned), FAIL with a code that says nothing was refunded, or ATTENTION
// (the provider accepted it but could not return the money — WeChat's
// CHANGE, 退款异常 — or its outcome stayed unknown past every retry): a
// person settles it on the merchant platform.
const (
	RefundPending    = "PENDING"    // journaled, request not answered yet
	RefundProcessing = "PROCESSING" // the provider is working on it
	RefundSuccess    = "SUCCESS"
	RefundFail       = "FAIL"
	RefundAttention  = "ATTENTION"
)

// The providers' refund limits, checked before anything is sent so the
// cashier hears why at once. WeChat Pay v2 申请退款: "一笔退款失败后重新提交，
// 请不要更换退款单号 … 每个支付订单的部分退款次数不能超过50次" and "交易时间超过
// 一年的订单无法提交退款" (pay.weixin.qq.com/wiki/doc/api/micropay.php?chapter=9_4);
// Alipay's refund window is shorter for some merchants, never longer
// (docs/provider-codes.md).
const (
	MaxRefundsPerOrder = 50
	RefundWindow       = 365 * 24 * time.Hour
)

// refundFinal reports whether a refund in state s has ended.
func refundFinal(s string) bool {
	return s == RefundSuccess || s == RefundFail || s == RefundAttention
}

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
	// Unclear counts answers that left the outcome unknown (SYSTEMERROR,
	// an unrecognised FAIL code); at pay.reverse_max_tries it asks a person.
	Unclear   int   `json:"unclear,omitempty"`
	CreatedAt int64 `json:"created_at"`
	UpdatedAt int64 `json:"updated_at"`
}

// Open: a refund not final is resumed at start (journal.Opener).
func (r Refund) Open() bool { return r.State == RefundPending || r.State == RefundProcessing }

// refundStatus is refund.status's body (package wire).
type refundStatus = wire.RefundStatus

// StartRefund journals a refund of amount fen of a paid payment by staff and
// starts it. The staff member, proved by their PIN before anything else is
// looked at, must be on shift with the refund right, or be a manager (who
// may refund off shift).
func (a *Agent) StartRefund(outTradeNo string, amount int64, staffID, pin string) (Refund, error) {
	var r Refund
	s, err := a.authStaff(staffID, pin)
	if err != nil {
		return r, err
	}
	err = a.j.Update(func(tx *journal.Tx) error {
		if err := a.mayRefund(tx, s); err != nil {
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
			return say("该订单未支付成功，不能退款", fmt.Errorf("%w: payment %s is %s, only a paid one can be refunded", ErrConflict, outTradeNo, p.State))
		}
		if p.Deposit && p.DepositState != DepositConsumed {
			// A deposit's money leaves once: frozen money goes back by
			// unfreeze (or consume's release), never by a refund as well.
			return say("押金只能退已消费的部分；冻结中的押金请解冻", fmt.Errorf("%w: deposit %s is %s: only the consumed part of a deposit can be refunded (unfreeze releases a frozen one)",
				ErrConflict, outTradeNo, firstNonEmpty(p.DepositState, DepositFrozen)))
		}
		if paidAt := paidTime(p); !paidAt.IsZero() && a.now().Sub(paidAt) > RefundWindow {
			return say("该订单支付已超过一年（"+paidAt.In(chinaTime).Format("2006-01-02")+"），不能退款", fmt.Errorf("%w: payment %s was paid on %s: refunds are possible for one year only", ErrConflict, outTradeNo, paidAt.In(chinaTime).Format("2006-01-02")))
		}
		left, n, err := refundable(tx, p)
		if err != nil {
			return err
		}
		if n >= MaxRefundsPerOrder {
			return say(fmt.Sprintf("该订单已退款 %d 次，已达上限", n), fmt.Errorf("%w: payment %s has %d refunds, the providers' limit", ErrConflict, outTradeNo, n))
		}
		if amount <= 0 || amount > left {
			if left <= 0 {
				return say("该订单已全部退款", fmt.Errorf("%w: nothing is left to refund", ErrInvalid))
			}
			return say("退款金额须在 ￥0.01 至 ￥"+printer.FormatAmount(left)+"（可退余额）之间", fmt.Errorf("%w: amount must be 1..%d fen (what is left of the payment)", ErrInvalid, left))
		}
		no, err := freshNumber(tx, journal.Refunds, a.numberGen("R"))
		if err != nil {
			return err
		}
		now := a.now().UnixMilli()
		r = Refund{OutRefundNo: no, OutTradeNo: outTradeNo, Amount: amount,
			StaffID: staffID, Wallet: p.Wallet, State: RefundPending, CreatedAt: now, UpdatedAt: now}
		return a.saveRefund(tx, r)
	})
	if err != nil {
		return r, err
	}
	a.link.Kick()
	a.goRefund(a.runCtx, r.OutRefundNo)
	return r, nil
}

// refundable is what is left to refund of p — its amount, or a consumed
// deposit's consumed part — less every refund not failed, and how many
// refunds count against the providers' limit.
func refundable(tx *journal.Tx, p Payment) (left int64, n int, err error) {
	left = p.Amount
	if p.Deposit {
		left = p.Consumed
	}
	err = refundsOf(tx, p.OutTradeNo, func(r Refund) error {
		if r.State != RefundFail {
			left -= r.Amount
			n++
		}
		return nil
	})
	return left, n, err
}

// paidTime is when p was paid: the provider's paid_at, else when the
// device confirmed it.
func paidTime(p Payment) time.Time {
	switch {
	case p.PaidAt > 0:
		return time.Unix(p.PaidAt, 0)
	case p.ConfirmedAt > 0:
		return time.UnixMilli(p.ConfirmedAt)
	}
	return time.Time{}
}

// chinaTime is the time a person in the shop reads.
var chinaTime = time.FixedZone("CST", 8*3600)

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
	if !had {
		if err := putRefundIndex(tx, r); err != nil {
			return err
		}
	}
	if err := fileRefundDone(tx, r); err != nil {
		return err
	}
	if had && old.State == r.State {
		return nil
	}
	body := wire.RefundResult{OutRefundNo: r.OutRefundNo, OutTradeNo: r.OutTradeNo, Amount: r.Amount,
		State: r.State, RefundID: r.RefundID, ErrCode: r.ErrCode, ErrMsg: r.ErrMsg}
	if _, err := a.emit(tx, wire.TypeRefundResult, "", body); err != nil {
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

// goRefund runs the refund no; its inbox opens before the goroutine starts,
// so an answer to its first request finds it.
func (a *Agent) goRefund(ctx context.Context, no string) {
	inbox := a.refunds.Open(no)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer a.refunds.Close(no)
		if err := a.runRefund(ctx, no, inbox); err != nil && ctx.Err() == nil {
			a.log.Error("refund stopped", "out_refund_no", no, "err", err)
		}
	}()
}

// runRefund drives one refund to a definite end. It sends refund.request
// (PS256) and follows the answers: PROCESSING is queried (refund.query)
// until it ends; an unknown outcome (no answer, SYSTEMERROR, a FAIL whose
// code does not say "not refunded") is queried, then the request is sent
// again with the same out_refund_no — never a new number, which could
// refund twice (WeChat: "请不要更换退款单号"). With no answer at all, query
// and request alternate, so a platform that has no refund.query (an
// extension of protocol §4) still settles it by the idempotent request.
func (a *Agent) runRefund(ctx context.Context, no string, inbox <-chan refundStatus) error {
	defer a.reqs.Forget(no)
	r, err := a.loadRefund(no)
	if err != nil {
		return err
	}
	f := &refundFlow{a: a, no: no, r: r, send: wire.TypeRefundRequest}
	if r.State == RefundProcessing {
		f.send = wire.TypeRefundQuery
	}
	if !refundFinal(r.State) {
		if err := exchange.Run(ctx, f, inbox, nil); err != nil {
			return err
		}
	}
	switch f.r.State {
	case RefundSuccess:
		a.completeOrder(f.r.OutRefundNo)
	case RefundFail:
		a.log.Warn("refund failed", "out_refund_no", no, "err_code", f.r.ErrCode)
		a.payPrompt(refundFailedWords(f.r.ErrCode))
	case RefundAttention:
		a.log.Warn("refund needs a person", "out_refund_no", no, "err_code", f.r.ErrCode, "err_msg", f.r.ErrMsg)
		a.payPrompt(audio.PhraseAttention)
	}
	return nil
}

// refundFlow is one refund's steps (exchange.Flow): r as last journaled,
// send the request to send next.
type refundFlow struct {
	a    *Agent
	no   string
	r    Refund
	send string
}

// Send sends refund.request or refund.query; the wait is the poll interval
// for a refund PROCESSING, else the backoff of its tries.
func (f *refundFlow) Send() (time.Duration, error) {
	r, pc := f.r, f.a.cfg.Pay
	var err error
	if f.send == wire.TypeRefundQuery {
		err = f.a.reqs.Send(f.send, f.no, wire.RefundQuery{OutTradeNo: r.OutTradeNo, OutRefundNo: r.OutRefundNo})
	} else {
		err = f.a.reqs.Send(f.send, f.no, wire.RefundRequest{
			OutTradeNo: r.OutTradeNo, OutRefundNo: r.OutRefundNo, Amount: r.Amount, StaffID: r.StaffID,
		})
	}
	if err != nil {
		f.a.log.Info(f.send+" not sent, will retry", "out_refund_no", f.no, "err", err)
	}
	if r.State == RefundProcessing {
		return config.MS(pc.RefundPollMS), nil
	}
	return reverseBackoff(r.Tries, pc), nil
}

// Answer journals an answer. One that leaves the refund open waits out the
// wait: the next request is paced, not sent as fast as answers come.
func (f *refundFlow) Answer(st refundStatus) (exchange.Next, error) { return f.apply(&st) }

// Tick: after an answer, the paced request goes; with none, the silence
// is journaled as a try and decides the next request.
func (f *refundFlow) Tick(answered bool) (exchange.Next, error) {
	if answered {
		return exchange.Send, nil
	}
	return f.apply(nil)
}

// apply journals one answer (nil: none came in time) with what it makes
// of the refund: a success adds to the order's refunded amount and owes
// its announcement and receipt, in the same commit.
func (f *refundFlow) apply(st *refundStatus) (exchange.Next, error) {
	a, pc := f.a, f.a.cfg.Pay
	err := a.j.Update(func(tx *journal.Tx) error {
		r := f.r
		if _, err := tx.Get(journal.Refunds, f.no, &r); err != nil {
			return err
		}
		r.Tries++
		r, f.send = applyRefundStatus(r, st, f.send, pc)
		if r.State == RefundSuccess {
			var p Payment
			if _, err := tx.Get(journal.Orders, r.OutTradeNo, &p); err != nil {
				return err
			}
			p.Refunded += r.Amount
			if err := putOrder(tx, p); err != nil {
				return err
			}
			// Announced (退款 + amount) and printed once, like a payment.
			b := notifyBody{OrderID: r.OutRefundNo, Amount: r.Amount, Wallet: r.Wallet, Kind: "refund", Print: true, Copies: 1,
				OutTradeNo: r.OutTradeNo, Staff: a.staffName(tx, r.StaffID), TransactionID: p.TransactionID}
			if err := a.putCompletion(tx, b); err != nil {
				return err
			}
		}
		f.r = r
		return a.saveRefund(tx, r)
	})
	if err != nil {
		return exchange.Done, err
	}
	a.link.Kick()
	switch {
	case refundFinal(f.r.State):
		return exchange.Done, nil
	case st != nil:
		return exchange.Wait, nil
	}
	return exchange.Send, nil
}

// refundFailedWords is what a failed refund says: 退款失败, and its reason
// when the voice pack has one for the code (the screen shows err_msg).
func refundFailedWords(code string) string {
	r := audio.FailureReason(code)
	if info, ok := wire.ClassifyRefund(code); r == "" && ok {
		r = info.Reason
	}
	if r != "" {
		return audio.PhraseRefundFailed + "，" + r
	}
	return audio.PhraseRefundFailed
}

// applyRefundStatus moves r by one answer (nil: none came in time) to the
// request sent, sent; it returns r and the request to send next. Pure: the
// caller journals r.
func applyRefundStatus(r Refund, st *refundStatus, sent string, pc config.Pay) (Refund, string) {
	unclear := func(code, msg string) (Refund, string) {
		r.Unclear++
		if max := pc.ReverseMaxTries; max > 0 && int64(r.Unclear) >= max {
			r.State, r.ErrCode, r.ErrMsg = RefundAttention, firstNonEmpty(code, "REFUND_UNKNOWN"),
				firstNonEmpty(msg, "the refund's outcome stayed unknown")
			return r, ""
		}
		if sent == wire.TypeRefundQuery {
			return r, wire.TypeRefundRequest // same out_refund_no: refunded at most once
		}
		return r, wire.TypeRefundQuery
	}
	if st == nil {
		if r.State == RefundProcessing {
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
	case RefundSuccess:
		r.State, r.ErrCode, r.ErrMsg = RefundSuccess, "", ""
		return r, ""
	case RefundProcessing:
		r.State = RefundProcessing
		return r, wire.TypeRefundQuery
	case "CLOSED", "REFUNDCLOSE":
		r.State, r.ErrCode, r.ErrMsg = RefundFail, firstNonEmpty(st.ErrCode, "REFUNDCLOSE"), st.ErrMsg
		return r, ""
	case "ABNORMAL", "CHANGE":
		r.State, r.ErrCode, r.ErrMsg = RefundAttention, firstNonEmpty(st.ErrCode, "REFUND_ABNORMAL"),
			firstNonEmpty(st.ErrMsg, "the provider could not return the money (退款异常)")
		return r, ""
	case "NOTFOUND":
		// The request never arrived: send it again, same number.
		return r, wire.TypeRefundRequest
	case RefundFail:
		info, _ := wire.ClassifyRefund(st.ErrCode)
		switch info.Class {
		case wire.ClassDefinite:
			r.State, r.ErrCode, r.ErrMsg = RefundFail, st.ErrCode, st.ErrMsg
			return r, ""
		case wire.ClassNotFound:
			if sent == wire.TypeRefundQuery {
				return r, wire.TypeRefundRequest
			}
			r.State, r.ErrCode, r.ErrMsg = RefundFail, st.ErrCode, st.ErrMsg
			return r, ""
		}
		return unclear(st.ErrCode, st.ErrMsg)
	}
	return unclear(st.ErrCode, st.ErrMsg)
}

func (a *Agent) acceptRefundStatus(tx *journal.Tx, m mqtt.Message) (*mqtt.Message, func(), error) {
	req, known := a.reqs.Of(m.Ref)
	ok := func(st refundStatus) bool { return st.OutRefundNo != "" || known }
	return acceptAnswer(a, m, ok, func(st refundStatus) {
		if st.OutRefundNo == "" {
			st.OutRefundNo = req.Key
		}
		deliver(a, &a.refunds, st.OutRefundNo, st, wire.TypeRefundStatus)
	})
}

// resumeRefunds restarts every refund not final.
func (a *Agent) resumeRefunds(ctx context.Context) error {
	open, err := openKeys[Refund](a.j, journal.Refunds)
	for _, no := range open {
		a.goRefund(ctx, no)
	}
	return err
}
