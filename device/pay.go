package device

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"time"

	"github.com/posagent/posagent/audio"
	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/device/exchange"
	"github.com/posagent/posagent/device/orders"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/printer"
	"github.com/posagent/posagent/wire"
)

// payStatus is the body of pay.status (package wire).
type payStatus = wire.PayStatus

// next is what the state machine does after an answer or a tick.
type next int

const (
	idle     next = iota // nothing to send now; wait for an answer or the tick
	submit               // send pay.submit (the code is in memory)
	query                // send pay.query (or the submit again if unanswered)
	reverse              // send pay.reverse
	finished             // settled: report, complete, speak or ask a person
)

// payClass is the class of a pay.status err_code: WeChat Pay's, Alipay's
// sub_codes or the platform's (wire.PayCodes, docs/provider-codes.md).
// A code no table knows is "" and leaves the decision to the trade state.
func payClass(code string) wire.CodeClass {
	info, _ := wire.ClassifyPay(code)
	return info.Class
}

// applyStatus moves p by one pay.status answer. It is pure: the caller
// journals the result. pastDeadline says whether poll_timeout has passed.
// st.Op says which request the answer is to: the platform's op field or,
// when the platform sends none (protocol §4 has no op), the request its
// ref names; "" when neither is known.
func applyStatus(p Payment, st payStatus, pastDeadline bool, pc config.Pay) (Payment, next) {
	if Settled(p.State) {
		return p, finished
	}
	p.Answered = true
	if st.Wallet != "" && p.Wallet == "" {
		p.Wallet = st.Wallet
	}
	class := payClass(st.ErrCode)
	if class == wire.ClassNumberUsed {
		// Another request owns this out_trade_no (DUPLICATE_CONTENT,
		// WeChat OUT_TRADE_NO_USED, Alipay ACQ.CONTEXT_INCONSISTENT): the
		// provider refused this attempt, so its customer was not charged by
		// it, and the answer's state is the other order's. Never PAID on
		// it, and never reversed: the reverse would close or refund the
		// order that owns the number.
		p.NoReverse, p.NeedReverse = true, false
		p.State, p.ErrCode, p.ErrMsg = Failed, st.ErrCode, st.ErrMsg
		return p, finished
	}
	if (st.State == "SUCCESS" || st.State == "REFUND") && st.Amount != 0 && st.Amount != p.Amount {
		// Paid, but not this order's amount: not this attempt's charge as
		// the device made it. A person compares the wallet's record.
		return attention(p, "AMOUNT_MISMATCH", fmt.Sprintf("the provider reports %d fen paid for an order of %d fen", st.Amount, p.Amount)), finished
	}
	if p.State == Reversing {
		return applyReverse(p, st, pc)
	}
	switch {
	case st.State == "SUCCESS" || st.State == "REFUND":
		return paid(p, st), finished
	case class == wire.ClassOrderPaid:
		// Paid under this number before (a resubmit): only a query says by
		// whom and how much; never a new charge.
		p.State = Polling
		return p, query
	case st.ErrCode == "ORDERREVERSED" || st.State == "REVOKED":
		p.State, p.ErrCode, p.ErrMsg = Reversed, cmp.Or(st.ErrCode, "ORDERREVERSED"), st.ErrMsg
		return p, finished
	case class == wire.ClassDefinite || st.State == "CLOSED":
		p.ErrCode, p.ErrMsg = cmp.Or(st.ErrCode, st.State), st.ErrMsg
		if st.State == "PAYERROR" && !p.NoReverse {
			// Declined, but WeChat leaves a PAYERROR order open: close it
			// by reverse (its reference: "支付交易返回失败 … 调用该接口撤销
			// 交易"), so a late confirmation can never charge. The reason
			// is said now; the cashier need not wait for the reverse.
			p.NeedReverse = true
			p.State = Polling
			return p, idle
		}
		p.State = Failed
		return p, finished
	case st.State == "PAYERROR" || class == wire.ClassNotFound || st.State == "FAILED":
		// Not paid, but the order may still be open at the provider:
		// close it by reverse so a late submit can never charge.
		if !p.NoReverse {
			p.NeedReverse = true
		}
		p.ErrCode, p.ErrMsg = cmp.Or(st.ErrCode, st.State), st.ErrMsg
		p.State = Polling
		return p, idle
	}
	// USERPAYING, NOTPAY, SYSTEMERROR, BANKERROR, UNKNOWN…: still open.
	if pastDeadline && !p.NoReverse {
		p.NeedReverse = true
	}
	if p.State != Unknown || !p.NoReverse {
		p.State = Polling
	}
	return p, idle
}

