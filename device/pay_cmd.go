package device

import (
	"cmp"
	"errors"
	"fmt"
	"strings"

	"github.com/posagent/posagent/audio"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/ota"
	"github.com/posagent/posagent/wire"
)

// CodeBusy answers a pay.collect while another payment waits for its code.
const CodeBusy = "busy"

func (a *Agent) acceptCollect(tx *journal.Tx, m mqtt.Message) (*mqtt.Message, func(), error) {
	var b wire.PayCollect
	if err := decodeBody(m.Body, &b); err != nil {
		return a.badRequest(tx, m, "pay.collect: %v", err)
	}
	if !validID(b.OutTradeNo) {
		return a.badRequest(tx, m, "pay.collect: out_trade_no must be 1-64 printable ASCII characters")
	}
	if b.Amount <= 0 || b.Amount > MaxAmount {
		return a.badRequest(tx, m, "pay.collect: amount must be 1..%d fen", int64(MaxAmount))
	}
	if b.TimeoutS < 0 || b.TimeoutS > 600 || len(b.Desc) > 128 {
		return a.badRequest(tx, m, "pay.collect: timeout_s must be 0-600 and desc at most 128 bytes")
	}
	p := Payment{OutTradeNo: b.OutTradeNo, Amount: b.Amount, Desc: b.Desc, Deposit: b.Deposit,
		Source: "platform", CollectRef: m.ID, TimeoutMS: b.TimeoutS * 1000}
	switch err := a.startPayment(tx, p); {
	case errors.Is(err, ErrBusy):
		ans, err := a.emit(tx, "error", m.ID, errorBody{Ref: m.ID, Code: CodeBusy, Message: "another payment is waiting for a code"})
		return &ans, nil, err
	case errors.Is(err, ErrConflict), errors.Is(err, ErrDenied):
		return a.badRequest(tx, m, "pay.collect: %v", err)
	case err != nil:
		return nil, nil, err
	}
	return nil, func() { a.goPay(a.runCtx, p.OutTradeNo) }, nil
}

// acceptCancel cancels a collect not yet scanned, and reverses one in doubt.
func (a *Agent) acceptCancel(tx *journal.Tx, m mqtt.Message) (*mqtt.Message, func(), error) {
	var b wire.OrderRef
	if err := decodeBody(m.Body, &b); err != nil || !validID(b.OutTradeNo) {
		return a.badRequest(tx, m, "pay.cancel: out_trade_no is required")
	}
	var p Payment
	ok, err := tx.Get(journal.Orders, b.OutTradeNo, &p)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return a.badRequest(tx, m, "pay.cancel: no payment %s", b.OutTradeNo)
	}
	if Terminal(p.State) {
		ans, err := a.emit(tx, wire.TypePayResult, m.ID, payResult(p))
		return &ans, nil, err
	}
	if p.State == Attention {
		return a.badRequest(tx, m, "pay.cancel: payment %s needs a person (%s): settle it on the platform or by 补单", p.OutTradeNo, p.ErrCode)
	}
	markCancel(&p)
	if err := a.savePayment(tx, p); err != nil {
		return nil, nil, err
	}
	return nil, func() { a.wakePayment(b.OutTradeNo) }, nil
}

// markCancel asks a payment to stop: one waiting for its code is cancelled;
// one submitted is reversed (never when the platform reported
// DUPLICATE_CONTENT: that reverse could close another payment).
func markCancel(p *Payment) {
	p.CancelAsked = true
	if p.State != AwaitingCode && !p.NoReverse {
		p.NeedReverse = true
	}
}

// acceptPayStatus hands a pay.status answer to its payment's state machine.
// The answer is not journaled itself: if it is lost in a crash the machine
// asks again. It is matched by its out_trade_no or, when the body has none,
// by its ref; its op, when the platform sends none, is the type of the
// request its ref names.
func (a *Agent) acceptPayStatus(tx *journal.Tx, m mqtt.Message) (*mqtt.Message, func(), error) {
	req, known := a.reqs.Of(m.Ref)
	ok := func(st payStatus) bool { return st.OutTradeNo != "" || (known && validID(req.Key)) }
	return acceptAnswer(a, m, ok, func(st payStatus) {
		if st.OutTradeNo == "" {
			st.OutTradeNo = req.Key
		}
		if st.Op == "" && known && req.Key == st.OutTradeNo {
			st.Op = strings.TrimPrefix(req.Type, "pay.")
		}
		a.deliver(st)
	})
}

