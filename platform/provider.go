package platform

import (
	"github.com/posagent/posagent/wire"

	"crypto/sha256"
	"fmt"
	"sync"
	"time"
)

// Outcome is how the simulated payment provider treats one order. The
// default is chosen by the amount, as WeChat Pay's sandbox does, so that a
// cashier or a test picks a case just by typing an amount; Provider.Script
// (or Sim.Script) picks one explicitly, like the sandbox's negative-test
// header.
//
// The table, by the fen part of the amount (amount % 100):
//
//	fen  outcome                  submit answers              then
//	.01  OutcomePayingThenSuccess USERPAYING                  the Nth pay.query answers SUCCESS (N = PayingQueries, default 2); charged then
//	.02  OutcomePayingForever     USERPAYING                  USERPAYING until reversed; never charged
//	.03  OutcomePayError          PAYERROR, TRADE_ERROR       query PAYERROR; never charged (the device reverses)
//	.04  OutcomeNotEnough         FAILED, NOTENOUGH           query the same; never charged
//	.05  OutcomeAuthCodeExpire    FAILED, AUTHCODEEXPIRE      query the same; never charged
//	.06  OutcomeSystemError       UNKNOWN, SYSTEMERROR        charged at submit: query answers SUCCESS
//	.07  OutcomeOrderPaid         UNKNOWN, ORDERPAID          charged (once): query answers SUCCESS
//	.08  OutcomeDuplicateContent  USERPAYING, DUPLICATE_CONTENT query USERPAYING forever; never charged; a correct device never reverses it
//	.09  OutcomeRecall            USERPAYING                  USERPAYING until reversed; the first Recalls (default 2) reverses answer recall:true
//	.10  OutcomeAuthCodeInvalid   FAILED, AUTH_CODE_INVALID   query the same; never charged
//	else OutcomeSuccess           SUCCESS                     charged at submit
type Outcome string

// The outcomes of the table above.
const (
	OutcomeSuccess           Outcome = "success"
	OutcomePayingThenSuccess Outcome = "paying_then_success"
	OutcomePayingForever     Outcome = "paying_until_reversed"
	OutcomePayError          Outcome = "payerror"
	OutcomeNotEnough         Outcome = "notenough"
	OutcomeAuthCodeExpire    Outcome = "authcodeexpire"
	OutcomeSystemError       Outcome = "systemerror_then_success"
	OutcomeOrderPaid         Outcome = "orderpaid"
	OutcomeDuplicateContent  Outcome = "duplicate_content"
	OutcomeRecall            Outcome = "recall"
	OutcomeAuthCodeInvalid   Outcome = "auth_code_invalid"
)

// OutcomeFor is the outcome an unscripted order of amount fen gets.
func OutcomeFor(amount int64) Outcome {
	switch amount % 100 {
	case 1:
		return OutcomePayingThenSuccess
	case 2:
		return OutcomePayingForever
	case 3:
		return OutcomePayError
	case 4:
		return OutcomeNotEnough
	case 5:
		return OutcomeAuthCodeExpire
	case 6:
		return OutcomeSystemError
	case 7:
		return OutcomeOrderPaid
	case 8:
		return OutcomeDuplicateContent
	case 9:
		return OutcomeRecall
	case 10:
		return OutcomeAuthCodeInvalid
	}
	return OutcomeSuccess
}

// Trade states and error codes on the wire (protocol §4.4, extensions).
const (
	StateSuccess    = "SUCCESS"
	StateUserPaying = "USERPAYING"
	StateNotPay     = "NOTPAY"
	StatePayError   = "PAYERROR"
	StateRevoked    = "REVOKED"
	StateRefund     = "REFUND"
	StateFailed     = "FAILED"
	StateUnknown    = "UNKNOWN"

	RefundSuccess = "SUCCESS"
	RefundFail    = "FAIL"

	ErrSystemError       = "SYSTEMERROR"
	ErrTradeError        = "TRADE_ERROR"
	ErrNotEnough         = "NOTENOUGH"
	ErrAuthCodeExpire    = "AUTHCODEEXPIRE"
	ErrAuthCodeInvalid   = "AUTH_CODE_INVALID"
	ErrOrderPaid         = "ORDERPAID"
	ErrOrderReversed     = "ORDERREVERSED"
	ErrDuplicateContent  = "DUPLICATE_CONTENT"
	ErrOrderNotExist     = "ORDERNOTEXIST"
	ErrTradeStateError   = "TRADE_STATE_ERROR"
	ErrRefundExceeded    = "REFUND_AMOUNT_EXCEEDED"
	ErrInvalidRequest    = "INVALID_REQUEST"
	ErrParamError        = "PARAM_ERROR"
	defaultPayingQueries = 2
	defaultRecalls       = 2
)

