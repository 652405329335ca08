package device

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/device/orders"
	"github.com/posagent/posagent/platform"
)

// A platform built to protocol §4 sends no op: the device takes the type of
// the request the answer's ref names, so a reverse still ends REVERSED
// instead of waiting in REVERSING for an op that never comes.
func TestReverseAnsweredWithoutOp(t *testing.T) {
	r := newPayRig(t)
	sim := r.withSimOf(func(s *platform.Sim) { s.OmitOp = true })
	r.start()
	v := r.pay(10002, "134567890123450302", 10*time.Second, nil) // USERPAYING until reversed
	if v.State != Reversed {
		t.Fatalf("ended %s %s", v.State, v.ErrCode)
	}
	if e, _ := sim.Provider.Entry(v.OutTradeNo); e.Charged && !e.Reversed {
		t.Fatalf("ledger %+v", e)
	}
}

// A reverse the provider can no longer make (WeChat REVERSE_EXPIRE) asks a
// person, once: said 需人工处理, sent as pay.progress ATTENTION, and no loop
// of reverses. 补单 then settles it by the platform's word.
func TestReverseExpireAsksAPerson(t *testing.T) {
	r := newPayRig(t)
	sim := r.withSimOf(func(s *platform.Sim) {
		s.Provider = &platform.Provider{ReverseWindow: time.Nanosecond}
	})
	r.start()
	v := r.pay(10002, "134567890123450303", 10*time.Second, func(v View) bool { return Settled(v.State) })
	if v.State != Attention || v.ErrCode != "REVERSE_EXPIRE" || !v.DoNotTakeCash || !strings.Contains(v.Message, "人工") {
		t.Fatalf("ended %+v", v)
	}
	for {
		m := r.waitFor("pay.progress", 10*time.Second)
		if b := body[map[string]string](t, m); b["state"] == Attention {
			if b["err_code"] != "REVERSE_EXPIRE" {
				t.Fatalf("pay.progress %s", m.Body)
			}
			break
		}
	}
	waitTrue(t, 10*time.Second, func() bool { return strings.Contains(r.logs.String(), "text=需人工处理") })
	n := sim.Counts()["pay.reverse"]
	time.Sleep(300 * time.Millisecond) // fifteen poll intervals
	if after := sim.Counts()["pay.reverse"]; n != 1 || after != n {
		t.Fatalf("reverses: %d, then %d", n, after)
	}
	// The customer's wallet shows nothing paid: 补单 asks, and the order
	// stays with the person (not a sale, not failed by the device alone).
	r.scans <- v.OutTradeNo
	waitTrue(t, 10*time.Second, func() bool { return sim.Counts()["order.lookup"] == 1 })
	if p, _ := r.agent.pays.Load(v.OutTradeNo); p.State != Attention || r.announced(v.OutTradeNo) {
		t.Fatalf("after 补单 %+v", p)
	}
}

// An answer that reports another amount paid is not this attempt's charge
// as the device made it: ATTENTION, never PAID, never announced.
func TestAmountMismatchAsksAPerson(t *testing.T) {
	r := newPayRig(t)
	r.cfg.Pay.PollTimeoutMS = 30000 // polling still when the answer comes, however loaded the machine
	r.withSim(platform.Faults{})
	r.start()
	v := r.pay(10002, "134567890123450304", 10*time.Second, func(v View) bool { return v.State == Polling })
	r.send("pay.status", map[string]any{"out_trade_no": v.OutTradeNo, "state": "SUCCESS", "amount": 1, "transaction_id": "4200X"})
	v = r.waitPayment(v.OutTradeNo, 10*time.Second, func(v View) bool { return Settled(v.State) })
	if v.State != Attention || v.ErrCode != "AMOUNT_MISMATCH" || v.TransactionID != "" {
		t.Fatalf("%+v", v)
	}
	time.Sleep(100 * time.Millisecond)
	if r.announced(v.OutTradeNo) {
		t.Fatal("announced as paid")
	}
}

