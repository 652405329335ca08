package platform

import (
	"fmt"
	"time"

	"github.com/posagent/posagent/wire"
)

// Refunds as the providers run them. A refund is made once per
// out_refund_no: the same number again answers the same refund and never
// returns money twice ("一笔退款失败后重新提交，请不要更换退款单号，请使用原商户退款单号",
// WeChat 申请退款, https://pay.weixin.qq.com/wiki/doc/api_external/en/apis/chapter3_3_3.shtml;
// Alipay: "一笔退款失败后重新提交，要保证重试时退款请求号不能变更，防止该笔交易重复退款",
// https://docs.open.alipay.com/api_1/alipay.trade.refund). A new number is a new
// refund, even for money already returned under a number whose answer was
// lost: that double refund is the device's to avoid, and the ledger shows it.
// A request that is refused creates nothing: it is judged again when sent
// again, and refund.query does not know it (REFUNDNOTEXIST).

// RefundQuery is the body of refund.query, the device asking what became of
// a refund it requested (an extension: WeChat's 查询退款 by out_refund_no,
// Alipay's alipay.trade.fastpay.refund.query by out_request_no). It is
// answered by refund.status.
type RefundQuery = wire.RefundQuery

// refund is one accepted out_refund_no.
type refund struct {
	no, outTradeNo, dev string
	amount              int64
	outcome             Outcome
	state               string // PROCESSING, SUCCESS, ABNORMAL, CLOSED
	refundID            string
	queries             int
	// returned counts the times this refund gave money back: never more
	// than once (Check).
	returned int
	// frozen: the order was a deposit not consumed when the refund was
	// accepted (a refund of frozen money: a bug, Check).
	frozen bool
}

// refundHeld is what the order's refunds take from what is left to refund:
// every accepted refund but a closed one (a refund in progress or abnormal
// still holds its amount, as at WeChat). p.mu is held.
func (o *order) refundHeld() int64 {
	var n int64
	for _, rf := range o.refunds {
		if rf.state != RefundClosed {
			n += rf.amount
		}
	}
	return n
}

// refundsCounted is how many refunds count against MaxRefundsPerOrder.
func (o *order) refundsCounted() int {
	n := 0
	for _, rf := range o.refunds {
		if rf.state != RefundClosed {
			n++
		}
	}
	return n
}

// ScriptRefund sets the outcome of the refund outRefundNo, or, with
// outRefundNo "", of the next new refund that has no script of its own
// (calls queue up, first in first out). It takes effect when the refund is
// first accepted. The outcomes are OutcomeSuccess (the default),
// OutcomeRefundProcessing, OutcomeRefundAbnormal, OutcomeRefundClosed and
// OutcomeRefundSystemError; any other succeeds at once.
func (p *Provider) ScriptRefund(outRefundNo string, o Outcome) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	if outRefundNo == "" {
		p.refundNext = append(p.refundNext, o)
		return
	}
	p.refundScripts[outRefundNo] = o
}

// refundWindow is RefundWindow with its default; 0 means no limit.
func (p *Provider) refundWindow() time.Duration {
	switch {
	case p.RefundWindow < 0:
		return 0
	case p.RefundWindow == 0:
		return DefaultRefundWindow
	}
	return p.RefundWindow
}