// PaySubmit is the wire body (package wire).
type PaySubmit = wire.PaySubmit

// PayStatus is the wire body (package wire).
type PayStatus = wire.PayStatus

// OrderFound is the wire body (package wire).
type OrderFound = wire.OrderFound

// RefundRequest is the wire body (package wire).
type RefundRequest = wire.RefundRequest

// RefundStatus is the wire body (package wire).
type RefundStatus = wire.RefundStatus

// Provider is the simulated payment provider (WeChat Pay / Alipay micropay
// as a merchant system sees them) behind the platform: it keeps the orders,
// is idempotent by out_trade_no and out_refund_no as the real ones are, and
// keeps the ledger of what was really taken from customers, which is what a
// device's journal is checked against. It knows nothing of MQTT, so several
// Sims (platform workers) can share one. Safe for concurrent use.
type Provider struct {
	// Now is the provider's clock (paid_at, transaction ids); default time.Now.
	Now func() time.Time
	// PayingQueries is the N of OutcomePayingThenSuccess; default 2.
	PayingQueries int
	// Recalls is how many reverses of an OutcomeRecall order answer
	// recall:true; default 2.
	Recalls int

	mu      sync.Mutex
	orders  map[string]*order
	order   []*order // creation order, for the ledger
	refunds map[string]RefundStatus
	// depositOps remembers successful deposit operations by out_request_no.
	depositOps map[string]DepositStatus
	scripts    map[string]Outcome
	next       []Outcome
	txSeq      int
}

// order is one out_trade_no at the provider.
type order struct {
	dev, outTradeNo string
	amount          int64
	wallet          string
	// authSum is a digest of the payment code, kept only to tell a retry
	// from a different request under the same out_trade_no: the code itself
	// is a bearer secret and is never kept.
	authSum  [32]byte
	deposit  bool
	outcome  Outcome
	state    string
	errCode  string
	errMsg   string
	queries  int
	reverses int
	// tombstone: made by a reverse of an out_trade_no never submitted, so a
	// submit arriving after its reverse is refused.
	tombstone bool
	charges   int // times money was taken; anything but 0 or 1 is a bug
	reversed  bool
	refunded  int64
	consumed  int64 // deposit: fen taken by consume
	released  bool  // deposit: the (rest of the) freeze was released
	txID      string
	paidAt    time.Time
}

// NewProvider returns a provider with the given clock (nil: time.Now).
func NewProvider(now func() time.Time) *Provider {
	return &Provider{Now: now}
}

// init makes the maps; p.mu is held.
func (p *Provider) init() {
	if p.orders == nil {
		p.orders = map[string]*order{}
		p.refunds = map[string]RefundStatus{}
		p.scripts = map[string]Outcome{}
	}
	if p.Now == nil {
		p.Now = time.Now
	}
}

// Script sets the outcome of the order outTradeNo, or, with outTradeNo "",
// of the next new order that has no script of its own (calls queue up, first
// in first out). It takes effect when the order is first submitted.
func (p *Provider) Script(outTradeNo string, o Outcome) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	if outTradeNo == "" {
		p.next = append(p.next, o)
		return
	}
	p.scripts[outTradeNo] = o
}

