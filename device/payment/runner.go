// Package payment is a payment's flow: pay.collect or the local API starts
// it awaiting the customer's code; the scanned code goes out in pay.submit;
// pay.query and pay.reverse follow until the provider's answer settles it
// (exchange.Run paces the requests). Its state machine (Apply, tick) is
// pure and table-tested.
//
// Invariants:
//   - a payment is journaled (orders.Put) before anything about it leaves
//     the device, and every answer or silence is journaled before it is
//     acted on; its pay.progress / pay.result is enqueued in the same
//     commit as the state it reports;
//   - the payment code lives in memory only: pay.submit is sent directly,
//     never through the journal or the outbox; a restart queries instead;
//   - one payment waits for a code at a time (ErrBusy for a second);
//   - never charged twice: one out_trade_no for every retry, a resubmit
//     only until the first answer, and a payment whose number another
//     request owns (ClassNumberUsed) is never reversed;
//   - never shown failed when paid: a payment with no answer by the
//     deadline is UNKNOWN, not reversed blind; one the provider can no
//     longer reverse waits for a person (ATTENTION);
//   - a paid payment owes its announcement and receipt in the commit that
//     makes it PAID (Host.Owe), so it is said and printed exactly once.
package payment

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/posagent/posagent/audio"
	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/device/exchange"
	"github.com/posagent/posagent/device/orders"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/wire"
)

// Runner runs the payments: at most one waiting for its code, any number
// being settled.
type Runner struct {
	exchange.Host
	// Say says a payment prompt (请出示付款码…, the reason of a decline);
	// Words are the reading rules of amounts.
	Say   func(words string)
	Words audio.Options
	// Saved is told, within tx, of a payment journaled in a new state
	// (the device's retained state, its listeners, the unconfirmed set).
	Saved func(tx *journal.Tx, p orders.Payment)

	mu       sync.Mutex
	awaiting string              // the payment waiting for its code
	sessions map[string]*session // the payments running, by out_trade_no
}

// session is a payment being run: its goroutine's inbox.
type session struct {
	answers chan wire.PayStatus
	codes   chan string   // scans while awaiting a code
	wake    chan struct{} // link back, cancel asked
	code    string        // the payment code, in memory only
}

func newSession() *session {
	return &session{answers: make(chan wire.PayStatus, 16), codes: make(chan string, 4), wake: make(chan struct{}, 1)}
}

func (u *Runner) session(no string) *session {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.sessions[no]
}

// Create journals, within tx, new payment p awaiting its code, and opens
// its session; the caller runs it (Run) after the commit. It is the common
// start of pay.collect and POST /v1/payments. ErrBusy: another payment
// waits for its code; ErrConflict: the number is taken; then may (nil:
// none) fills in or refuses p (who is on shift, the device's mode).
func (u *Runner) Create(tx *journal.Tx, p orders.Payment, may func(tx *journal.Tx, p *orders.Payment) error) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.awaiting != "" {
		// The slot is held until the waiting payment's flow lets go, a
		// moment after its record left AwaitingCode: what the journal
		// says (this transaction sees every commit) decides, so a new
		// payment right after a cancel shown as done is not refused.
		var cur orders.Payment
		if ok, err := tx.Get(journal.Orders, u.awaiting, &cur); err != nil {
			return err
		} else if ok && cur.State == orders.AwaitingCode {
			return orders.ErrBusy
		}
	}
	var old orders.Payment
	if ok, err := tx.Get(journal.Orders, p.OutTradeNo, &old); err != nil {
		return err
	} else if ok {
		return orders.Say("订单号已存在", fmt.Errorf("%w: out_trade_no %s exists", orders.ErrConflict, p.OutTradeNo))
	}
	now := u.Now()
	p.State, p.CreatedAt, p.UpdatedAt = orders.AwaitingCode, now.UnixMilli(), now.UnixMilli()
	if may != nil {
		if err := may(tx, &p); err != nil {
			return err
		}
	}
	if p.TimeoutMS <= 0 {
		p.TimeoutMS = u.Pay.CollectTimeoutMS
	}
	if err := u.Save(tx, p); err != nil {
		return err
	}
	if u.sessions == nil {
		u.sessions = map[string]*session{}
	}
	u.awaiting = p.OutTradeNo
	u.sessions[p.OutTradeNo] = newSession()
	return nil
}

