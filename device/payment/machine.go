package payment

import (
	"cmp"
	"crypto/rand"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/posagent/posagent/audio"
	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/device/exchange"
	"github.com/posagent/posagent/device/orders"
	"github.com/posagent/posagent/wire"
)

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
func applyStatus(p orders.Payment, st wire.PayStatus, pastDeadline bool, pc config.Pay) (orders.Payment, next) {
	if orders.Settled(p.State) {
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
		p.State, p.ErrCode, p.ErrMsg = orders.Failed, st.ErrCode, st.ErrMsg
		return p, finished
	}
	if (st.State == "SUCCESS" || st.State == "REFUND") && st.Amount != 0 && st.Amount != p.Amount {
		// Paid, but not this order's amount: not this attempt's charge as
		// the device made it. A person compares the wallet's record.
		return attention(p, "AMOUNT_MISMATCH", fmt.Sprintf("the provider reports %d fen paid for an order of %d fen", st.Amount, p.Amount)), finished
	}
	if p.State == orders.Reversing {
		return applyReverse(p, st, pc)
	}
	switch {
	case st.State == "SUCCESS" || st.State == "REFUND":
		return paid(p, st), finished
	case class == wire.ClassOrderPaid:
		// Paid under this number before (a resubmit): only a query says by
		// whom and how much; never a new charge.
		p.State = orders.Polling
		return p, query
	case st.ErrCode == "ORDERREVERSED" || st.State == "REVOKED":
		p.State, p.ErrCode, p.ErrMsg = orders.Reversed, cmp.Or(st.ErrCode, "ORDERREVERSED"), st.ErrMsg
		return p, finished
	case class == wire.ClassDefinite || st.State == "CLOSED":
		p.ErrCode, p.ErrMsg = cmp.Or(st.ErrCode, st.State), st.ErrMsg
		if st.State == "PAYERROR" && !p.NoReverse {
			// Declined, but WeChat leaves a PAYERROR order open: close it
			// by reverse (its reference: "支付交易返回失败 … 调用该接口撤销
			// 交易"), so a late confirmation can never charge. The reason
			// is said now; the cashier need not wait for the reverse.
			p.NeedReverse = true
			p.State = orders.Polling
			return p, idle
		}
		p.State = orders.Failed
		return p, finished
	case st.State == "PAYERROR" || class == wire.ClassNotFound || st.State == "FAILED":
		// Not paid, but the order may still be open at the provider:
		// close it by reverse so a late submit can never charge.
		if !p.NoReverse {
			p.NeedReverse = true
		}
		p.ErrCode, p.ErrMsg = cmp.Or(st.ErrCode, st.State), st.ErrMsg
		p.State = orders.Polling
		return p, idle
	}
	// USERPAYING, NOTPAY, SYSTEMERROR, BANKERROR, UNKNOWN…: still open.
	if pastDeadline && !p.NoReverse {
		p.NeedReverse = true
	}
	if p.State != orders.Unknown || !p.NoReverse {
		p.State = orders.Polling
	}
	return p, idle
}

// applyReverse moves a payment being reversed by one answer. Only a
// reverse's answers decide, except REVOKED, which ends the reverse
// whatever request it answers: a late SUCCESS from an earlier query
// would be undone by the reverse and is not a sale.
func applyReverse(p orders.Payment, st wire.PayStatus, pc config.Pay) (orders.Payment, next) {
	if st.State == "REVOKED" || st.ErrCode == "ORDERREVERSED" {
		p.State = orders.Reversed
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
		p.State = orders.Reversed
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
func attention(p orders.Payment, code, msg string) orders.Payment {
	p.State, p.ErrCode, p.ErrMsg = orders.Attention, code, msg
	return p
}

func paid(p orders.Payment, st wire.PayStatus) orders.Payment {
	p.State, p.TransactionID, p.PaidAt = orders.Paid, st.TransactionID, st.PaidAt
	p.ErrCode, p.ErrMsg = "", ""
	if st.Wallet != "" {
		p.Wallet = st.Wallet
	}
	return p
}

// tick moves p when its timer fires with no answer. now and the timings
// decide between polling on, reversing and UNKNOWN.
func tick(p orders.Payment, now time.Time, pc config.Pay) (orders.Payment, next) {
	if orders.Settled(p.State) {
		return p, finished
	}
	if p.State == orders.Reversing {
		return p, reverse
	}
	sub := time.UnixMilli(p.SubmittedAt)
	deadline := sub.Add(config.MS(pc.PollTimeoutMS))
	reverseOK := !now.Before(sub.Add(config.MS(pc.ReverseAfterMS)))
	switch {
	case p.NoReverse:
		if !now.Before(deadline) {
			p.State = orders.Unknown
		}
		return p, query
	case p.NeedReverse && reverseOK:
		p.State = orders.Reversing
		return p, reverse
	case !now.Before(deadline):
		if !p.Answered {
			// Nobody has answered since the submit: the link or the
			// platform is down. Reversing blind is pointless (it would not
			// arrive either); keep asking and say 结果待确认.
			p.State = orders.Unknown
			return p, query
		}
		p.State = orders.Reversing
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

// FailedWords is what a failed payment says: 支付失败 and its reason — the
// voice pack's own for the code, else the provider table's
// (wire.PayCodes, every reason of which the default pack can say).
func FailedWords(code string) string {
	if audio.FailureReason(code) == "" {
		if info, ok := wire.ClassifyPay(code); ok && info.Reason != "" {
			return audio.PhrasePayFailed + "，" + info.Reason
		}
	}
	return audio.PaymentFailed(code)
}

// ScanClass names what a scanned line looks like, for the log, without
// what it says: digits (a payment code's shape), aim (a scanner's ]Xn
// symbology prefix), order (this agent's order-number shape) or text.
func ScanClass(line string) string {
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