// applyReverse moves a payment being reversed by one answer. Only a
// reverse's answers decide, except REVOKED, which ends the reverse
// whatever request it answers: a late SUCCESS from an earlier query
// would be undone by the reverse and is not a sale.
func applyReverse(p Payment, st payStatus, pc config.Pay) (Payment, next) {
	if st.State == "REVOKED" || st.ErrCode == "ORDERREVERSED" {
		p.State = Reversed
		p.ErrCode, p.ErrMsg = cmp.Or(p.ErrCode, st.ErrCode), cmp.Or(p.ErrMsg, st.ErrMsg)
		return p, finished
	}
	if st.Op != "reverse" {
		return p, idle
	}
	info, _ := wire.ClassifyReverse(st.ErrCode)
	switch {
	case st.Recall:
		p.ReverseRefusals++
	case info.Class == wire.ClassReverseFinal:
		// The provider can no longer reverse (WeChat REVERSE_EXPIRE,
		// Alipay ACQ.TRADE_CANCEL_TIME_OUT…): the customer may be charged
		// and only a person (refund, or 补单 if it is a sale) can settle it.
		return attention(p, st.ErrCode, cmp.Or(st.ErrMsg, "the provider can no longer reverse this payment")), finished
	case st.State == "SUCCESS" || st.State == "REFUND":
		return paid(p, st), finished
	case st.State == "CLOSED" || info.Class == wire.ClassNotFound:
		p.State = Reversed
		p.ErrCode, p.ErrMsg = cmp.Or(p.ErrCode, st.ErrCode), cmp.Or(p.ErrMsg, st.ErrMsg)
		return p, finished
	default:
		p.ReverseRefusals++
	}
	if max := pc.ReverseMaxTries; max > 0 && int64(p.ReverseRefusals) >= max {
		return attention(p, cmp.Or(st.ErrCode, "REVERSE_FAILED"), fmt.Sprintf("the reverse did not take after %d answers", p.ReverseRefusals)), finished
	}
	// Not taken: again, but after the backoff (the timer), never at once.
	return p, idle
}

// attention settles p as waiting for a person, with the reason.
func attention(p Payment, code, msg string) Payment {
	p.State, p.ErrCode, p.ErrMsg = Attention, code, msg
	return p
}

func paid(p Payment, st payStatus) Payment {
	p.State, p.TransactionID, p.PaidAt = Paid, st.TransactionID, st.PaidAt
	p.ErrCode, p.ErrMsg = "", ""
	if st.Wallet != "" {
		p.Wallet = st.Wallet
	}
	return p
}

// tick moves p when its timer fires with no answer. now and the timings
// decide between polling on, reversing and UNKNOWN.
func tick(p Payment, now time.Time, pc config.Pay) (Payment, next) {
	if Settled(p.State) {
		return p, finished
	}
	if p.State == Reversing {
		return p, reverse
	}
	sub := time.UnixMilli(p.SubmittedAt)
	deadline := sub.Add(config.MS(pc.PollTimeoutMS))
	reverseOK := !now.Before(sub.Add(config.MS(pc.ReverseAfterMS)))
	switch {
	case p.NoReverse:
		if !now.Before(deadline) {
			p.State = Unknown
		}
		return p, query
	case p.NeedReverse && reverseOK:
		p.State = Reversing
		return p, reverse
	case !now.Before(deadline):
		if !p.Answered {
			// Nobody has answered since the submit: the link or the
			// platform is down. Reversing blind is pointless (it would not
			// arrive either); keep asking and say 结果待确认.
			p.State = Unknown
			return p, query
		}
		p.State = Reversing
		return p, reverse
	}
	return p, query
}