// Submit takes a pay.submit from device dev.
func (p *Provider) Submit(dev string, r PaySubmit) PayStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	if r.Amount <= 0 || r.AuthCode == "" {
		return PayStatus{OutTradeNo: r.OutTradeNo, Op: "submit", State: StateFailed, ErrCode: ErrParamError,
			ErrMsg: "amount must be positive and auth_code present", Amount: r.Amount, Wallet: r.Wallet}
	}
	sum := sha256.Sum256([]byte(r.AuthCode))
	if o, ok := p.orders[r.OutTradeNo]; ok {
		// A second submit under a known out_trade_no never charges: a retry
		// learns the current state; other content is refused as the real
		// providers do, with the first order's state.
		st := p.status(o, "submit")
		switch {
		case o.reversed:
			st.State, st.ErrCode, st.ErrMsg = StateRevoked, ErrOrderReversed, "订单已撤销"
		case o.amount != r.Amount || o.authSum != sum || o.outcome == OutcomeDuplicateContent:
			st.ErrCode, st.ErrMsg = ErrDuplicateContent, "同一商户订单号的请求内容不同"
		}
		return st
	}
	oc, ok := p.scripts[r.OutTradeNo]
	switch {
	case ok:
		delete(p.scripts, r.OutTradeNo)
	case len(p.next) > 0:
		oc, p.next = p.next[0], p.next[1:]
	default:
		oc = OutcomeFor(r.Amount)
	}
	o := &order{dev: dev, outTradeNo: r.OutTradeNo, amount: r.Amount, wallet: r.Wallet, authSum: sum,
		deposit: r.Deposit, outcome: oc, state: StateUserPaying}
	p.orders[o.outTradeNo] = o
	p.order = append(p.order, o)

	switch oc {
	case OutcomePayError:
		o.state, o.errCode, o.errMsg = StatePayError, ErrTradeError, "支付失败"
	case OutcomeNotEnough:
		o.state, o.errCode, o.errMsg = StateFailed, ErrNotEnough, "余额不足"
	case OutcomeAuthCodeExpire:
		o.state, o.errCode, o.errMsg = StateFailed, ErrAuthCodeExpire, "付款码已过期"
	case OutcomeAuthCodeInvalid:
		o.state, o.errCode, o.errMsg = StateFailed, ErrAuthCodeInvalid, "付款码无效"
	case OutcomeSystemError, OutcomeOrderPaid:
		// The customer was charged but the answer does not say so: only a
		// query tells the device.
		p.charge(o)
		st := PayStatus{OutTradeNo: o.outTradeNo, Op: "submit", State: StateUnknown, Amount: o.amount, Wallet: o.wallet}
		if oc == OutcomeSystemError {
			st.ErrCode, st.ErrMsg = ErrSystemError, "系统超时"
		} else {
			st.ErrCode, st.ErrMsg = ErrOrderPaid, "订单已支付"
		}
		return st
	case OutcomeDuplicateContent:
		st := p.status(o, "submit")
		st.ErrCode, st.ErrMsg = ErrDuplicateContent, "同一商户订单号的请求内容不同"
		return st
	case OutcomePayingThenSuccess, OutcomePayingForever, OutcomeRecall:
		// Stays USERPAYING: the customer is asked for a password.
	default:
		p.charge(o)
	}
	st := p.status(o, "submit")
	if st.State == StateUserPaying {
		st.ErrMsg = "需要用户输入支付密码"
	}
	return st
}

// charge takes the order's amount from the customer; p.mu is held.
func (p *Provider) charge(o *order) {
	o.charges++
	o.state, o.errCode, o.errMsg = StateSuccess, "", ""
	o.paidAt = p.Now()
	p.txSeq++
	o.txID = fmt.Sprintf("4200%s%016d", o.paidAt.UTC().Format("20060102"), p.txSeq)
}

// status is the order as a pay.status body, without moving it; p.mu is held.
func (p *Provider) status(o *order, op string) PayStatus {
	st := PayStatus{OutTradeNo: o.outTradeNo, Op: op, State: o.state, ErrCode: o.errCode, ErrMsg: o.errMsg,
		Wallet: o.wallet, Amount: o.amount}
	if o.charges > 0 {
		st.TransactionID, st.PaidAt = o.txID, o.paidAt.Unix()
	}
	if o.state == StateSuccess && o.refunded > 0 {
		st.State = StateRefund
	}
	return st
}

