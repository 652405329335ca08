package device

import (
	"errors"
	"strings"

	"github.com/posagent/posagent/audio"
	"github.com/posagent/posagent/device/payment"
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
		ans, err := a.emit(tx, wire.TypeError, m.ID, errorBody{Ref: m.ID, Code: CodeBusy, Message: "another payment is waiting for a code"})
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
		ans, err := a.emit(tx, wire.TypePayResult, m.ID, payment.Result(p))
		return &ans, nil, err
	}
	if p.State == Attention {
		return a.badRequest(tx, m, "pay.cancel: payment %s needs a person (%s): settle it on the platform or by 补单", p.OutTradeNo, p.ErrCode)
	}
	payment.MarkCancel(&p)
	if err := a.pays.Save(tx, p); err != nil {
		return nil, nil, err
	}
	return nil, func() { a.pays.Wake(b.OutTradeNo) }, nil
}

// acceptPayStatus hands a pay.status answer to its payment's state machine.
// The answer is not journaled itself: if it is lost in a crash the machine
// asks again. It is matched by its out_trade_no or, when the body has none,
// by its ref; its op, when the platform sends none, is the type of the
// request its ref names.
func (a *Agent) acceptPayStatus(tx *journal.Tx, m mqtt.Message) (*mqtt.Message, func(), error) {
	req, known := a.reqs.Of(m.Ref)
	ok := func(st wire.PayStatus) bool { return st.OutTradeNo != "" || (known && validID(req.Key)) }
	return acceptAnswer(a, m, ok, func(st wire.PayStatus) {
		if st.OutTradeNo == "" {
			st.OutTradeNo = req.Key
		}
		if st.Op == "" && known && req.Key == st.OutTradeNo {
			st.Op = strings.TrimPrefix(req.Type, "pay.")
		}
		a.deliver(st)
	})
}

func (a *Agent) deliver(st wire.PayStatus) {
	if !a.pays.Deliver(st) {
		a.log.Info("pay.status for a payment not running, ignored", "out_trade_no", st.OutTradeNo, "state", st.State)
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
	if a.pays.IsRunning(f.OutTradeNo) {
		// A payment of ours still running: the answer is a query's.
		a.deliver(wire.PayStatus{OutTradeNo: f.OutTradeNo, Op: "query", State: f.State, ErrCode: f.ErrCode,
			TransactionID: f.TransactionID, PaidAt: f.PaidAt, Wallet: f.Wallet, Amount: f.Amount})
		return
	}
	p, say, err := a.pays.Found(f)
	if err != nil {
		a.log.Error("补单 not recorded", "out_trade_no", f.OutTradeNo, "err", err)
		return
	}
	a.link.Kick()
	if say != "" {
		a.payPrompt(say)
	}
	if p.State == Paid {
		a.completeOrder(p.OutTradeNo) // deduplicated by order number: at most once
	}
}

// onScan routes one scanner line: to the payment waiting for a code, or,
// when none waits, a scanned merchant order number of this device starts a
// 补单 lookup (one it does not have says 未找到订单, with no request).
func (a *Agent) onScan(line string) {
	if strings.HasPrefix(line, ota.QRPrefix) {
		a.onConfigQR(line) // an installer's config QR, never a payment code
		return
	}
	if a.pays.Scan(line) {
		return // to the payment waiting for its code
	}
	if payment.ClassifyCode(line) != "" || !validID(line) {
		// A payment code with no payment to take it: drop it, unlogged.
		a.log.Info("scan ignored: no payment is waiting for a code", "len", len(line), "class", payment.ScanClass(line))
		return
	}
	p, err := a.pays.Load(line)
	switch {
	case errors.Is(err, ErrNotFound):
		// Not an order of this device (a misread, another till's bill, a
		// code with a scanner's AIM prefix): never sent out, and logged by
		// its length and class only — it may be a payment code.
		a.log.Info("补单: no such order on this device", "len", len(line), "class", payment.ScanClass(line))
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
		if say := payment.LookupSay(p); say != "" {
			a.payPrompt(say)
		}
		return
	case a.pays.IsRunning(line):
		a.pays.Wake(line) // still running: it asks now
		return
	}
	a.log.Info("补单: looking up scanned order", "out_trade_no", line, "state", p.State)
	if err := a.reqs.Send(wire.TypeOrderLookup, "", wire.OrderRef{OutTradeNo: line}); err != nil {
		a.log.Warn("order.lookup not sent", "err", err)
		a.payPrompt(audio.PhraseNetDown)
	}
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
