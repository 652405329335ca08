package device

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/device/orders"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/platform"
	"github.com/posagent/posagent/printer"
)

// A deposit's money leaves once: a frozen deposit is not refunded as a
// sale; after a consume only the consumed part is refundable; unfreeze only
// before a consume. Checked on the simulator's ledger too.
func TestDepositMoneyLeavesOnce(t *testing.T) {
	r := newPayRig(t)
	sim := r.withSim(platform.Faults{})
	r.start()
	r.shift("s1", "前台", true, false)
	no := r.deposit(50000, "134567890123450101")
	var e apiError
	if st := r.api("POST", "/v1/payments/"+no+"/refund", map[string]any{"amount": 50000, "staff_id": "s1", "pin": testPIN}, &e); st != http.StatusConflict || !strings.Contains(e.Error.Message, "consumed part") {
		t.Fatalf("refund of a frozen deposit: %d %+v", st, e)
	}
	var op DepositOp
	if st := r.api("POST", "/v1/deposits/"+no+"/consume", map[string]any{"amount": 10000, "staff_id": "s1", "pin": testPIN}, &op); st != http.StatusAccepted {
		t.Fatalf("consume: %d", st)
	}
	r.waitDeposit(no, DepositConsumed)
	if st := r.api("POST", "/v1/payments/"+no+"/refund", map[string]any{"amount": 50000, "staff_id": "s1", "pin": testPIN}, &e); st != http.StatusBadRequest || !strings.Contains(e.Error.Message, "1..10000") {
		t.Fatalf("refund of more than was consumed: %d %+v", st, e)
	}
	if st := r.api("POST", "/v1/deposits/"+no+"/unfreeze", map[string]any{"staff_id": "s1", "pin": testPIN}, &e); st != http.StatusConflict {
		t.Fatalf("unfreeze after a consume: %d", st)
	}
	var ref Refund
	if st := r.api("POST", "/v1/payments/"+no+"/refund", map[string]any{"amount": 10000, "staff_id": "s1", "pin": testPIN}, &ref); st != http.StatusAccepted {
		t.Fatalf("refund of the consumed part: %d", st)
	}
	waitTrue(t, 10*time.Second, func() bool {
		var cur Refund
		r.api("GET", "/v1/refunds/"+ref.OutRefundNo, nil, &cur)
		return cur.State == RefundSuccess
	})
	if st := r.api("POST", "/v1/payments/"+no+"/refund", map[string]any{"amount": 1, "staff_id": "s1", "pin": testPIN}, &e); st != http.StatusBadRequest {
		t.Fatalf("refund past the consumed part: %d", st)
	}
	le, _ := sim.Provider.Entry(no)
	if le.Consumed != 10000 || !le.Released || le.Refunded != 10000 {
		t.Fatalf("ledger %+v", le)
	}
	// What the guest got back: the release (40000) and the refund (10000),
	// never more than was frozen.
	if back := (le.Amount - le.Consumed) + le.Refunded; back > le.Amount {
		t.Fatalf("returned %d of a %d deposit", back, le.Amount)
	}
}

