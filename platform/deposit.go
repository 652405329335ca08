package platform

import (
	"fmt"
	"time"

	"github.com/posagent/posagent/wire"
)

// Deposit operations (WeChat deposit / Alipay 资金授权), as the provider
// sees them: a deposit is an order submitted with deposit:true, whose money
// is frozen rather than taken; it ends in exactly one final step, consume
// (take part or all, release the rest) or unfreeze (release all) — or, when
// the merchant does neither for DepositReleaseAge, the provider's own
// release (WeChat: "当押金超过一个月未进行处理，会自动执行退款",
// https://pay.weixin.qq.com/doc/v2/partner/4011986623). Only the consumed
// part can be refunded afterwards (申请退款(押金): "在押金已消费的情况下，部分金额已
// 结算给商户的资金退还给用户", https://pay.weixin.qq.com/doc/v2/partner/4011987251).

// Deposit states of an order, like Tencent Cloud Pay's.
const (
	DepositInit       = "INIT"       // submitted, not frozen yet
	DepositWaiting    = "USERPAYING" // waiting for the customer
	DepositFrozen     = "FROZEN"     // frozen: consume or unfreeze may follow
	DepositConsumed   = "CONSUMED"   // final: part or all taken, the rest released
	DepositReleased   = "RELEASED"   // final: all released (unfreeze, or the provider's release)
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

// depositOp is a successful deposit operation, kept for its answer.
type depositOp struct{ st DepositStatus }

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

// depositAmounts are the deposit's frozen amount (what was frozen, 0 if it
// never was), consumed part and released part.
func depositAmounts(o *order) (frozen, consumed, released int64) {
	if o.charges == 0 || o.reversed {
		return 0, 0, 0
	}
	frozen, consumed = o.amount, o.consumed
	if o.released {
		released = o.amount - o.consumed
	}
	return frozen, consumed, released
}

// depositReleaseAge is DepositReleaseAge with its default; 0 means never.
func (p *Provider) depositReleaseAge() time.Duration {
	switch {
	case p.DepositReleaseAge < 0:
		return 0
	case p.DepositReleaseAge == 0:
		return DefaultDepositReleaseAge
	}
	return p.DepositReleaseAge
}

// sweep applies what time did to o: a deposit frozen longer than
// DepositReleaseAge is released, the money back with the customer. It is
// run whenever the order is looked at, so the provider's clock alone
// decides. p.mu is held.
func (p *Provider) sweep(o *order) {
	age := p.depositReleaseAge()
	if age <= 0 || !o.deposit || p.depositState(o) != DepositFrozen {
		return
	}
	if p.Now().Sub(o.paidAt) > age {
		o.released, o.autoReleased = true, true
	}
}

func (p *Provider) sweepAll() {
	for _, o := range p.order {
		p.sweep(o)
	}
}

// Deposit takes deposit.consume (op "consume") or deposit.unfreeze (op
// "unfreeze") from device dev. It is idempotent by out_request_no: the same
// request again answers what the first one did.
func (p *Provider) Deposit(dev, op string, r DepositRequest) DepositStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	if prev, ok := p.depositOps[dev+"\x00"+r.OutRequestNo]; ok {
		return prev.st
	}
	st := DepositStatus{OutTradeNo: r.OutTradeNo, OutRequestNo: r.OutRequestNo, Op: op, State: RefundFail}
	o, ok := p.owned(dev, r.OutTradeNo)
	fail := func(a answer, msg string) DepositStatus {
		if msg == "" {
			msg = a.msg
		}
		st.ErrCode, st.ErrMsg = a.code, msg
		if o != nil {
			st.DepositState = p.depositState(o)
			st.Frozen, st.Consumed, st.Released = depositAmounts(o)
		}
		// Failures are not remembered: the same out_request_no may be sent
		// again once the order allows it (as the real providers do).
		return st
	}
	switch {
	case !ok:
		return fail(depositNotExist.of(""), "")
	case !o.deposit:
		return fail(answer{RefundFail, ErrNotDeposit, "不是押金订单"}, "")
	case o.consumed > 0:
		return fail(depositConsumedAlready.of(o.wallet), "")
	case o.released:
		return fail(depositReleasedAlready.of(o.wallet), "")
	case p.depositState(o) != DepositFrozen:
		return fail(depositNotFrozen.of(o.wallet), "")
	}
	switch op {
	case "consume":
		if r.Amount <= 0 || r.Amount > o.amount {
			return fail(depositAmountTooLarge.of(o.wallet), fmt.Sprintf("消费金额须在 1 到 %d 分之间", o.amount))
		}
		o.consumed, o.released = r.Amount, true
	case "unfreeze":
		o.released = true
	default:
		return fail(answer{RefundFail, ErrParamError, "unknown deposit op " + op}, "")
	}
	st.State, st.DepositState = RefundSuccess, p.depositState(o)
	st.Frozen, st.Consumed, st.Released = depositAmounts(o)
	p.depositOps[dev+"\x00"+r.OutRequestNo] = depositOp{st: st}
	return st
}

// DepositQuery answers deposit.query from device dev. With an
// out_request_no it is the outcome of that operation, or NOTFOUND when it
// never arrived (the device then sends it again). With an empty
// out_request_no it is the deposit's own state (op "query", state SUCCESS,
// deposit_state FROZEN, CONSUMED, RELEASED, ... and the frozen, consumed and
// released amounts), which is how a device learns of the provider's release.
func (p *Provider) DepositQuery(dev string, r DepositRequest) DepositStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	st := DepositStatus{OutTradeNo: r.OutTradeNo, OutRequestNo: r.OutRequestNo, Op: "query"}
	o, ok := p.owned(dev, r.OutTradeNo)
	if r.OutRequestNo == "" {
		switch {
		case !ok:
			st.State, st.ErrCode, st.ErrMsg = RefundFail, ErrOrderNotExist, "订单不存在"
		case !o.deposit:
			st.State, st.ErrCode, st.ErrMsg = RefundFail, ErrNotDeposit, "不是押金订单"
		default:
			st.State, st.DepositState = RefundSuccess, p.depositState(o)
			st.Frozen, st.Consumed, st.Released = depositAmounts(o)
			if o.autoReleased {
				st.ErrMsg = "押金超过期限未处理，已自动解冻退还"
			}
		}
		return st
	}
	if prev, found := p.depositOps[dev+"\x00"+r.OutRequestNo]; found {
		prev.st.Op = "query"
		return prev.st
	}
	st.State = DepositNotFound
	if ok {
		st.DepositState = p.depositState(o)
		st.Frozen, st.Consumed, st.Released = depositAmounts(o)
	}
	return st
}