// reverseBackoff is the wait before reverse attempt n (from 1).
func reverseBackoff(n int, pc config.Pay) time.Duration {
	return exchange.Backoff(n, config.MS(pc.PollIntervalMS))
}

// NewOutTradeNo makes a merchant order number: "P", the local time to the
// second and six random digits. It starts with a letter so a scanned order
// number is never taken for a payment code (which is all digits).
func NewOutTradeNo(now time.Time) string {
	n, _ := rand.Int(rand.Reader, big.NewInt(1_000_000))
	return fmt.Sprintf("P%s%06d", now.In(time.FixedZone("CST", 8*3600)).Format("20060102150405"), n.Int64())
}

// numberGen makes numbers like NewOutTradeNo's, prefix first.
func (a *Agent) numberGen(prefix string) func() string {
	return func() string { return prefix + NewOutTradeNo(a.now())[1:] }
}

// session is a payment being run: its goroutine's inbox.
type session struct {
	answers chan payStatus
	codes   chan string   // scans while awaiting a code
	wake    chan struct{} // link back, cancel asked
	code    string        // the payment code, in memory only
}

// startPayment journals a new payment awaiting its code and starts it.
// It is the common start of pay.collect and POST /v1/payments.
func (a *Agent) startPayment(tx *journal.Tx, p Payment) error {
	a.payMu.Lock()
	defer a.payMu.Unlock()
	if a.awaiting != "" {
		// The slot is held until the waiting payment's flow lets go, a
		// moment after its record left AwaitingCode: what the journal
		// says (this transaction sees every commit) decides, so a new
		// payment right after a cancel shown as done is not refused.
		var cur Payment
		if ok, err := tx.Get(journal.Orders, a.awaiting, &cur); err != nil {
			return err
		} else if ok && cur.State == AwaitingCode {
			return ErrBusy
		}
	}
	var old Payment
	if ok, err := tx.Get(journal.Orders, p.OutTradeNo, &old); err != nil {
		return err
	} else if ok {
		return say("订单号已存在", fmt.Errorf("%w: out_trade_no %s exists", ErrConflict, p.OutTradeNo))
	}
	now := a.now()
	p.State, p.CreatedAt, p.UpdatedAt = AwaitingCode, now.UnixMilli(), now.UnixMilli()
	var sh ShiftRecord
	if ok, err := tx.Get(journal.Shifts, shiftCurrent, &sh); err != nil {
		return err
	} else if ok {
		p.Staff = sh.Staff.ID
	}
	if err := a.modeAllows(p.Deposit); err != nil {
		return err
	}
	if p.TimeoutMS <= 0 {
		p.TimeoutMS = a.cfg.Pay.CollectTimeoutMS
	}
	if err := a.savePayment(tx, p); err != nil {
		return err
	}
	a.awaiting = p.OutTradeNo
	a.sessions[p.OutTradeNo] = newSession()
	return nil
}

func newSession() *session {
	return &session{answers: make(chan payStatus, 16), codes: make(chan string, 4), wake: make(chan struct{}, 1)}
}