// 补单 completes only this device's own orders: another device's paid
// order, or a number this device never made, says 未找到订单 and sends
// nothing; an own order the platform reports paid is completed once; an
// own order refunded in full says 订单已退款 and is never a new sale.
func TestLookupOnlyOwnOrders(t *testing.T) {
	r := newPayRig(t)
	sim := r.withSim(platform.Faults{})
	r.start()

	if st := sim.Provider.Submit("dev-other", platform.PaySubmit{OutTradeNo: "BD-OTHER-1", AuthCode: "134567890123452222", Amount: 3300, Wallet: "wechat"}); st.State != "SUCCESS" {
		t.Fatalf("setup: %+v", st)
	}
	r.scans <- "BD-OTHER-1"
	waitTrue(t, 10*time.Second, func() bool { return strings.Contains(r.logs.String(), "text=未找到订单") })
	if _, err := r.agent.pays.Load("BD-OTHER-1"); err != ErrNotFound {
		t.Fatalf("another device's order was recorded: %v", err)
	}
	if n := sim.Counts()["order.lookup"]; n != 0 {
		t.Fatalf("%d order.lookup sent for a number this device never made", n)
	}

	// An own order the device ended FAILED that the provider did charge.
	now := time.Now().UnixMilli()
	own := Payment{OutTradeNo: "P-OWN-1", Amount: 4400, Source: "api", State: Failed, Wallet: "wechat", ErrCode: "SYSTEMERROR",
		CreatedAt: now, SubmittedAt: now, UpdatedAt: now}
	if err := r.agent.j.Update(func(tx *journal.Tx) error { return orders.Put(tx, own) }); err != nil {
		t.Fatal(err)
	}
	if st := sim.Provider.Submit(devID, platform.PaySubmit{OutTradeNo: "P-OWN-1", AuthCode: "134567890123453333", Amount: 4400, Wallet: "wechat"}); st.State != "SUCCESS" {
		t.Fatalf("setup: %+v", st)
	}
	r.scans <- "P-OWN-1"
	v := r.waitPayment("P-OWN-1", 15*time.Second, func(v View) bool { return v.State == Paid })
	if v.TransactionID == "" || v.ConfirmedAt == 0 {
		t.Fatalf("%+v", v)
	}
	waitTrue(t, 15*time.Second, func() bool { return r.announced("P-OWN-1") })
	r.scans <- "P-OWN-1"
	waitTrue(t, 10*time.Second, func() bool { return strings.Count(r.logs.String(), "text=支付成功") >= 1 })
	if w := r.wavs(); countPrefix(w, "P-OWN-1") != 1 {
		t.Fatalf("announcements %v", w)
	}

	// Paid and refunded in full: said for what it is.
	r.shift("s1", "前台", true, false)
	var ref Refund
	if st := r.api("POST", "/v1/payments/P-OWN-1/refund", map[string]any{"amount": 4400, "staff_id": "s1", "pin": testPIN}, &ref); st != http.StatusAccepted {
		t.Fatalf("refund: %d", st)
	}
	waitTrue(t, 10*time.Second, func() bool { p, _ := r.agent.pays.Load("P-OWN-1"); return p.Refunded == 4400 })
	r.scans <- "P-OWN-1"
	waitTrue(t, 10*time.Second, func() bool { return strings.Contains(r.logs.String(), "text=订单已退款") })
	if w := r.wavs(); countPrefix(w, "P-OWN-1") != 1 {
		t.Fatalf("a refunded order announced again: %v", w)
	}
	if le, _ := sim.Provider.Entry("P-OWN-1"); le.Charges != 1 || le.Refunded != 4400 {
		t.Fatalf("ledger %+v", le)
	}
}

// While a payment is UNKNOWN the customer may have been charged: a new
// payment needs the cashier's explicit word, and the refusal says which.
func TestNewPaymentWhileUnknownNeedsConfirmation(t *testing.T) {
	r := newPayRig(t)
	sim := r.withSim(platform.Faults{Drop: 1})
	r.start()
	v := r.pay(12850, "134567890123450202", 10*time.Second, func(v View) bool { return v.State == Unknown })
	var e struct {
		Error struct {
			Code    string        `json:"code"`
			Message string        `json:"message"`
			Open    []openPayment `json:"open"`
		} `json:"error"`
	}
	if st := r.api("POST", "/v1/payments", map[string]any{"amount": 12850}, &e); st != http.StatusConflict || e.Error.Code != "unconfirmed_payment" ||
		len(e.Error.Open) != 1 || e.Error.Open[0].OutTradeNo != v.OutTradeNo || !strings.Contains(e.Error.Message, "128.50") {
		t.Fatalf("new payment while one is unknown: %d %+v", st, e)
	}
	var nv View
	if st := r.api("POST", "/v1/payments", map[string]any{"amount": 12850, "confirm_unknown": true}, &nv); st != http.StatusCreated || nv.OutTradeNo == v.OutTradeNo {
		t.Fatalf("confirmed new payment: %d %+v", st, nv)
	}
	// Still open after a restart (the journal says so); gone once settled.
	r.stop()
	r.start()
	if st := r.api("POST", "/v1/payments", map[string]any{"amount": 100}, &e); st != http.StatusConflict || len(e.Error.Open) != 1 {
		t.Fatalf("after a restart: %d %+v", st, e)
	}
	sim.SetFaults(platform.Faults{})
	r.waitPayment(v.OutTradeNo, 10*time.Second, func(v View) bool { return v.State == Paid })
	var v3 View
	if st := r.api("POST", "/v1/payments", map[string]any{"amount": 100}, &v3); st != http.StatusCreated {
		t.Fatalf("once settled: %d", st)
	}
}