// Save journals p and queues its pay.progress (or pay.result when
// terminal) in the same transaction; a payment that became PAID owes its
// announcement and receipt in it too.
func (u *Runner) Save(tx *journal.Tx, p orders.Payment) error {
	var old orders.Payment
	had, err := tx.Get(journal.Orders, p.OutTradeNo, &old)
	if err != nil {
		return err
	}
	p.UpdatedAt = u.Now().UnixMilli()
	if p.State == orders.Paid && p.ConfirmedAt == 0 {
		p.ConfirmedAt = p.UpdatedAt
	}
	if err := orders.Put(tx, p); err != nil {
		return err
	}
	if had && old.State == p.State {
		return nil
	}
	if p.State == orders.Paid {
		kind := "pay"
		if p.Deposit {
			kind = "deposit"
			if p.DepositState == "" {
				p.DepositState = orders.DepositFrozen
				if err := orders.Put(tx, p); err != nil {
					return err
				}
			}
		}
		c := orders.Completion{OrderID: p.OutTradeNo, Kind: kind, Amount: p.Amount, Wallet: p.Wallet,
			Desc: p.Desc, StaffID: p.Staff, TransactionID: p.TransactionID}
		if err := u.Owe(tx, c); err != nil {
			return err
		}
	}
	if orders.Terminal(p.State) {
		ans, err := u.Emit(tx, wire.TypePayResult, p.CollectRef, Result(p))
		if err != nil {
			return err
		}
		if p.CollectRef != "" {
			// A redelivered pay.collect is answered with this result.
			if err := u.Answered(tx, p.CollectRef, ans); err != nil {
				return err
			}
		}
	} else if _, err := u.Emit(tx, wire.TypePayProgress, p.CollectRef, Progress(p)); err != nil {
		return err
	}
	u.Saved(tx, p)
	return nil
}

// Progress is pay.progress's body: protocol §3's out_trade_no and state,
// and, for ATTENTION, why (err_code, err_msg), so the platform can raise it.
func Progress(p orders.Payment) wire.PayProgress {
	b := wire.PayProgress{OutTradeNo: p.OutTradeNo, State: p.State}
	if p.State == orders.Attention {
		b.ErrCode, b.ErrMsg = p.ErrCode, p.ErrMsg
	}
	return b
}

// Result is pay.result's body.
func Result(p orders.Payment) wire.PayResult {
	return wire.PayResult{
		OutTradeNo: p.OutTradeNo, State: p.State, Amount: p.Amount, Wallet: p.Wallet,
		TransactionID: p.TransactionID, ErrCode: p.ErrCode, ErrMsg: p.ErrMsg,
	}
}

// Load reads one payment (orders.ErrNotFound).
func (u *Runner) Load(no string) (orders.Payment, error) {
	return orders.Load[orders.Payment](u.Journal, journal.Orders, no)
}

// Update applies f to the journaled payment in one transaction.
func (u *Runner) Update(no string, f func(*orders.Payment) error) (orders.Payment, error) {
	var p orders.Payment
	err := u.Journal.Update(func(tx *journal.Tx) error {
		ok, err := tx.Get(journal.Orders, no, &p)
		if err != nil {
			return err
		}
		if !ok {
			return orders.ErrNotFound
		}
		if err := f(&p); err != nil {
			return err
		}
		return u.Save(tx, p)
	})
	if err == nil {
		u.Flush()
	}
	return p, err
}