// savePayment journals p and queues its pay.progress (or pay.result when
// terminal) in the same transaction, and tells local listeners.
func (a *Agent) savePayment(tx *journal.Tx, p Payment) error {
	var old Payment
	had, err := tx.Get(journal.Orders, p.OutTradeNo, &old)
	if err != nil {
		return err
	}
	p.UpdatedAt = a.now().UnixMilli()
	if p.State == Paid && p.ConfirmedAt == 0 {
		p.ConfirmedAt = p.UpdatedAt
	}
	if err := orders.Put(tx, p); err != nil {
		return err
	}
	if had && old.State == p.State {
		return nil
	}
	saved := p
	if p.State == Unknown || p.State == Attention {
		// Into the set before the commit: a reader may see the committed
		// record before commit handlers run, and a new payment in that gap
		// must already be refused. Should the transaction roll back, the
		// entry stays until this payment's next record: a payment whose
		// outcome we failed to record is of unknown outcome all the same.
		a.noteUnconfirmed(saved)
	}
	tx.OnCommit(func() { a.noteUnconfirmed(saved) })
	if p.State == Paid {
		kind := "pay"
		if p.Deposit {
			kind = "deposit"
			if p.DepositState == "" {
				p.DepositState = DepositFrozen
				if err := orders.Put(tx, p); err != nil {
					return err
				}
			}
		}
		c := orders.Completion{OrderID: p.OutTradeNo, Kind: kind, Amount: p.Amount, Wallet: p.Wallet,
			Desc: p.Desc, StaffID: p.Staff, TransactionID: p.TransactionID}
		if err := a.owe(tx, c); err != nil {
			return err
		}
	}
	if Terminal(p.State) {
		ans, err := a.emit(tx, wire.TypePayResult, p.CollectRef, payResult(p))
		if err != nil {
			return err
		}
		if p.CollectRef != "" {
			// A redelivered pay.collect is answered with this result.
			if err := finish(tx, p.CollectRef, ans); err != nil {
				return err
			}
		}
	} else if _, err := a.emit(tx, wire.TypePayProgress, p.CollectRef, payProgress(p)); err != nil {
		return err
	}
	v := PaymentView(p)
	tx.OnCommit(func() { a.publishLocal("payment", v) })
	a.mu.Lock()
	switch {
	case !Terminal(p.State):
		a.state.Pay = &PayState{OutTradeNo: p.OutTradeNo, State: p.State, Amount: p.Amount, Message: v.Message}
	case a.state.Pay != nil && a.state.Pay.OutTradeNo == p.OutTradeNo:
		a.state.Pay = nil
	}
	a.mu.Unlock()
	a.kickState()
	return nil
}

// payProgress is pay.progress's body: protocol §3's out_trade_no and state,
// and, for ATTENTION, why (err_code, err_msg), so the platform can raise it.
func payProgress(p Payment) wire.PayProgress {
	b := wire.PayProgress{OutTradeNo: p.OutTradeNo, State: p.State}
	if p.State == Attention {
		b.ErrCode, b.ErrMsg = p.ErrCode, p.ErrMsg
	}
	return b
}

func payResult(p Payment) wire.PayResult {
	return wire.PayResult{
		OutTradeNo: p.OutTradeNo, State: p.State, Amount: p.Amount, Wallet: p.Wallet,
		TransactionID: p.TransactionID, ErrCode: p.ErrCode, ErrMsg: p.ErrMsg,
	}
}

// loadPayment reads one payment.
func (a *Agent) loadPayment(no string) (Payment, error) {
	var p Payment
	err := a.j.View(func(tx *journal.Tx) error {
		ok, err := tx.Get(journal.Orders, no, &p)
		if err == nil && !ok {
			err = ErrNotFound
		}
		return err
	})
	return p, err
}

// update applies f to the journaled payment in one transaction.
func (a *Agent) update(no string, f func(*Payment) error) (Payment, error) {
	var p Payment
	err := a.j.Update(func(tx *journal.Tx) error {
		ok, err := tx.Get(journal.Orders, no, &p)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		if err := f(&p); err != nil {
			return err
		}
		return a.savePayment(tx, p)
	})
	if err == nil {
		a.link.Kick()
	}
	return p, err
}

