package device

import (
	"context"

	"github.com/posagent/posagent/device/orders"
	"github.com/posagent/posagent/device/payment"
	"github.com/posagent/posagent/device/staff"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/printer"
	"github.com/posagent/posagent/wire"
)

// newPayments wires the payment flow (device/payment) to the agent.
func (a *Agent) newPayments() *payment.Runner {
	return &payment.Runner{Host: a.flowHost("P"), Say: a.payPrompt, Words: a.audioOptions(),
		Saved: a.paymentSaved}
}

// startPayment journals a new payment awaiting its code, by the staff
// member on shift, if the device's mode takes it; the caller runs it
// (goPay) after the commit. It is the common start of pay.collect and
// POST /v1/payments.
func (a *Agent) startPayment(tx *journal.Tx, p Payment) error {
	return a.pays.Create(tx, p, func(tx *journal.Tx, p *Payment) error {
		if sh, ok, err := staff.Current(tx); err != nil {
			return err
		} else if ok {
			p.Staff = sh.Staff.ID
		}
		return a.modeAllows(p.Deposit)
	})
}

// paymentSaved keeps, within the transaction that journals p in a new
// state, what the agent shows of it: the unconfirmed set, the retained
// state's payment and the local listeners.
func (a *Agent) paymentSaved(tx *journal.Tx, p Payment) {
	if p.State == Unknown || p.State == Attention {
		// Into the set before the commit: a reader may see the committed
		// record before commit handlers run, and a new payment in that gap
		// must already be refused. Should the transaction roll back, the
		// entry stays until this payment's next record: a payment whose
		// outcome we failed to record is of unknown outcome all the same.
		a.noteUnconfirmed(p)
	}
	tx.OnCommit(func() { a.noteUnconfirmed(p) })
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
}

// resumePayments restarts every payment that is not settled
// (payment.Runner.Resume).
func (a *Agent) resumePayments(ctx context.Context) error {
	return a.pays.Resume(a.noteUnconfirmed, func(no string) { a.goPay(ctx, no) })
}

// goPay runs payment no to its end.
func (a *Agent) goPay(ctx context.Context, no string) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := a.pays.Run(ctx, no); err != nil && ctx.Err() == nil {
			a.log.Error("payment stopped", "out_trade_no", no, "err", err)
		}
	}()
}

// numberGen makes numbers like NewOutTradeNo's, prefix first.
func (a *Agent) numberGen(prefix string) func() string {
	return func() string { return prefix + payment.NewOutTradeNo(a.now())[1:] }
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
		OutTradeNo: c.OutTradeNo, Desc: c.Desc, Staff: staff.NameOf(tx, c.StaffID), TransactionID: c.TransactionID})
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
		v.Message = payment.FailedWords(p.ErrCode) + "，顾客未被扣款"
		if p.CancelAsked {
			v.Message = "已取消并撤销，顾客未被扣款"
		}
	case Failed:
		v.Message = payment.FailedWords(p.ErrCode) + "，顾客未被扣款"
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