func (a *Agent) deliver(st payStatus) {
	s := a.session(st.OutTradeNo)
	if s == nil {
		a.log.Info("pay.status for a payment not running, ignored", "out_trade_no", st.OutTradeNo, "state", st.State)
		return
	}
	select {
	case s.answers <- st:
	default:
		a.log.Warn("pay.status dropped: inbox full (the payment queries again)", "out_trade_no", st.OutTradeNo)
	}
}

func (a *Agent) wakePayment(no string) {
	if s := a.session(no); s != nil {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// wakeAll makes every running payment act now (the link is back).
func (a *Agent) wakeAll() {
	a.payMu.Lock()
	nos := make([]string, 0, len(a.sessions))
	for no := range a.sessions {
		nos = append(nos, no)
	}
	a.payMu.Unlock()
	for _, no := range nos {
		a.wakePayment(no)
	}
}

// orderFound is order.found's body (package wire).
type orderFound = wire.OrderFound

// acceptOrderFound completes a paid order of this device that the device
// had not completed (补单), exactly once, or says why not.
func (a *Agent) acceptOrderFound(tx *journal.Tx, m mqtt.Message) (*mqtt.Message, func(), error) {
	return acceptAnswer(a, m, func(f orderFound) bool { return validID(f.OutTradeNo) }, a.lookupAnswered)
}

// lookupAnswered settles an order of this device by the platform's word.
// Only orders in the journal are completed: the journal has every order
// of this device from its first step, so one it lacks is another till's
// (or no order at all) and is never counted here as a sale.
func (a *Agent) lookupAnswered(f orderFound) {
	if s := a.session(f.OutTradeNo); s != nil {
		// A payment of ours still running: the answer is a query's.
		a.deliver(payStatus{OutTradeNo: f.OutTradeNo, Op: "query", State: f.State, ErrCode: f.ErrCode,
			TransactionID: f.TransactionID, PaidAt: f.PaidAt, Wallet: f.Wallet, Amount: f.Amount})
		return
	}
	var say string
	var p Payment
	err := a.j.Update(func(tx *journal.Tx) error {
		ok, err := tx.Get(journal.Orders, f.OutTradeNo, &p)
		if err != nil {
			return err
		}
		if !ok {
			a.log.Warn("补单: the platform answered for an order this device does not have, ignored", "out_trade_no", f.OutTradeNo)
			say = audio.PhraseOrderNotFound
			return nil
		}
		if p.State == Paid {
			say = lookupSay(p)
			return nil
		}
		paidNow := f.State == "SUCCESS"
		switch {
		case paidNow && f.Amount != 0 && f.Amount != p.Amount:
			p = attention(p, "AMOUNT_MISMATCH", fmt.Sprintf("the platform reports %d fen paid for an order of %d fen", f.Amount, p.Amount))
			say = audio.PhraseAttention
		case paidNow:
			if p.State != AwaitingCode && p.SubmittedAt == 0 {
				p.SubmittedAt = a.now().UnixMilli()
			}
			a.log.Info("补单: paid order completed", "out_trade_no", f.OutTradeNo, "was", p.State)
			p = paid(p, payStatus{State: f.State, TransactionID: f.TransactionID, PaidAt: f.PaidAt, Wallet: f.Wallet})
		case f.State == "REFUND":
			// Paid and refunded since (elsewhere): not a new sale here.
			if !Terminal(p.State) {
				p = attention(p, "ORDER_REFUNDED", "the platform reports this order paid and refunded")
			}
			say = audio.PhraseOrderRefunded
		case f.State == "REVOKED" && p.State == Attention:
			p.State, p.ErrCode, p.ErrMsg = Reversed, "ORDERREVERSED", "reversed, as the platform reports"
			say = failedWords("REVOKED")
		case f.State == "CLOSED" && p.State == Attention:
			p.State, p.ErrCode, p.ErrMsg = Failed, "CLOSED", "closed, as the platform reports"
			say = failedWords("CLOSED")
		case payClass(f.ErrCode) == wire.ClassNotFound || f.State == "NOTPAY" && f.ErrCode == "":
			say = audio.PhraseOrderNotFound
			return nil
		default:
			a.log.Info("补单: order not paid", "out_trade_no", f.OutTradeNo, "state", f.State, "err_code", f.ErrCode)
			say = failedWords(cmp.Or(f.ErrCode, f.State))
			return nil
		}
		return a.savePayment(tx, p)
	})
	if err != nil {
		a.log.Error("补单 not recorded", "out_trade_no", f.OutTradeNo, "err", err)
		return
	}
	a.link.Kick()
	if say != "" {
		a.payPrompt(say)
	}
	if p.State == Paid {
		a.finishPayment(p) // deduplicated by order number: at most once
	}
}

// lookupSay is what a scanned order already settled here says: what it is.
func lookupSay(p Payment) string {
	switch {
	case p.Deposit:
		return audio.PhraseDepositOrder
	case p.Refunded >= p.Amount:
		return audio.PhraseOrderRefunded
	case p.State == Paid:
		return audio.PhrasePaid
	case p.State == Cancelled && p.SubmittedAt == 0:
		return failedWords("CANCELLED")
	}
	return ""
}

// onScan routes one scanner line: to the payment waiting for a code, or,
// when none waits, a scanned merchant order number of this device starts a
// 补单 lookup (one it does not have says 未找到订单, with no request).
func (a *Agent) onScan(line string) {
	if strings.HasPrefix(line, ota.QRPrefix) {
		a.onConfigQR(line) // an installer's config QR, never a payment code
		return
	}
	a.payMu.Lock()
	no := a.awaiting
	var s *session
	if no != "" {
		s = a.sessions[no]
	}
	a.payMu.Unlock()
	if s != nil {
		select {
		case s.codes <- line:
		default:
		}
		return
	}
	if ClassifyCode(line) != "" || !validID(line) {
		// A payment code with no payment to take it: drop it, unlogged.
		a.log.Info("scan ignored: no payment is waiting for a code", "len", len(line), "class", scanClass(line))
		return
	}
	p, err := a.loadPayment(line)
	switch {
	case errors.Is(err, ErrNotFound):
		// Not an order of this device (a misread, another till's bill, a
		// code with a scanner's AIM prefix): never sent out, and logged by
		// its length and class only — it may be a payment code.
		a.log.Info("补单: no such order on this device", "len", len(line), "class", scanClass(line))
		a.payPrompt(audio.PhraseOrderNotFound)
		return
	case err != nil:
		a.log.Error("补单: journal not read", "err", err)
		return
	case p.State == Paid || (p.State == Cancelled && p.SubmittedAt == 0):
		// A receipt of this till scanned (a deposit's Code128/QR): the
		// cashier app opens it; nothing to look up.
		a.log.Info("scanned an order of this device", "out_trade_no", line, "state", p.State)
		a.publishLocal("scan", scanEvent{OutTradeNo: line, Deposit: p.Deposit, State: p.State})
		if say := lookupSay(p); say != "" {
			a.payPrompt(say)
		}
		return
	case a.session(line) != nil:
		a.wakePayment(line) // still running: it asks now
		return
	}
	a.log.Info("补单: looking up scanned order", "out_trade_no", line, "state", p.State)
	if err := a.reqs.Send(wire.TypeOrderLookup, "", wire.OrderRef{OutTradeNo: line}); err != nil {
		a.log.Warn("order.lookup not sent", "err", err)
		a.payPrompt(audio.PhraseNetDown)
	}
}

// scanClass names what a scanned line looks like, for the log, without
// what it says: digits (a payment code's shape), aim (a scanner's ]Xn
// symbology prefix), order (this agent's order-number shape) or text.
func scanClass(line string) string {
	switch {
	case strings.HasPrefix(line, "]") && len(line) >= 3:
		return "aim"
	case line != "" && strings.Trim(line, "0123456789") == "":
		return "digits"
	case len(line) == 21 && (line[0] == 'P' || line[0] == 'R' || line[0] == 'Q') && strings.Trim(line[1:], "0123456789") == "":
		return "order"
	}
	return "text"
}

// payPrompt queues a payment prompt as a status prompt: if several come
// before the speaker is free, only the latest is said.
func (a *Agent) payPrompt(text string) { a.prompt("payment", text) }

// scanEvent is the local "scan" event: an order of this device scanned at
// the till (its receipt), for the cashier app to open.
type scanEvent struct {
	OutTradeNo string `json:"out_trade_no"`
	Deposit    bool   `json:"deposit"`
	State      string `json:"state"`
}