// resumePayments restarts every payment that is not finished. One that was
// still waiting for a code is cancelled: nothing about it left the device.
// The others are queried (their code died with the process).
func (a *Agent) resumePayments(ctx context.Context) error {
	var open []Payment
	err := a.j.View(func(tx *journal.Tx) error {
		return orders.EachOpen(tx, func(p Payment) error {
			a.noteUnconfirmed(p)
			if !Settled(p.State) {
				open = append(open, p)
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	sort.Slice(open, func(i, j int) bool { return open[i].CreatedAt < open[j].CreatedAt })
	for _, p := range open {
		if p.State == AwaitingCode {
			if _, err := a.update(p.OutTradeNo, func(p *Payment) error {
				p.State, p.ErrCode, p.ErrMsg = Cancelled, "RESTARTED", "the device restarted before a code was scanned"
				return nil
			}); err != nil {
				return err
			}
			continue
		}
		a.log.Info("resuming payment", "out_trade_no", p.OutTradeNo, "state", p.State)
		a.payMu.Lock()
		a.sessions[p.OutTradeNo] = newSession()
		a.payMu.Unlock()
		a.goPay(ctx, p.OutTradeNo)
	}
	return nil
}

func (a *Agent) goPay(ctx context.Context, no string) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := a.runPayment(ctx, no); err != nil && ctx.Err() == nil {
			a.log.Error("payment stopped", "out_trade_no", no, "err", err)
		}
	}()
}

func (a *Agent) session(no string) *session {
	a.payMu.Lock()
	defer a.payMu.Unlock()
	return a.sessions[no]
}

// runPayment drives one payment to a terminal state.
func (a *Agent) runPayment(ctx context.Context, no string) error {
	s := a.session(no)
	defer func() {
		a.payMu.Lock()
		delete(a.sessions, no)
		if a.awaiting == no {
			a.awaiting = ""
		}
		a.payMu.Unlock()
		a.reqs.Forget(no)
	}()
	p, err := a.loadPayment(no)
	if err != nil {
		return err
	}
	if p.State == AwaitingCode {
		if p, err = a.awaitCode(ctx, s, p); err != nil || Settled(p.State) {
			return err
		}
	}
	f := &payFlow{a: a, no: no, s: s, p: p, step: query}
	switch {
	case s.code != "":
		f.step = submit
	case p.State == Reversing:
		f.step = reverse
	}
	if err := exchange.Run(ctx, f, s.answers, s.wake); err != nil {
		return err
	}
	return a.finishPayment(f.p)
}

// payFlow is one payment's steps after its code (exchange.Flow): p as last
// journaled, step the request to send next.
type payFlow struct {
	a    *Agent
	no   string
	s    *session
	p    Payment
	step next
}

// Send sends the step's request. The next tick is due one poll interval
// (or the reverse backoff) after it, however many answers come meanwhile.
func (f *payFlow) Send() (time.Duration, error) {
	a, no, pc := f.a, f.no, f.a.cfg.Pay
	var err error
	switch f.step {
	case submit:
		err = a.sendSubmit(f.p, f.s.code)
	case query:
		if f.s.code != "" && !f.p.Answered {
			// No answer yet to the submit: send it again (same
			// out_trade_no and content; the platform is idempotent).
			err = a.sendSubmit(f.p, f.s.code)
		} else {
			err = a.reqs.Send(wire.TypePayQuery, no, wire.OrderRef{OutTradeNo: no})
		}
	case reverse:
		p, uerr := a.update(no, func(p *Payment) error { p.State = Reversing; p.ReverseTries++; return nil })
		if uerr != nil {
			return 0, uerr
		}
		f.p = p
		err = a.reqs.Send(wire.TypePayReverse, no, wire.OrderRef{OutTradeNo: no})
	}
	if err != nil && !errors.Is(err, mqtt.ErrOffline) {
		a.log.Warn("payment request not sent", "out_trade_no", no, "type", f.step, "err", err)
	}
	if f.step == reverse {
		return reverseBackoff(f.p.ReverseTries, pc), nil
	}
	return config.MS(pc.PollIntervalMS), nil
}

// Answer journals an answer (applyStatus): it may settle the payment, ask
// for a request now, or leave it to the tick.
func (f *payFlow) Answer(st payStatus) (exchange.Next, error) { return f.apply(&st) }

// Tick journals the tick (tick: poll on, reverse, or UNKNOWN). A wake —
// a cancel asked, the link back — ticks at once.
func (f *payFlow) Tick(bool) (exchange.Next, error) { return f.apply(nil) }

// apply journals one answer, or a tick (nil), and says what comes next.
func (f *payFlow) apply(st *payStatus) (exchange.Next, error) {
	a, no, pc := f.a, f.no, f.a.cfg.Pay
	prev := f.p.State
	sayNow := false
	step := idle
	err := a.j.Update(func(tx *journal.Tx) error {
		var cur Payment
		if _, err := tx.Get(journal.Orders, no, &cur); err != nil {
			return err
		}
		now := a.now()
		if st != nil {
			past := !now.Before(time.UnixMilli(cur.SubmittedAt).Add(config.MS(pc.PollTimeoutMS)))
			cur, step = applyStatus(cur, *st, past, pc)
			if step == idle && cur.NeedReverse && cur.State != Reversing && !now.Before(time.UnixMilli(cur.SubmittedAt).Add(config.MS(pc.ReverseAfterMS))) {
				cur.State, step = Reversing, reverse
			}
			if cur.NeedReverse && !cur.FailSaid && payClass(cur.ErrCode) == wire.ClassDefinite {
				// A decline with a reason: said now, while the
				// reverse that closes the order waits its turn.
				cur.FailSaid, sayNow = true, true
			}
		} else {
			cur, step = tick(cur, now, pc)
		}
		f.p = cur
		return a.savePayment(tx, cur)
	})
	if err != nil {
		return exchange.Done, err
	}
	a.link.Kick()
	p := f.p
	if sayNow {
		a.payPrompt(failedWords(p.ErrCode))
	}
	if p.State != prev {
		a.log.Info("payment", "out_trade_no", no, "state", p.State, "err_code", p.ErrCode)
		if p.State == Unknown {
			a.payPrompt(audio.PhraseUnknown)
		}
	}
	switch step {
	case idle:
		return exchange.Wait, nil
	case finished:
		return exchange.Done, nil
	}
	f.step = step
	return exchange.Send, nil
}

// awaitCode asks for the customer's code and takes the next valid scan.
func (a *Agent) awaitCode(ctx context.Context, s *session, p Payment) (Payment, error) {
	a.payPrompt(audio.PhraseShowCode + audio.AmountWords(p.Amount, a.audioOptions()))
	deadline := time.UnixMilli(p.CreatedAt).Add(time.Duration(p.TimeoutMS) * time.Millisecond)
	for {
		timer := time.NewTimer(deadline.Sub(a.now()))
		select {
		case <-ctx.Done():
			timer.Stop()
			return p, ctx.Err()
		case <-timer.C:
			return a.update(p.OutTradeNo, func(p *Payment) error {
				p.State, p.ErrCode, p.ErrMsg = Cancelled, "TIMEOUT", "no payment code was scanned in time"
				return nil
			})
		case <-s.wake:
			timer.Stop()
			cur, err := a.loadPayment(p.OutTradeNo)
			if err != nil {
				return p, err
			}
			if cur.CancelAsked {
				return a.update(p.OutTradeNo, func(p *Payment) error {
					p.State, p.ErrCode, p.ErrMsg = Cancelled, "CANCELLED", "cancelled before a code was scanned"
					return nil
				})
			}
		case code := <-s.codes:
			timer.Stop()
			wallet := ClassifyCode(code)
			if wallet == "" {
				a.log.Warn("scan is not a payment code", "len", len(code), "class", scanClass(code))
				a.payPrompt(failedWords(audio.CodeUnrecognized))
				continue
			}
			s.code = code
			a.payMu.Lock()
			a.awaiting = ""
			a.payMu.Unlock()
			return a.update(p.OutTradeNo, func(p *Payment) error {
				p.State, p.Wallet, p.CodeTail, p.SubmittedAt = Submitted, wallet, code[len(code)-4:], a.now().UnixMilli()
				return nil
			})
		}
	}
}

// sendSubmit publishes pay.submit directly: it carries the payment code,
// which must never reach the journal (so not the outbox either).
func (a *Agent) sendSubmit(p Payment, code string) error {
	return a.reqs.Send(wire.TypePaySubmit, p.OutTradeNo, wire.PaySubmit{
		OutTradeNo: p.OutTradeNo, AuthCode: code, Amount: p.Amount,
		Wallet: p.Wallet, Deposit: p.Deposit, Desc: p.Desc,
	})
}

// finishPayment completes a terminal payment: a paid one is announced and
// printed once (through the notification records, deduplicated by order);
// a failed one is said with its reason.
func (a *Agent) finishPayment(p Payment) error {
	switch p.State {
	case Paid:
		a.completeOrder(p.OutTradeNo)
	case Failed, Reversed:
		if !p.FailSaid {
			a.payPrompt(failedWords(p.ErrCode))
		}
	case Attention:
		a.log.Warn("payment needs a person", "out_trade_no", p.OutTradeNo, "err_code", p.ErrCode, "err_msg", p.ErrMsg)
		a.payPrompt(audio.PhraseAttention)
	}
	return nil
}

// completeOrder queues the announcement and receipt of a paid order (or a
// refund). The notification record was written with the state change (see
// notify.Worker.Owe); running it again is harmless: the worker skips one
// done.
func (a *Agent) completeOrder(string) { a.nf.Kick() }

// owe journals what a flow that succeeded owes (c): its announcement and
// one printed receipt, with the name of the staff member who took it.
func (a *Agent) owe(tx *journal.Tx, c orders.Completion) error {
	return a.nf.Owe(tx, wire.NotifyPayment{OrderID: c.OrderID, Amount: c.Amount, Wallet: c.Wallet, Kind: c.Kind, Print: true, Copies: 1,
		OutTradeNo: c.OutTradeNo, Desc: c.Desc, Staff: a.staffName(tx, c.StaffID), TransactionID: c.TransactionID})
}

// ClassifyCode names the wallet of a payment code by its prefix and length
// (protocol §4.2), or "" when it is no payment code this device takes.
func ClassifyCode(code string) string {
	n := len(code)
	if n < 16 || n > 24 {
		return ""
	}
	for i := 0; i < n; i++ {
		if code[i] < '0' || code[i] > '9' {
			return ""
		}
	}
	p2 := code[:2]
	switch {
	case n == 18 && p2 >= "10" && p2 <= "15":
		return "wechat"
	case p2 >= "25" && p2 <= "30":
		return "alipay"
	case n == 19 && p2 == "62":
		return "unionpay"
	case n == 18 && p2 == "51":
		return "bestpay"
	case n == 19 && p2 == "01":
		return "ecny"
	}
	return ""
}

// failedWords is what a failed payment says: 支付失败 and its reason — the
// voice pack's own for the code, else the provider table's
// (wire.PayCodes, every reason of which the default pack can say).
func failedWords(code string) string {
	if audio.FailureReason(code) == "" {
		if info, ok := wire.ClassifyPay(code); ok && info.Reason != "" {
			return audio.PhrasePayFailed + "，" + info.Reason
		}
	}
	return audio.PaymentFailed(code)
}

// attentionMessage tells the cashier what a payment waiting for a person
// is and what to do: never take cash or charge again for it until the
// wallet's record (the customer's phone, the merchant platform) says.
func attentionMessage(code string) string {
	switch code {
	case "AMOUNT_MISMATCH":
		return "金额不符，需人工处理：请核对顾客付款记录，请勿收取现金，也不要重新扣款"
	default:
		return "撤销失败，需人工处理：顾客可能已付款，请核对顾客付款记录后退款或补单，请勿重新扣款"
	}
}

// View is a payment as the cashier app sees it (GET /v1/payments/{no}).
type View struct {
	Payment
	// DoNotTakeCash tells the cashier in plain words not to record cash:
	// the customer is or may be charged.
	DoNotTakeCash bool   `json:"do_not_take_cash"`
	Message       string `json:"message"`
	// Settled: the device has stopped running it (Settled: finished, or
	// waiting for a person). CashWarning: a screen says 请勿收取现金 now —
	// the outcome is unknown or waits for a person, or the customer may be
	// charged and the outcome is not in. WalletName is the wallet as the
	// receipt names it (微信, 支付宝 …). A screen reads these rather than
	// knowing the rules.
	Settled     bool   `json:"settled"`
	CashWarning bool   `json:"cash_warning"`
	WalletName  string `json:"wallet_name,omitempty"`
	// How a screen shows it, so every screen shows a state alike and only
	// renders: Title (支付中, 已取消 …), Tone (waiting, busy, unknown, ok,
	// bad, muted) and the Actions the API takes for it now (cancel,
	// refund, reprint).
	Title   string   `json:"title"`
	Tone    string   `json:"tone"`
	Actions []string `json:"actions"`
}

// Actions a View may offer.
const (
	ActCancel  = "cancel"
	ActRefund  = "refund"
	ActReprint = "reprint"
)

// PaymentView is the view of p.
func PaymentView(p Payment) View {
	v := View{Payment: p, DoNotTakeCash: p.DoNotTakeCash(), Settled: Settled(p.State)}
	v.CashWarning = p.State == Unknown || p.State == Attention || (v.DoNotTakeCash && !v.Settled)
	if p.Wallet != "" {
		v.WalletName = printer.WalletName(p.Wallet)
	}
	switch p.State {
	case AwaitingCode:
		v.Message = "请出示付款码 ￥" + printer.FormatAmount(p.Amount)
	case Submitted, Polling:
		v.Message = "支付中，请稍候，请勿收取现金"
	case Reversing:
		v.Message = "正在撤销，请勿收取现金"
	case Unknown:
		v.Message = "结果待确认，请勿收取现金，也不要重新扣款"
	case Attention:
		v.Message = attentionMessage(p.ErrCode)
	case Paid:
		v.Message = "支付成功"
	case Reversed:
		v.Message = failedWords(p.ErrCode) + "，顾客未被扣款"
		if p.CancelAsked {
			v.Message = "已取消并撤销，顾客未被扣款"
		}
	case Failed:
		v.Message = failedWords(p.ErrCode) + "，顾客未被扣款"
	case Cancelled:
		v.Message = "已取消，顾客未被扣款"
	}
	v.Title, v.Tone, v.Actions = display(p)
	if v.Title == "正在取消" {
		v.Message = "正在取消，请勿收取现金"
	}
	return v
}

// display is a payment's title, tone and actions (View). A payment the
// cashier cancelled and the device reversed reads 已取消, not 支付失败.
func display(p Payment) (title, tone string, actions []string) {
	actions = []string{}
	what := "支付"
	if p.Deposit {
		what = "押金冻结"
	}
	if p.CancelAsked && !Settled(p.State) && p.State != Unknown {
		// Shown at once: the reverse that undoes the charge may take a
		// while (the provider's answer, retries).
		return "正在取消", "busy", actions
	}
	switch p.State {
	case AwaitingCode:
		return "请出示付款码", "waiting", []string{ActCancel}
	case Submitted, Polling:
		return what + "中", "busy", []string{ActCancel}
	case Reversing:
		return "正在撤销", "busy", actions
	case Unknown:
		return "结果待确认", "unknown", actions
	case Attention:
		return "需人工处理", "unknown", actions
	case Paid:
		actions = append(actions, ActReprint)
		if !p.Deposit && p.Refunded < p.Amount {
			actions = append(actions, ActRefund)
		}
		return what + "成功", "ok", actions
	case Reversed:
		if p.CancelAsked {
			return "已取消", "muted", actions
		}
		return what + "失败", "bad", actions
	case Failed:
		return what + "失败", "bad", actions
	case Cancelled:
		return "已取消", "muted", actions
	}
	return p.State, "", actions
}
