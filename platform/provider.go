package platform

import (
	"crypto/sha256"
	"fmt"
	"sync"
	"time"

	"github.com/posagent/posagent/wire"
)

// Outcome is how the simulated payment provider treats one order (or, for
// the refund outcomes, one refund). The default is chosen by the amount, as
// WeChat Pay's sandbox does, so that a cashier or a test picks a case just
// by typing an amount; Provider.Script (or Sim.Script) picks one explicitly,
// like the sandbox's negative-test header, and Provider.ScriptRefund picks a
// refund's.
//
// The table, by the fen part of the amount (amount % 100). The codes are
// those of wallet "wechat" and of any wallet but "alipay"; an "alipay" order
// answers Alipay's sub_codes for the same case (profiles.go):
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
//
// By script only (no amount picks them):
//
//	OutcomePayingThenCancel   USERPAYING             the customer cancels on the phone: the Nth pay.query (N = PayingQueries) and later answer CLOSED; never charged
//	OutcomeQuerySystemError   UNKNOWN, SYSTEMERROR   charged at submit; the first QueryErrors (default 2) pay.query answer UNKNOWN, SYSTEMERROR, then SUCCESS
//	OutcomeReverseExpire      SUCCESS                charged at submit; every pay.reverse answers REVERSE_EXPIRE (Alipay ACQ.TRADE_CANCEL_TIME_OUT) with the state unchanged: it stays charged
//
// Refund outcomes (Provider.ScriptRefund; the default is OutcomeSuccess, refunded at once):
//
//	OutcomeRefundProcessing   refund.request answers PROCESSING; refund.query answers PROCESSING RefundQueries times (default 2), then SUCCESS (refunded then)
//	OutcomeRefundAbnormal     PROCESSING as above, then ABNORMAL (WeChat CHANGE, 退款异常): the money is not returned and a person must settle it
//	OutcomeRefundClosed       PROCESSING as above, then CLOSED (WeChat REFUNDCLOSE): not refunded, the amount may be refunded again
//	OutcomeRefundSystemError  refunded at once, but the request answers FAIL, SYSTEMERROR; the same out_refund_no again (or refund.query) answers SUCCESS and refunds nothing more; a new out_refund_no is a new refund
//
// Whatever the outcome: a submit of an order already paid answers UNKNOWN,
// ORDERPAID (Alipay ACQ.TRADE_HAS_SUCCESS) and never charges; with other
// content, OUT_TRADE_NO_USED (Alipay ACQ.CONTEXT_INCONSISTENT, other wallets
// DUPLICATE_CONTENT); a reverse later than ReverseWindow after the order's
// creation answers REVERSE_EXPIRE.
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

	OutcomePayingThenCancel Outcome = "paying_then_cancel"
	OutcomeQuerySystemError Outcome = "query_systemerror_then_success"
	OutcomeReverseExpire    Outcome = "reverse_expire"

	OutcomeRefundProcessing  Outcome = "refund_processing"
	OutcomeRefundAbnormal    Outcome = "refund_abnormal"
	OutcomeRefundClosed      Outcome = "refund_closed"
	OutcomeRefundSystemError Outcome = "refund_systemerror"
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
	StateClosed     = "CLOSED"
	StateRevoked    = "REVOKED"
	StateRefund     = "REFUND"
	StateFailed     = "FAILED"
	StateUnknown    = "UNKNOWN"
	// StateNotFound answers a refund.query of an out_refund_no never accepted.
	StateNotFound = "NOTFOUND"

	RefundSuccess    = "SUCCESS"
	RefundFail       = "FAIL"
	RefundProcessing = "PROCESSING"
	RefundClosed     = "CLOSED"   // WeChat REFUNDCLOSE
	RefundAbnormal   = "ABNORMAL" // WeChat CHANGE (退款异常)

	ErrSystemError      = "SYSTEMERROR"
	ErrTradeError       = "TRADE_ERROR"
	ErrNotEnough        = "NOTENOUGH"
	ErrAuthCodeExpire   = "AUTHCODEEXPIRE"
	ErrAuthCodeInvalid  = "AUTH_CODE_INVALID"
	ErrOrderPaid        = "ORDERPAID"
	ErrOrderReversed    = "ORDERREVERSED"
	ErrOrderClosed      = "ORDERCLOSED"
	ErrDuplicateContent = "DUPLICATE_CONTENT"
	ErrOutTradeNoUsed   = "OUT_TRADE_NO_USED"
	ErrOrderNotExist    = "ORDERNOTEXIST"
	ErrReverseExpire    = "REVERSE_EXPIRE"
	ErrTradeStateError  = "TRADE_STATE_ERROR"
	ErrRefundExceeded   = "REFUND_AMOUNT_EXCEEDED"
	ErrTradeOverdue     = "TRADE_OVERDUE"
	ErrRefundNotExist   = "REFUNDNOTEXIST"
	ErrInvalidRequest   = "INVALID_REQUEST"
	ErrParamError       = "PARAM_ERROR"
)

