package platform

import (
	"fmt"

	"github.com/posagent/posagent/wire"
)

// Deposit operations (WeChat deposit / Alipay 资金授权), as the provider
// sees them: a deposit is an order submitted with deposit:true, whose money
// is frozen rather than taken; it ends in exactly one final step, consume
// (take part or all, release the rest) or unfreeze (release all).

// Deposit states of an order, like Tencent Cloud Pay's.
const (
	DepositInit       = "INIT"       // submitted, not frozen yet
	DepositWaiting    = "USERPAYING" // waiting for the customer
	DepositFrozen     = "FROZEN"     // frozen: consume or unfreeze may follow
	DepositConsumed   = "CONSUMED"   // final: part or all taken, the rest released
	DepositReleased   = "RELEASED"   // final: all released
	DepositNotFound   = "NOTFOUND"   // deposit.query of a request never received
	ErrNotDeposit     = "NOT_DEPOSIT"
	ErrNotFrozen      = "ORDER_NOT_FROZEN"
	ErrFinished       = "ORDER_FINISHED"
	ErrAmountTooLarge = "AMOUNT_EXCEEDED"
)

// DepositRequest is the wire body (package wire).
type DepositRequest = wire.DepositRequest

// DepositStatus is the wire body (package wire).
type DepositStatus = wire.DepositStatus

func (p *Provider) depositState(o *order) string {
	switch {
	case o.consumed > 0:
		return DepositConsumed
	case o.released:
		return DepositReleased
	case o.state == StateSuccess && o.charges > 0 && !o.reversed:
		return DepositFrozen
	case o.state == StateUserPaying:
		return DepositWaiting
	}
	return DepositInit
}

// Deposit takes deposit.consume (op "consume") or deposit.unfreeze (op
// "unfreeze"). It is idempotent by out_request_no: the same request again
// answers what the first one did.
func (p *Provider) Deposit(dev, op string, r DepositRequest) DepositStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	if p.depositOps == nil {
		p.depositOps = map[string]DepositStatus{}
	}
	if prev, ok := p.depositOps[r.OutRequestNo]; ok {
		return prev
	}
	st := DepositStatus{OutTradeNo: r.OutTradeNo, OutRequestNo: r.OutRequestNo, Op: op, State: RefundFail}
	o, ok := p.orders[r.OutTradeNo]
	fail := func(code, msg string) DepositStatus {
		st.ErrCode, st.ErrMsg = code, msg
		if o != nil {
			st.DepositState, st.Frozen, st.Consumed = p.depositState(o), o.amount, o.consumed
			if o.released {
				st.Released = o.amount - o.consumed
			}
		}
		// Failures are not remembered: the same out_request_no may be sent
		// again once the order allows it (as the real providers do).
		return st
	}
	switch {
	case !ok:
		return fail(ErrOrderNotExist, "订单不存在")
	case !o.deposit:
		return fail(ErrNotDeposit, "不是押金订单")
	case o.consumed > 0 || o.released:
		return fail(ErrFinished, "押金已完结")
	case p.depositState(o) != DepositFrozen:
		return fail(ErrNotFrozen, "押金未冻结")
	}
	switch op {
	case "consume":
		if r.Amount <= 0 || r.Amount > o.amount {
			return fail(ErrAmountTooLarge, fmt.Sprintf("消费金额须在 1 到 %d 分之间", o.amount))
		}
		o.consumed, o.released = r.Amount, true
	case "unfreeze":
		o.released = true
	default:
		return fail(ErrParamError, "unknown deposit op "+op)
	}
	st.State, st.DepositState, st.Frozen, st.Consumed = RefundSuccess, p.depositState(o), o.amount, o.consumed
	st.Released = o.amount - o.consumed
	p.depositOps[r.OutRequestNo] = st
	return st
}

// DepositQuery answers deposit.query: the outcome of out_request_no, or
// NOTFOUND when it never arrived (the device then sends it again).
func (p *Provider) DepositQuery(dev string, r DepositRequest) DepositStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	if prev, ok := p.depositOps[r.OutRequestNo]; ok {
		prev.Op = "query"
		return prev
	}
	st := DepositStatus{OutTradeNo: r.OutTradeNo, OutRequestNo: r.OutRequestNo, Op: "query", State: DepositNotFound}
	if o, ok := p.orders[r.OutTradeNo]; ok {
		st.DepositState, st.Frozen = p.depositState(o), o.amount
	}
	return st
}