// Alipay declines are said at once with their reason, not polled for the
// whole timeout and reversed as 支付失败 with no reason.
func TestAlipayDeclineSaidWithReason(t *testing.T) {
	r := newPayRig(t)
	sim := r.withSim(platform.Faults{})
	r.start()
	v := r.pay(10004, "281234567890120004", 10*time.Second, nil)
	if v.State != Failed || v.ErrCode != "ACQ.BUYER_BALANCE_NOT_ENOUGH" {
		t.Fatalf("ended %s %s", v.State, v.ErrCode)
	}
	waitTrue(t, 10*time.Second, func() bool { return strings.Contains(r.logs.String(), "text=支付失败，余额不足") })
	if c := sim.Counts(); c["pay.query"] != 0 || c["pay.reverse"] != 0 {
		t.Fatalf("a definite decline was polled or reversed: %v", c)
	}
}

// refundRig is a paid order of amount and a clerk with the refund right.
func refundRig(t *testing.T, configure func(*platform.Sim), amount int64, code string) (*rig, *platform.Sim, string) {
	r := newPayRig(t)
	sim := r.withSimOf(configure)
	r.start()
	v := r.pay(amount, code, 10*time.Second, nil)
	if v.State != Paid {
		t.Fatalf("payment %s", v.State)
	}
	r.shift("s1", "前台", true, false)
	return r, sim, v.OutTradeNo
}

func (r *rig) refund(no string, amount int64) Refund {
	r.t.Helper()
	var ref Refund
	if st := r.api("POST", "/v1/payments/"+no+"/refund", map[string]any{"amount": amount, "staff_id": "s1", "pin": testPIN}, &ref); st != http.StatusAccepted {
		r.t.Fatalf("refund: %d", st)
	}
	return ref
}

func (r *rig) waitRefund(no string, done func(Refund) bool) Refund {
	r.t.Helper()
	var cur Refund
	waitTrue(r.t.(*testing.T), 10*time.Second, func() bool {
		r.api("GET", "/v1/refunds/"+no, nil, &cur)
		return done(cur)
	})
	return cur
}

// The refund is made but its answer says SYSTEMERROR: the device asks again
// with the same out_refund_no, and the customer is refunded once.
func TestRefundSystemErrorRefundedOnce(t *testing.T) {
	r, sim, no := refundRig(t, func(s *platform.Sim) {}, 10000, "134567890123450305")
	sim.ScriptRefund("", platform.OutcomeRefundSystemError)
	ref := r.refund(no, 10000)
	got := r.waitRefund(ref.OutRefundNo, func(x Refund) bool { return orders.RefundFinal(x.State) })
	if got.State != RefundSuccess || got.OutRefundNo != ref.OutRefundNo {
		t.Fatalf("%+v", got)
	}
	le, _ := sim.Provider.Entry(no)
	if le.Refunded != 10000 || le.DoubleRefunds != 0 || len(le.Refunds) != 1 {
		t.Fatalf("ledger %+v", le)
	}
	if v := sim.Check(); len(v) != 0 {
		t.Fatalf("provider invariants: %v", v)
	}
	waitTrue(t, 15*time.Second, func() bool { return r.announced(ref.OutRefundNo) })
}

// A refund answered PROCESSING is followed by refund.query to SUCCESS; one
// that ends ABNORMAL (WeChat CHANGE) asks a person and still counts
// against what is left, so it is never refunded twice by a new number.
func TestRefundProcessingAndAbnormal(t *testing.T) {
	r, sim, no := refundRig(t, func(s *platform.Sim) {}, 10000, "134567890123450306")
	sim.ScriptRefund("", platform.OutcomeRefundProcessing)
	ref := r.refund(no, 3000)
	if got := r.waitRefund(ref.OutRefundNo, func(x Refund) bool { return orders.RefundFinal(x.State) }); got.State != RefundSuccess {
		t.Fatalf("%+v", got)
	}
	if n := sim.Counts()["refund.query"]; n < 1 {
		t.Fatalf("%d refund.query sent", n)
	}
	sim.ScriptRefund("", platform.OutcomeRefundAbnormal)
	ab := r.refund(no, 7000)
	if got := r.waitRefund(ab.OutRefundNo, func(x Refund) bool { return orders.RefundFinal(x.State) }); got.State != RefundAttention {
		t.Fatalf("%+v", got)
	}
	waitTrue(t, 10*time.Second, func() bool { return strings.Contains(r.logs.String(), "text=需人工处理") })
	var e apiError
	if st := r.api("POST", "/v1/payments/"+no+"/refund", map[string]any{"amount": 1, "staff_id": "s1", "pin": testPIN}, &e); st != http.StatusBadRequest {
		t.Fatalf("refund past an abnormal one: %d %+v", st, e)
	}
	if r.announced(ab.OutRefundNo) {
		t.Fatal("an abnormal refund was announced as made")
	}
	if le, _ := sim.Provider.Entry(no); le.Refunded != 3000 {
		t.Fatalf("ledger %+v", le)
	}
}