// Resume finds every payment that is not settled, oldest first. One that
// was still waiting for a code is cancelled: nothing about it left the
// device. The others get a session and are handed to start, which runs
// them: they are queried (their code died with the process). open is told
// of every open payment (settled ones waiting for a person included).
func (u *Runner) Resume(open func(orders.Payment), start func(no string)) error {
	var run []orders.Payment
	err := u.Journal.View(func(tx *journal.Tx) error {
		return orders.EachOpen(tx, func(p orders.Payment) error {
			open(p)
			if !orders.Settled(p.State) {
				run = append(run, p)
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	sort.Slice(run, func(i, j int) bool { return run[i].CreatedAt < run[j].CreatedAt })
	for _, p := range run {
		if p.State == orders.AwaitingCode {
			if _, err := u.Update(p.OutTradeNo, func(p *orders.Payment) error {
				p.State, p.ErrCode, p.ErrMsg = orders.Cancelled, "RESTARTED", "the device restarted before a code was scanned"
				return nil
			}); err != nil {
				return err
			}
			continue
		}
		u.Log.Info("resuming payment", "out_trade_no", p.OutTradeNo, "state", p.State)
		u.mu.Lock()
		if u.sessions == nil {
			u.sessions = map[string]*session{}
		}
		u.sessions[p.OutTradeNo] = newSession()
		u.mu.Unlock()
		start(p.OutTradeNo)
	}
	return nil
}

// Awaiting is the payment waiting for its code, or "".
func (u *Runner) Awaiting() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.awaiting
}

// Running lists the payments being run.
func (u *Runner) Running() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	nos := make([]string, 0, len(u.sessions))
	for no := range u.sessions {
		nos = append(nos, no)
	}
	return nos
}

// IsRunning says whether payment no is being run.
func (u *Runner) IsRunning(no string) bool { return u.session(no) != nil }

// Deliver hands a pay.status answer to its payment (false: none runs by
// that number). The answer is not journaled itself: lost in a crash, the
// payment asks again.
func (u *Runner) Deliver(st wire.PayStatus) bool {
	s := u.session(st.OutTradeNo)
	if s == nil {
		return false
	}
	select {
	case s.answers <- st:
	default:
		u.Log.Warn("pay.status dropped: inbox full (the payment queries again)", "out_trade_no", st.OutTradeNo)
	}
	return true
}

// Wake makes payment no act now (a cancel asked).
func (u *Runner) Wake(no string) {
	if s := u.session(no); s != nil {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// WakeAll makes every running payment act now (the link is back).
func (u *Runner) WakeAll() {
	for _, no := range u.Running() {
		u.Wake(no)
	}
}

// Scan offers a scanned line to the payment waiting for its code: false
// when none waits.
func (u *Runner) Scan(line string) bool {
	u.mu.Lock()
	var s *session
	if u.awaiting != "" {
		s = u.sessions[u.awaiting]
	}
	u.mu.Unlock()
	if s == nil {
		return false
	}
	select {
	case s.codes <- line:
	default:
	}
	return true
}

// MarkCancel asks a payment to stop: one waiting for its code is
// cancelled; one submitted is reversed (never when the platform reported
// DUPLICATE_CONTENT: that reverse could close another payment). The
// caller journals p and wakes it.
func MarkCancel(p *orders.Payment) {
	p.CancelAsked = true
	if p.State != orders.AwaitingCode && !p.NoReverse {
		p.NeedReverse = true
	}
}

// Run drives payment no (its session opened by Create or Resume) until it
// is settled, then says how it ended: a paid one is announced and printed
// through its notification (Completed); a failed one is said with its
// reason; one waiting for a person is said so.
func (u *Runner) Run(ctx context.Context, no string) error {
	s := u.session(no)
	defer func() {
		u.mu.Lock()
		delete(u.sessions, no)
		if u.awaiting == no {
			u.awaiting = ""
		}
		u.mu.Unlock()
		u.Requests.Forget(no)
	}()
	if s == nil {
		return fmt.Errorf("payment %s has no session", no)
	}
	p, err := u.Load(no)
	if err != nil {
		return err
	}
	if p.State == orders.AwaitingCode {
		if p, err = u.awaitCode(ctx, s, p); err != nil || orders.Settled(p.State) {
			return err
		}
	}
	f := &flow{u: u, no: no, s: s, p: p, step: query}
	switch {
	case s.code != "":
		f.step = submit
	case p.State == orders.Reversing:
		f.step = reverse
	}
	if err := exchange.Run(ctx, f, s.answers, s.wake); err != nil {
		return err
	}
	switch p := f.p; p.State {
	case orders.Paid:
		u.Completed(p.OutTradeNo)
	case orders.Failed, orders.Reversed:
		if !p.FailSaid {
			u.Say(FailedWords(p.ErrCode))
		}
	case orders.Attention:
		u.Log.Warn("payment needs a person", "out_trade_no", p.OutTradeNo, "err_code", p.ErrCode, "err_msg", p.ErrMsg)
		u.Say(audio.PhraseAttention)
	}
	return nil
}

// flow is one payment's steps after its code (exchange.Flow): p as last
// journaled, step the request to send next.
type flow struct {
	u    *Runner
	no   string
	s    *session
	p    orders.Payment
	step next
}

// Send sends the step's request. The next tick is due one poll interval
// (or the reverse backoff) after it, however many answers come meanwhile.
func (f *flow) Send() (time.Duration, error) {
	u, no, pc := f.u, f.no, f.u.Pay
	var err error
	switch f.step {
	case submit:
		err = u.sendSubmit(f.p, f.s.code)
	case query:
		if f.s.code != "" && !f.p.Answered {
			// No answer yet to the submit: send it again (same
			// out_trade_no and content; the platform is idempotent).
			err = u.sendSubmit(f.p, f.s.code)
		} else {
			err = u.Requests.Send(wire.TypePayQuery, no, wire.OrderRef{OutTradeNo: no})
		}
	case reverse:
		p, uerr := u.Update(no, func(p *orders.Payment) error { p.State = orders.Reversing; p.ReverseTries++; return nil })
		if uerr != nil {
			return 0, uerr
		}
		f.p = p
		err = u.Requests.Send(wire.TypePayReverse, no, wire.OrderRef{OutTradeNo: no})
	}
	if err != nil && !errors.Is(err, mqtt.ErrOffline) {
		u.Log.Warn("payment request not sent", "out_trade_no", no, "type", f.step, "err", err)
	}
	if f.step == reverse {
		return reverseBackoff(f.p.ReverseTries, pc), nil
	}
	return config.MS(pc.PollIntervalMS), nil
}

// Answer journals an answer (applyStatus): it may settle the payment, ask
// for a request now, or leave it to the tick.
func (f *flow) Answer(st wire.PayStatus) (exchange.Next, error) { return f.apply(&st) }

// Tick journals the tick (tick: poll on, reverse, or UNKNOWN). A wake —
// a cancel asked, the link back — ticks at once.
func (f *flow) Tick(bool) (exchange.Next, error) { return f.apply(nil) }

// apply journals one answer, or a tick (nil), and says what comes next.
func (f *flow) apply(st *wire.PayStatus) (exchange.Next, error) {
	u, no, pc := f.u, f.no, f.u.Pay
	prev := f.p.State
	sayNow := false
	step := idle
	err := u.Journal.Update(func(tx *journal.Tx) error {
		var cur orders.Payment
		if _, err := tx.Get(journal.Orders, no, &cur); err != nil {
			return err
		}
		now := u.Now()
		if st != nil {
			past := !now.Before(time.UnixMilli(cur.SubmittedAt).Add(config.MS(pc.PollTimeoutMS)))
			cur, step = applyStatus(cur, *st, past, pc)
			if step == idle && cur.NeedReverse && cur.State != orders.Reversing && !now.Before(time.UnixMilli(cur.SubmittedAt).Add(config.MS(pc.ReverseAfterMS))) {
				cur.State, step = orders.Reversing, reverse
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
		return u.Save(tx, cur)
	})
	if err != nil {
		return exchange.Done, err
	}
	u.Flush()
	p := f.p
	if sayNow {
		u.Say(FailedWords(p.ErrCode))
	}
	if p.State != prev {
		u.Log.Info("payment", "out_trade_no", no, "state", p.State, "err_code", p.ErrCode)
		if p.State == orders.Unknown {
			u.Say(audio.PhraseUnknown)
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
func (u *Runner) awaitCode(ctx context.Context, s *session, p orders.Payment) (orders.Payment, error) {
	u.Say(audio.PhraseShowCode + audio.AmountWords(p.Amount, u.Words))
	deadline := time.UnixMilli(p.CreatedAt).Add(time.Duration(p.TimeoutMS) * time.Millisecond)
	for {
		timer := time.NewTimer(deadline.Sub(u.Now()))
		select {
		case <-ctx.Done():
			timer.Stop()
			return p, ctx.Err()
		case <-timer.C:
			return u.Update(p.OutTradeNo, func(p *orders.Payment) error {
				p.State, p.ErrCode, p.ErrMsg = orders.Cancelled, "TIMEOUT", "no payment code was scanned in time"
				return nil
			})
		case <-s.wake:
			timer.Stop()
			cur, err := u.Load(p.OutTradeNo)
			if err != nil {
				return p, err
			}
			if cur.CancelAsked {
				return u.Update(p.OutTradeNo, func(p *orders.Payment) error {
					p.State, p.ErrCode, p.ErrMsg = orders.Cancelled, "CANCELLED", "cancelled before a code was scanned"
					return nil
				})
			}
		case code := <-s.codes:
			timer.Stop()
			wallet := ClassifyCode(code)
			if wallet == "" {
				u.Log.Warn("scan is not a payment code", "len", len(code), "class", ScanClass(code))
				u.Say(FailedWords(audio.CodeUnrecognized))
				continue
			}
			s.code = code
			u.mu.Lock()
			u.awaiting = ""
			u.mu.Unlock()
			return u.Update(p.OutTradeNo, func(p *orders.Payment) error {
				p.State, p.Wallet, p.CodeTail, p.SubmittedAt = orders.Submitted, wallet, code[len(code)-4:], u.Now().UnixMilli()
				return nil
			})
		}
	}
}

// sendSubmit publishes pay.submit directly: it carries the payment code,
// which must never reach the journal (so not the outbox either).
func (u *Runner) sendSubmit(p orders.Payment, code string) error {
	return u.Requests.Send(wire.TypePaySubmit, p.OutTradeNo, wire.PaySubmit{
		OutTradeNo: p.OutTradeNo, AuthCode: code, Amount: p.Amount,
		Wallet: p.Wallet, Deposit: p.Deposit, Desc: p.Desc,
	})
}

// Found settles an order of this device that is not running by the
// platform's word (order.found, the answer to a 补单 lookup), and says
// what to tell the cashier. Only orders in the journal are settled: the
// journal has every order of this device from its first step, so one it
// lacks is another till's (or no order at all) and is never counted here
// as a sale. A payment Found makes PAID owes its completion (Save); the
// caller tells Completed.
func (u *Runner) Found(f wire.OrderFound) (p orders.Payment, say string, err error) {
	err = u.Journal.Update(func(tx *journal.Tx) error {
		ok, err := tx.Get(journal.Orders, f.OutTradeNo, &p)
		if err != nil {
			return err
		}
		if !ok {
			u.Log.Warn("补单: the platform answered for an order this device does not have, ignored", "out_trade_no", f.OutTradeNo)
			say = audio.PhraseOrderNotFound
			return nil
		}
		if p.State == orders.Paid {
			say = LookupSay(p)
			return nil
		}
		paidNow := f.State == "SUCCESS"
		switch {
		case paidNow && f.Amount != 0 && f.Amount != p.Amount:
			p = attention(p, "AMOUNT_MISMATCH", fmt.Sprintf("the platform reports %d fen paid for an order of %d fen", f.Amount, p.Amount))
			say = audio.PhraseAttention
		case paidNow:
			if p.State != orders.AwaitingCode && p.SubmittedAt == 0 {
				p.SubmittedAt = u.Now().UnixMilli()
			}
			u.Log.Info("补单: paid order completed", "out_trade_no", f.OutTradeNo, "was", p.State)
			p = paid(p, wire.PayStatus{State: f.State, TransactionID: f.TransactionID, PaidAt: f.PaidAt, Wallet: f.Wallet})
		case f.State == "REFUND":
			// Paid and refunded since (elsewhere): not a new sale here.
			if !orders.Terminal(p.State) {
				p = attention(p, "ORDER_REFUNDED", "the platform reports this order paid and refunded")
			}
			say = audio.PhraseOrderRefunded
		case f.State == "REVOKED" && p.State == orders.Attention:
			p.State, p.ErrCode, p.ErrMsg = orders.Reversed, "ORDERREVERSED", "reversed, as the platform reports"
			say = FailedWords("REVOKED")
		case f.State == "CLOSED" && p.State == orders.Attention:
			p.State, p.ErrCode, p.ErrMsg = orders.Failed, "CLOSED", "closed, as the platform reports"
			say = FailedWords("CLOSED")
		case payClass(f.ErrCode) == wire.ClassNotFound || f.State == "NOTPAY" && f.ErrCode == "":
			say = audio.PhraseOrderNotFound
			return nil
		default:
			u.Log.Info("补单: order not paid", "out_trade_no", f.OutTradeNo, "state", f.State, "err_code", f.ErrCode)
			say = FailedWords(cmp.Or(f.ErrCode, f.State))
			return nil
		}
		return u.Save(tx, p)
	})
	return p, say, err
}

// LookupSay is what a scanned order already settled here says: what it is.
func LookupSay(p orders.Payment) string {
	switch {
	case p.Deposit:
		return audio.PhraseDepositOrder
	case p.Refunded >= p.Amount:
		return audio.PhraseOrderRefunded
	case p.State == orders.Paid:
		return audio.PhrasePaid
	case p.State == orders.Cancelled && p.SubmittedAt == 0:
		return FailedWords("CANCELLED")
	}
	return ""
}