// Refund takes a refund.request from device dev.
func (p *Provider) Refund(dev string, r RefundRequest) RefundStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	fail := func(a answer, msg string) RefundStatus {
		if msg == "" {
			msg = a.msg
		}
		return RefundStatus{OutRefundNo: r.OutRefundNo, OutTradeNo: r.OutTradeNo, State: a.state,
			ErrCode: a.code, ErrMsg: msg, Amount: r.Amount}
	}
	if rf, ok := p.refunds[r.OutRefundNo]; ok {
		o := p.orders[rf.outTradeNo]
		switch {
		case rf.dev != dev:
			return fail(refundNotExist.of(""), "")
		case rf.outTradeNo != r.OutTradeNo || rf.amount != r.Amount:
			return fail(refundDiscordant.of(o.wallet), "")
		}
		// The same refund again: its state now. A system error's refund was
		// made, so the retry answers SUCCESS and returns nothing more.
		return p.refundStatus(rf)
	}
	if r.OutRefundNo == "" || r.Amount <= 0 {
		return RefundStatus{OutRefundNo: r.OutRefundNo, OutTradeNo: r.OutTradeNo, State: RefundFail,
			ErrCode: ErrInvalidRequest, ErrMsg: "out_refund_no and a positive amount are needed", Amount: r.Amount}
	}
	o, ok := p.owned(dev, r.OutTradeNo)
	if !ok {
		return fail(refundNotExist.of(""), "")
	}
	left := o.amount - o.refundHeld()
	if o.deposit {
		left = o.consumed - o.refundHeld()
	}
	w := p.refundWindow()
	switch {
	case o.charges == 0 || o.reversed:
		return fail(refundStateError.of(o.wallet), "")
	case o.deposit && o.consumed == 0:
		// Frozen (or released) money goes back by unfreeze or by the
		// provider's release, never by a refund as well.
		return fail(refundFrozenDeposit.of(o.wallet), "")
	case w > 0 && p.Now().Sub(o.paidAt) > w:
		return fail(refundOverdue.of(o.wallet), "")
	case o.refundsCounted() >= MaxRefundsPerOrder:
		return fail(refundTooMany.of(o.wallet), "")
	case r.Amount > left:
		return fail(refundExceeded.of(o.wallet), fmt.Sprintf("可退金额 %d 分", left))
	}
	oc, scripted := p.refundScripts[r.OutRefundNo]
	switch {
	case scripted:
		delete(p.refundScripts, r.OutRefundNo)
	case len(p.refundNext) > 0:
		oc, p.refundNext = p.refundNext[0], p.refundNext[1:]
	default:
		oc = OutcomeSuccess
	}
	p.txSeq++
	rf := &refund{no: r.OutRefundNo, outTradeNo: o.outTradeNo, dev: dev, amount: r.Amount, outcome: oc,
		state: RefundProcessing, frozen: o.deposit && o.consumed == 0,
		refundID: fmt.Sprintf("5030%s%016d", p.Now().UTC().Format("20060102"), p.txSeq)}
	p.refunds[rf.no] = rf
	o.refunds = append(o.refunds, rf)
	switch oc {
	case OutcomeRefundProcessing, OutcomeRefundAbnormal, OutcomeRefundClosed:
		return p.refundStatus(rf)
	case OutcomeRefundSystemError:
		p.settle(o, rf, RefundSuccess)
		return fail(refundSystemError.of(o.wallet), "")
	}
	p.settle(o, rf, RefundSuccess)
	return p.refundStatus(rf)
}

// settle ends rf in state; SUCCESS returns the money. p.mu is held.
func (p *Provider) settle(o *order, rf *refund, state string) {
	rf.state = state
	if state == RefundSuccess {
		rf.returned++
		o.refunded += rf.amount
	}
}

// refundStatus is rf as a refund.status body; p.mu is held.
func (p *Provider) refundStatus(rf *refund) RefundStatus {
	st := RefundStatus{OutRefundNo: rf.no, OutTradeNo: rf.outTradeNo, State: rf.state, RefundID: rf.refundID, Amount: rf.amount}
	switch rf.state {
	case RefundProcessing:
		st.ErrMsg = "退款处理中"
	case RefundAbnormal:
		// WeChat CHANGE: "退款异常，退款到银行发现用户的卡作废或者冻结了，导致原路退款银行卡失败，
		// 可前往商户平台（pay.weixin.qq.com）-交易中心，手动处理此笔退款"
		st.ErrMsg = "退款异常：原路退款失败，需在商户平台手动处理"
	case RefundClosed:
		st.ErrMsg = "退款关闭"
	}
	return st
}

// RefundQuery answers refund.query from device dev: the refund's state,
// which a query moves on (a PROCESSING refund ends after RefundQueries
// queries), or NOTFOUND, REFUNDNOTEXIST when that out_refund_no was never
// accepted for this device and order (the device then sends the request
// again, same number).
func (p *Provider) RefundQuery(dev string, q RefundQuery) RefundStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	rf, ok := p.refunds[q.OutRefundNo]
	if !ok || rf.dev != dev || (q.OutTradeNo != "" && q.OutTradeNo != rf.outTradeNo) {
		a := refundQueryNotFound.of("")
		return RefundStatus{OutRefundNo: q.OutRefundNo, OutTradeNo: q.OutTradeNo, State: a.state, ErrCode: a.code, ErrMsg: a.msg}
	}
	o := p.orders[rf.outTradeNo]
	if rf.state == RefundProcessing {
		rf.queries++
		if rf.queries > orDefault(p.RefundQueries, defaultRefundQueries) {
			switch rf.outcome {
			case OutcomeRefundAbnormal:
				p.settle(o, rf, RefundAbnormal)
			case OutcomeRefundClosed:
				p.settle(o, rf, RefundClosed)
			default:
				p.settle(o, rf, RefundSuccess)
			}
		}
	}
	return p.refundStatus(rf)
}