// A payment UNKNOWN at a handover and paid later belongs to the shift in
// which it was confirmed, and the two windows do not overlap.
func TestPaymentBelongsToShiftOfConfirmation(t *testing.T) {
	r := newPayRig(t)
	sim := r.withSim(platform.Faults{Drop: 1})
	r.start()
	r.shift("a1", "早班", false, false)
	v := r.pay(10000, "134567890123450307", 10*time.Second, func(v View) bool { return v.State == Unknown })
	m := r.send("shift.start", map[string]any{"staff_id": "b1", "staff_name": "晚班"})
	_ = m
	sumA := r.waitFor("shift.summary", 10*time.Second)
	sim.SetFaults(platform.Faults{})
	r.waitPayment(v.OutTradeNo, 10*time.Second, func(v View) bool { return v.State == Paid })
	var sumB struct {
		PayCount  int   `json:"pay_count"`
		PayAmount int64 `json:"pay_amount"`
		Start     int64 `json:"start"`
		StartMS   int64 `json:"start_ms"`
	}
	r.api("GET", "/v1/shift/summary", nil, &sumB)
	a := body[map[string]any](t, sumA)
	if a["pay_count"].(float64) != 0 || sumB.PayCount != 1 || sumB.PayAmount != 10000 {
		t.Fatalf("shift A %v, shift B %+v", a, sumB)
	}
	// Times are Unix seconds, as the contract has them; the milliseconds
	// beside them show the windows meet without overlapping.
	if end, ok := a["end"].(float64); !ok || int64(end) != int64(a["end_ms"].(float64))/1000 || sumB.Start != sumB.StartMS/1000 {
		t.Fatalf("shift A end %v (%v ms), shift B start %d (%d ms)", a["end"], a["end_ms"], sumB.Start, sumB.StartMS)
	}
	if endA := int64(a["end_ms"].(float64)); sumB.StartMS < endA {
		t.Fatalf("shift B starts %d ms, before shift A ends %d ms", sumB.StartMS, endA)
	}
}

// A deposit left frozen past the provider's auto-release age (WeChat: a
// month) is released by the provider; the device asks on connect and shows
// it RELEASED instead of FROZEN forever, and the release is no income.
func TestDepositAutoReleaseShown(t *testing.T) {
	r := newPayRig(t)
	sim := r.withSimOf(func(s *platform.Sim) {
		s.Provider = &platform.Provider{DepositReleaseAge: 200 * time.Millisecond}
	})
	r.start()
	r.shift("s1", "前台", true, false)
	no := r.deposit(30000, "134567890123450308")
	time.Sleep(300 * time.Millisecond) // past the provider's age
	r.stop()
	r.cfg.Pay.DepositReleaseAfterMS = 250
	r.start() // asks on connect
	d := r.waitDeposit(no, DepositReleased)
	if d.Released != 30000 || d.Consumed != 0 {
		t.Fatalf("%+v", d)
	}
	if le, _ := sim.Provider.Entry(no); !le.AutoReleased || le.ReleasedFen != 30000 {
		t.Fatalf("ledger %+v", le)
	}
	sum, err := r.agent.TransactionSummary(time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil || sum.Amount != 0 || sum.Count != 0 {
		t.Fatalf("release counted as income: %+v %v", sum, err)
	}
	var e apiError
	if st := r.api("POST", "/v1/deposits/"+no+"/consume", map[string]any{"amount": 1, "staff_id": "s1", "pin": testPIN}, &e); st != http.StatusConflict {
		t.Fatalf("consume of a released deposit: %d", st)
	}
}