// Every figure of the day summary adds up, and matches the ledger: count
// and amount hold payments and deposit consumption alike, the wallets add
// up to them, received = settled − refunded, deposits frozen, consumed and
// released apart, and released money is never income.
func TestDaySummaryAddsUp(t *testing.T) {
	r := newPayRig(t)
	sim := r.withSim(platform.Faults{})
	r.start()
	r.shift("s1", "前台", true, false)
	p1 := r.pay(12850, "134567890123450401", 10*time.Second, nil)
	r.pay(2600, "281234567890120402", 10*time.Second, nil) // alipay
	r.pay(1004, "134567890123450403", 10*time.Second, nil) // NOTENOUGH: not counted
	d1 := r.deposit(50000, "134567890123450404")
	d2 := r.deposit(20000, "281234567890120405")
	r.api("POST", "/v1/deposits/"+d1+"/consume", map[string]any{"amount": 30000, "staff_id": "s1", "pin": testPIN}, nil)
	r.api("POST", "/v1/deposits/"+d2+"/unfreeze", map[string]any{"staff_id": "s1", "pin": testPIN}, nil)
	r.waitDeposit(d1, DepositConsumed)
	r.waitDeposit(d2, DepositReleased)
	ref := r.refund(p1.OutTradeNo, 850)
	r.waitRefund(ref.OutRefundNo, func(x Refund) bool { return x.State == RefundSuccess })

	// The summary as the API gives it: times in Unix seconds.
	var s struct {
		printer.TransactionSummary
		From    int64 `json:"from"`
		To      int64 `json:"to"`
		Printed int64 `json:"printed"`
	}
	from, to := time.Now().Add(-time.Hour).Unix(), time.Now().Add(time.Hour).Unix()
	q := fmt.Sprintf("/v1/summary?from=%d&to=%d", from, to)
	if st := r.api("GET", q, nil, &s); st != http.StatusOK {
		t.Fatalf("summary: %d", st)
	}
	if s.From != from || s.To != to || s.Printed < from {
		t.Fatalf("summary times %d %d %d, want %d %d and now", s.From, s.To, s.Printed, from, to)
	}
	var wc int
	var wa int64
	for _, w := range s.ByWallet {
		wc += w.Count
		wa += w.Amount
	}
	if s.Count != 3 || s.Amount != 12850+2600+30000 || wc != s.Count || wa != s.Amount {
		t.Fatalf("count %d amount %d, wallets %d / %d: %+v", s.Count, s.Amount, wc, wa, s)
	}
	if s.RefundCount != 1 || s.Refunded != 850 || s.Received() != s.Settled-s.Refunded || s.Received() != 12850+2600+30000-850 {
		t.Fatalf("refunds %+v", s)
	}
	if s.FrozenCount != 2 || s.FrozenAmount != 70000 || s.ConsumeCount != 1 || s.ConsumeAmount != 30000 ||
		s.ReleasedCount != 2 || s.ReleasedAmount != 20000+20000 {
		t.Fatalf("deposits %+v", s)
	}
	// The ledger: what customers are out of pocket is what was received.
	var net int64
	for _, le := range sim.Ledger() {
		net += le.Net()
	}
	if net != s.Received() {
		t.Fatalf("ledger net %d, received %d", net, s.Received())
	}
}