// Query takes a pay.query: it is what moves a USERPAYING order on (the
// customer typing their password while the device polls).
func (p *Provider) Query(dev, outTradeNo string) PayStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	o, ok := p.orders[outTradeNo]
	if !ok {
		return PayStatus{OutTradeNo: outTradeNo, Op: "query", State: StateNotPay, ErrCode: ErrOrderNotExist, ErrMsg: "订单不存在"}
	}
	if o.outcome == OutcomePayingThenSuccess && o.state == StateUserPaying {
		o.queries++
		n := p.PayingQueries
		if n <= 0 {
			n = defaultPayingQueries
		}
		if o.queries >= n {
			p.charge(o)
		}
	}
	return p.status(o, "query")
}

// Reverse takes a pay.reverse (撤销): it closes the order and gives back
// what it had taken. A reverse of an unknown out_trade_no is recorded, so a
// submit that arrives after it (a stale copy) is refused instead of charging
// a customer whose payment the device already gave up on.
func (p *Provider) Reverse(dev, outTradeNo string) PayStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	o, ok := p.orders[outTradeNo]
	if !ok {
		o = &order{dev: dev, outTradeNo: outTradeNo, state: StateRevoked, tombstone: true, reversed: true}
		p.orders[outTradeNo] = o
		p.order = append(p.order, o)
		return p.status(o, "reverse")
	}
	o.reverses++
	if o.reversed {
		return p.status(o, "reverse")
	}
	recalls := p.Recalls
	if recalls <= 0 {
		recalls = defaultRecalls
	}
	if o.outcome == OutcomeRecall && o.reverses <= recalls {
		st := p.status(o, "reverse")
		st.ErrCode, st.ErrMsg, st.Recall = ErrSystemError, "撤销未完成，请重试", true
		return st
	}
	if o.refunded > 0 {
		st := p.status(o, "reverse")
		st.ErrCode, st.ErrMsg = ErrTradeStateError, "订单已退款，不能撤销"
		return st
	}
	o.reversed = true
	o.state, o.errCode, o.errMsg = StateRevoked, "", ""
	return p.status(o, "reverse")
}

// Lookup takes an order.lookup (补单). It only reads: it does not move an
// order the way a query does.
func (p *Provider) Lookup(outTradeNo string) OrderFound {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	o, ok := p.orders[outTradeNo]
	if !ok || o.tombstone {
		state := StateNotPay
		if ok {
			state = StateRevoked
		}
		return OrderFound{OutTradeNo: outTradeNo, State: state, ErrCode: ErrOrderNotExist}
	}
	st := p.status(o, "")
	return OrderFound{OutTradeNo: outTradeNo, State: st.State, ErrCode: st.ErrCode, Amount: o.amount,
		Wallet: o.wallet, TransactionID: st.TransactionID, PaidAt: st.PaidAt}
}

// Refund takes a refund.request. A refund that succeeded is answered the
// same again for its out_refund_no; a failed one is judged again, as the
// provider created nothing for it.
func (p *Provider) Refund(dev string, r RefundRequest) RefundStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	if prev, ok := p.refunds[r.OutRefundNo]; ok {
		return prev
	}
	fail := func(code, msg string) RefundStatus {
		return RefundStatus{OutRefundNo: r.OutRefundNo, OutTradeNo: r.OutTradeNo, State: RefundFail,
			ErrCode: code, ErrMsg: msg, Amount: r.Amount}
	}
	if r.OutRefundNo == "" || r.Amount <= 0 {
		return fail(ErrInvalidRequest, "out_refund_no and a positive amount are needed")
	}
	o, ok := p.orders[r.OutTradeNo]
	switch {
	case !ok || o.tombstone:
		return fail(ErrOrderNotExist, "订单不存在")
	case o.charges == 0 || o.reversed:
		return fail(ErrTradeStateError, "订单未支付或已撤销")
	case o.refunded+r.Amount > o.amount:
		return fail(ErrRefundExceeded, fmt.Sprintf("可退金额 %d 分", o.amount-o.refunded))
	}
	o.refunded += r.Amount
	p.txSeq++
	rs := RefundStatus{OutRefundNo: r.OutRefundNo, OutTradeNo: r.OutTradeNo, State: RefundSuccess,
		RefundID: fmt.Sprintf("5030%s%016d", p.Now().UTC().Format("20060102"), p.txSeq), Amount: r.Amount}
	p.refunds[r.OutRefundNo] = rs
	return rs
}