// Defaults of the Provider's options.
const (
	defaultPayingQueries = 2
	defaultRecalls       = 2
	defaultQueryErrors   = 2
	defaultRefundQueries = 2
	// DefaultRefundWindow is WeChat's "交易时间超过一年的订单无法提交退款"
	// (申请退款, https://pay.weixin.qq.com/wiki/doc/api_external/en/apis/chapter3_3_3.shtml);
	// Alipay's is the merchant's contract, never longer.
	DefaultRefundWindow = 365 * 24 * time.Hour
	// DefaultDepositReleaseAge is WeChat's deposit rule "当押金超过一个月未进行
	// 处理，会自动执行退款" (支付押金, https://pay.weixin.qq.com/doc/v2/partner/4011986623).
	DefaultDepositReleaseAge = 30 * 24 * time.Hour
	// MaxRefundsPerOrder is WeChat's "每个支付订单的部分退款次数不能超过50次"
	// (申请退款 and 申请退款(押金), https://pay.weixin.qq.com/doc/v2/partner/4011987251).
	MaxRefundsPerOrder = 50
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
// device's journal is checked against. It is as unkind as the real ones:
// answers that say nothing, customers who cancel, reverse and refund
// windows, refunds that take time or fail after the money left, deposits
// that release themselves, orders visible only to the device that made them.
// It knows nothing of MQTT, so several Sims (platform workers) can share
// one. Safe for concurrent use; set the options before the first request.
type Provider struct {
	// Now is the provider's clock (paid_at, transaction ids, windows);
	// default time.Now.
	Now func() time.Time
	// PayingQueries is the N of OutcomePayingThenSuccess and
	// OutcomePayingThenCancel; default 2.
	PayingQueries int
	// Recalls is how many reverses of an OutcomeRecall order answer
	// recall:true; default 2.
	Recalls int
	// QueryErrors is how many pay.query of an OutcomeQuerySystemError order
	// answer SYSTEMERROR before the truth; default 2.
	QueryErrors int
	// RefundQueries is how many refund.query of a PROCESSING refund answer
	// PROCESSING before it ends; default 2.
	RefundQueries int
	// ReverseWindow: a reverse later than this after the order was created
	// answers REVERSE_EXPIRE and changes nothing (WeChat allows 7 days,
	// Alipay's cancel about a day). 0 means no limit.
	ReverseWindow time.Duration
	// RefundWindow: a refund later than this after the payment fails with
	// TRADE_OVERDUE (Alipay ACQ.TRADE_NOT_ALLOW_REFUND). 0 means
	// DefaultRefundWindow, negative no limit.
	RefundWindow time.Duration
	// DepositReleaseAge: a deposit still frozen this long after it was
	// frozen is released by the provider (the money goes back to the
	// customer), as WeChat does after a month. 0 means
	// DefaultDepositReleaseAge, negative never.
	DepositReleaseAge time.Duration
	// OmitOp: pay.status answers carry no op (the Sim then sends them
	// without the key), so a device must match them by ref and business
	// key, as with a platform that does not implement the extension.
	OmitOp bool

	mu      sync.Mutex
	orders  map[string]*order
	order   []*order // creation order, for the ledger
	refunds map[string]*refund
	// depositOps remembers successful deposit operations by device and
	// out_request_no.
	depositOps    map[string]depositOp
	scripts       map[string]Outcome
	next          []Outcome
	refundNext    []Outcome
	refundScripts map[string]Outcome
	txSeq         int
}

// order is one out_trade_no at the provider.
type order struct {
	dev, outTradeNo string
	amount          int64
	wallet          string
	// authSum is a digest of the payment code, kept only to tell a retry
	// from a different request under the same out_trade_no: the code itself
	// is a bearer secret and is never kept.
	authSum   [32]byte
	deposit   bool
	outcome   Outcome
	createdAt time.Time
	state     string
	errCode   string
	errMsg    string
	queries   int
	reverses  int
	// tombstone: made by a reverse of an out_trade_no never submitted, so a
	// submit arriving after its reverse is refused.
	tombstone bool
	charges   int // times money was taken; anything but 0 or 1 is a bug
	reversed  bool
	refunded  int64     // fen given back by refunds (money returned)
	refunds   []*refund // accepted refunds, in order
	consumed  int64     // deposit: fen taken by consume
	released  bool      // deposit: the (rest of the) freeze was released
	// autoReleased: released by the provider for its age, not by the device.
	autoReleased bool
	txID         string
	paidAt       time.Time
}

// NewProvider returns a provider with the given clock (nil: time.Now).
func NewProvider(now func() time.Time) *Provider {
	return &Provider{Now: now}
}

// init makes the maps; p.mu is held.
func (p *Provider) init() {
	if p.orders == nil {
		p.orders = map[string]*order{}
		p.refunds = map[string]*refund{}
		p.scripts = map[string]Outcome{}
		p.refundScripts = map[string]Outcome{}
		p.depositOps = map[string]depositOp{}
	}
	if p.Now == nil {
		p.Now = time.Now
	}
}

func orDefault(v, d int) int {
	if v <= 0 {
		return d
	}
	return v
}

// op is the op an answer carries: none with OmitOp.
func (p *Provider) op(op string) string {
	if p.OmitOp {
		return ""
	}
	return op
}

// owned is the order outTradeNo as device dev may see it: a platform
// scopes orders by the device (merchant terminal) that made them, so
// another device's order, or a reverse tombstone, is not there for it.
func (p *Provider) owned(dev, outTradeNo string) (*order, bool) {
	o, ok := p.orders[outTradeNo]
	if !ok || o.tombstone || o.dev != dev {
		return nil, false
	}
	p.sweep(o)
	return o, true
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
	op := p.op("submit")
	if r.Amount <= 0 || r.AuthCode == "" {
		return PayStatus{OutTradeNo: r.OutTradeNo, Op: op, State: StateFailed, ErrCode: ErrParamError,
			ErrMsg: "amount must be positive and auth_code present", Amount: r.Amount, Wallet: r.Wallet}
	}
	sum := sha256.Sum256([]byte(r.AuthCode))
	if o, ok := p.orders[r.OutTradeNo]; ok {
		return p.resubmit(dev, o, r, sum)
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
	a, known := submitAnswers[oc]
	if !known { // an outcome for refunds only: the order itself succeeds
		a = submitAnswers[OutcomeSuccess]
	}
	first := a.of(r.Wallet)
	o := &order{dev: dev, outTradeNo: r.OutTradeNo, amount: r.Amount, wallet: r.Wallet, authSum: sum,
		deposit: r.Deposit, outcome: oc, createdAt: p.Now(), state: StateUserPaying}
	p.orders[o.outTradeNo] = o
	p.order = append(p.order, o)

	switch first.state {
	case StateSuccess:
		p.charge(o)
		return p.status(o, op)
	case StateUnknown:
		// OutcomeSystemError, OutcomeQuerySystemError, OutcomeOrderPaid:
		// the customer was charged but the answer does not say so: only a
		// query tells the device.
		p.charge(o)
		return PayStatus{OutTradeNo: o.outTradeNo, Op: op, State: StateUnknown, ErrCode: first.code, ErrMsg: first.msg,
			Amount: o.amount, Wallet: o.wallet}
	case StateUserPaying:
		// The customer is asked for a password; a duplicate-content order
		// stays so, telling it in the first answer only.
		st := p.status(o, op)
		st.ErrCode, st.ErrMsg = first.code, first.msg
		return st
	}
	// A decline: the order stays in it.
	o.state, o.errCode, o.errMsg = first.state, first.code, first.msg
	return p.status(o, op)
}

// resubmit answers a pay.submit of an out_trade_no the provider knows; it
// never charges. p.mu is held.
func (p *Provider) resubmit(dev string, o *order, r PaySubmit, sum [32]byte) PayStatus {
	op := p.op("submit")
	if o.dev != dev {
		// Another terminal's order number (or its reverse tombstone): to the provider (one merchant)
		// it is a collision, and nothing of the other order is told.
		d := duplicateAnswer.of(r.Wallet)
		return PayStatus{OutTradeNo: r.OutTradeNo, Op: op, State: StateUnknown, ErrCode: d.code, ErrMsg: d.msg,
			Amount: r.Amount, Wallet: r.Wallet}
	}
	p.sweep(o)
	wallet := o.wallet
	if o.tombstone {
		wallet = r.Wallet
	}
	st := p.status(o, op)
	switch {
	case o.reversed:
		a := reversedAnswer.of(wallet)
		st.State, st.ErrCode, st.ErrMsg = a.state, a.code, a.msg
	case o.amount != r.Amount || o.authSum != sum:
		// Other content: refused. WeChat (OUT_TRADE_NO_USED) and Alipay
		// (ACQ.CONTEXT_INCONSISTENT) answer a failed request with no trade
		// state: the first order's success is not this request's. The
		// platform's own DUPLICATE_CONTENT carries the first order's state.
		a := duplicateAnswer.of(wallet)
		if profileOf(wallet) != profileOther {
			st = PayStatus{OutTradeNo: o.outTradeNo, Op: op, State: StateUnknown, Amount: o.amount, Wallet: o.wallet}
		}
		st.ErrCode, st.ErrMsg = a.code, a.msg
	case o.outcome == OutcomeDuplicateContent:
		a := submitAnswers[OutcomeDuplicateContent].of(wallet)
		st.ErrCode, st.ErrMsg = a.code, a.msg
	case o.charges > 0:
		// Paid already: WeChat ORDERPAID, Alipay ACQ.TRADE_HAS_SUCCESS. A
		// failed request: no trade state, no transaction id.
		a := orderPaidAnswer.of(wallet)
		st = PayStatus{OutTradeNo: o.outTradeNo, Op: op, State: a.state, ErrCode: a.code, ErrMsg: a.msg,
			Amount: o.amount, Wallet: o.wallet}
	case o.state == StateClosed:
		a := closedAnswer.of(wallet)
		st.State, st.ErrCode, st.ErrMsg = a.state, a.code, a.msg
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
	if o.state == StateSuccess && o.refundHeld() > 0 {
		st.State = StateRefund
	}
	if st.State == StateUserPaying && st.ErrMsg == "" {
		st.ErrMsg = msgUserPaying
	}
	return st
}

// Query takes a pay.query: it is what moves a USERPAYING order on (the
// customer typing their password while the device polls, or giving up).
func (p *Provider) Query(dev, outTradeNo string) PayStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	op := p.op("query")
	o, ok := p.owned(dev, outTradeNo)
	if !ok {
		if t, ok := p.orders[outTradeNo]; ok && t.tombstone && t.dev == dev {
			return p.status(t, op) // the device's own reverse: REVOKED
		}
		return PayStatus{OutTradeNo: outTradeNo, Op: op, State: StateNotPay, ErrCode: ErrOrderNotExist, ErrMsg: "订单不存在"}
	}
	switch {
	case o.state == StateUserPaying && (o.outcome == OutcomePayingThenSuccess || o.outcome == OutcomePayingThenCancel):
		o.queries++
		if o.queries >= orDefault(p.PayingQueries, defaultPayingQueries) {
			if o.outcome == OutcomePayingThenSuccess {
				p.charge(o)
			} else {
				a := cancelledAnswer.of(o.wallet)
				o.state, o.errCode, o.errMsg = a.state, a.code, a.msg
			}
		}
	case o.outcome == OutcomeQuerySystemError && !o.reversed:
		o.queries++
		if o.queries <= orDefault(p.QueryErrors, defaultQueryErrors) {
			a := querySystemErrorAnswer.of(o.wallet)
			return PayStatus{OutTradeNo: o.outTradeNo, Op: op, State: a.state, ErrCode: a.code, ErrMsg: a.msg,
				Amount: o.amount, Wallet: o.wallet}
		}
	}
	return p.status(o, op)
}

// Reverse takes a pay.reverse (撤销): it closes the order and gives back
// what it had taken. A reverse of an unknown out_trade_no is recorded, so a
// submit that arrives after it (a stale copy) is refused instead of charging
// a customer whose payment the device already gave up on.
func (p *Provider) Reverse(dev, outTradeNo string) PayStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	op := p.op("reverse")
	o, ok := p.orders[outTradeNo]
	switch {
	case !ok:
		o = &order{dev: dev, outTradeNo: outTradeNo, createdAt: p.Now(), state: StateRevoked, tombstone: true, reversed: true}
		p.orders[outTradeNo] = o
		p.order = append(p.order, o)
		return p.status(o, op)
	case o.dev != dev:
		// Another device's order (or its tombstone): not this device's to
		// close, and no tombstone over it either.
		return PayStatus{OutTradeNo: outTradeNo, Op: op, State: StateRevoked, ErrCode: ErrOrderNotExist, ErrMsg: "订单不存在"}
	}
	p.sweep(o)
	o.reverses++
	if o.reversed {
		return p.status(o, op)
	}
	if o.outcome == OutcomeReverseExpire || (p.ReverseWindow > 0 && p.Now().Sub(o.createdAt) > p.ReverseWindow) {
		a := reverseExpireAnswer.of(o.wallet)
		st := p.status(o, op)
		st.ErrCode, st.ErrMsg = a.code, a.msg
		return st
	}
	if o.outcome == OutcomeRecall && o.reverses <= orDefault(p.Recalls, defaultRecalls) {
		a := recallAnswer.of(o.wallet)
		st := p.status(o, op)
		st.ErrCode, st.ErrMsg, st.Recall = a.code, a.msg, true
		return st
	}
	if o.refundHeld() > 0 {
		st := p.status(o, op)
		st.ErrCode, st.ErrMsg = ErrTradeStateError, "订单已退款，不能撤销"
		return st
	}
	if o.deposit && (o.consumed > 0 || o.released) {
		// A deposit that ended (consumed, released) has nothing left to
		// give back by a reverse.
		st := p.status(o, op)
		st.ErrCode, st.ErrMsg = ErrTradeStateError, "押金已完结，不能撤销"
		return st
	}
	o.reversed = true
	o.state, o.errCode, o.errMsg = StateRevoked, "", ""
	return p.status(o, op)
}

// Lookup takes an order.lookup (补单) from device dev. It only reads: it
// does not move an order the way a query does.
func (p *Provider) Lookup(dev, outTradeNo string) OrderFound {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	o, ok := p.owned(dev, outTradeNo)
	if !ok {
		state := StateNotPay
		if t, ok := p.orders[outTradeNo]; ok && t.tombstone && t.dev == dev {
			state = StateRevoked
		}
		return OrderFound{OutTradeNo: outTradeNo, State: state, ErrCode: ErrOrderNotExist}
	}
	st := p.status(o, "")
	return OrderFound{OutTradeNo: outTradeNo, State: st.State, ErrCode: st.ErrCode, Amount: o.amount,
		Wallet: o.wallet, TransactionID: st.TransactionID, PaidAt: st.PaidAt}
}
