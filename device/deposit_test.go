package device

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/platform"
	"github.com/posagent/posagent/printer"
)

// deposit freezes amount through the closed loop and returns its number.
func (r *rig) deposit(amount int64, code string) string {
	r.t.Helper()
	var v View
	if st := r.api("POST", "/v1/payments", map[string]any{"amount": amount, "deposit": true}, &v); st != http.StatusCreated {
		r.t.Fatalf("start deposit: %d", st)
	}
	r.scans <- code
	v = r.waitPayment(v.OutTradeNo, 10*time.Second, func(v View) bool { return Terminal(v.State) })
	if v.State != Paid || v.DepositState != DepositFrozen {
		r.t.Fatalf("deposit ended %s/%s", v.State, v.DepositState)
	}
	return v.OutTradeNo
}

func (r *rig) waitDeposit(no string, state string) DepositView {
	r.t.Helper()
	var d DepositView
	waitTrue(r.t.(*testing.T), 10*time.Second, func() bool {
		r.api("GET", "/v1/deposits/"+no, nil, &d)
		return d.State == state
	})
	return d
}

func TestDepositConsumeReleasesTheRest(t *testing.T) {
	r := newPayRig(t)
	sim := r.withSim(platform.Faults{})
	r.start()
	r.shift("s1", "前台", true, false)
	no := r.deposit(50000, "134567890123454444")
	waitTrue(t, 15*time.Second, func() bool { return r.announced(no) })

	var list []DepositView
	r.api("GET", "/v1/deposits?state=frozen", nil, &list)
	if len(list) != 1 || list[0].OutTradeNo != no || list[0].Amount != 50000 {
		t.Fatalf("frozen list %+v", list)
	}
	var e apiError
	if st := r.api("POST", "/v1/deposits/"+no+"/consume", map[string]any{"amount": 50001, "staff_id": "s1", "pin": testPIN}, &e); st != http.StatusBadRequest {
		t.Fatalf("consume larger than the deposit: %d %+v", st, e)
	}
	var op DepositOp
	if st := r.api("POST", "/v1/deposits/"+no+"/consume", map[string]any{"amount": 32000, "staff_id": "s1", "pin": testPIN}, &op); st != http.StatusAccepted {
		t.Fatalf("consume: %d", st)
	}
	d := r.waitDeposit(no, DepositConsumed)
	if d.Consumed != 32000 || d.Released != 18000 || len(d.Ops) != 1 || d.Ops[0].State != OpSuccess {
		t.Fatalf("after consume %+v", d)
	}
	if st := r.api("POST", "/v1/deposits/"+no+"/unfreeze", map[string]any{"staff_id": "s1", "pin": testPIN}, &e); st != http.StatusConflict {
		t.Fatalf("unfreeze after consume: %d %+v", st, e)
	}
	le, _ := sim.Provider.Entry(no)
	if le.Consumed != 32000 || !le.Released {
		t.Fatalf("ledger %+v", le)
	}
	waitTrue(t, 15*time.Second, func() bool { return r.announced(op.OutRequestNo) })
}

func TestDepositUnfreezeAndRights(t *testing.T) {
	r := newPayRig(t)
	sim := r.withSim(platform.Faults{})
	r.start()
	r.shift("s1", "前台", false, false)
	no := r.deposit(20000, "134567890123455555")
	var e apiError
	if st := r.api("POST", "/v1/deposits/"+no+"/unfreeze", map[string]any{"staff_id": "s1", "pin": testPIN}, &e); st != http.StatusForbidden {
		t.Fatalf("unfreeze without the refund right: %d", st)
	}
	r.shift("s2", "领班", true, false)
	if st := r.api("POST", "/v1/deposits/"+no+"/unfreeze", map[string]any{"staff_id": "s2", "pin": testPIN}, nil); st != http.StatusAccepted {
		t.Fatalf("unfreeze: %d", st)
	}
	d := r.waitDeposit(no, DepositReleased)
	if d.Released != 20000 || d.Consumed != 0 {
		t.Fatalf("%+v", d)
	}
	if le, _ := sim.Provider.Entry(no); !le.Released || le.Consumed != 0 {
		t.Fatalf("ledger %+v", le)
	}
	if st := r.api("POST", "/v1/deposits/"+no+"/consume", map[string]any{"amount": 1, "staff_id": "s2", "pin": testPIN}, &e); st != http.StatusConflict {
		t.Fatalf("consume after unfreeze: %d", st)
	}
}

// The consume's answer is lost: the device asks deposit.query and settles
// from that, consuming once.
func TestDepositLostAnswerResolvedByQuery(t *testing.T) {
	r := newPayRig(t)
	sim := r.withSim(platform.Faults{})
	r.start()
	r.shift("s1", "前台", true, false)
	no := r.deposit(30000, "134567890123456666")
	sim.SetFaults(platform.Faults{Drop: 0.6, Seed: 3})
	r.api("POST", "/v1/deposits/"+no+"/consume", map[string]any{"amount": 10000, "staff_id": "s1", "pin": testPIN}, nil)
	d := r.waitDeposit(no, DepositConsumed)
	if d.Consumed != 10000 {
		t.Fatalf("%+v", d)
	}
	if c := sim.Counts(); c["deposit.query"]+c["deposit.consume"] < 2 {
		t.Logf("counts %v (the drops may have spared the first answer)", c)
	}
	if le, _ := sim.Provider.Entry(no); le.Consumed != 10000 {
		t.Fatalf("ledger %+v", le)
	}
}

// The handover summary adds up the shift to the fen, and matches the
// simulator's ledger.
func TestShiftSummaryMatchesLedger(t *testing.T) {
	r := newPayRig(t)
	sim := r.withSim(platform.Faults{})
	r.start()
	r.shift("s9", "张三", true, false)
	paid := r.pay(12850, "134567890123457001", 10*time.Second, nil)
	r.pay(2599, "281234567890123456", 10*time.Second, nil) // alipay
	r.pay(1004, "134567890123457003", 10*time.Second, nil) // NOTENOUGH: not counted
	dep := r.deposit(40000, "134567890123457004")
	var ref Refund
	r.api("POST", "/v1/payments/"+paid.OutTradeNo+"/refund", map[string]any{"amount": 850, "staff_id": "s9", "pin": testPIN}, &ref)
	waitTrue(t, 10*time.Second, func() bool {
		var cur Refund
		r.api("GET", "/v1/refunds/"+ref.OutRefundNo, nil, &cur)
		return cur.State == RefundSuccess
	})
	r.api("POST", "/v1/deposits/"+dep+"/consume", map[string]any{"amount": 30000, "staff_id": "s9", "pin": testPIN}, nil)
	r.waitDeposit(dep, DepositConsumed)

	var sum map[string]any
	if st := r.api("POST", "/v1/shift/end", map[string]any{"staff_id": "s9", "pin": testPIN}, &sum); st != http.StatusOK {
		t.Fatalf("shift end: %d %v", st, sum)
	}
	// From the ledger: payments kept, refunds, deposits consumed.
	var payFen, refundFen, consumeFen int64
	for _, le := range sim.Ledger() {
		switch {
		case le.Deposit:
			consumeFen += le.Consumed
		case le.Charged && !le.Reversed:
			payFen += le.Amount
			refundFen += le.Refunded
		}
	}
	num := func(k string) int64 { f, _ := sum[k].(float64); return int64(f) }
	if num("pay_amount") != payFen || num("pay_count") != 2 || num("refund_amount") != refundFen ||
		num("consume_amount") != consumeFen || num("deposit_amount") != 40000 || num("net") != payFen-refundFen+consumeFen {
		t.Fatalf("summary %v; ledger pay %d refund %d consume %d", sum, payFen, refundFen, consumeFen)
	}
	if payFen != 12850+2599 || refundFen != 850 || consumeFen != 30000 {
		t.Fatalf("ledger pay %d refund %d consume %d", payFen, refundFen, consumeFen)
	}
	var e apiError
	if st := r.api("GET", "/v1/shift/summary", nil, &e); st != http.StatusNotFound {
		t.Fatalf("summary with no shift: %d", st)
	}
	// The handover slip is printed, with the net to the fen.
	waitTrue(t, 10*time.Second, func() bool {
		r.printer.mu.Lock()
		defer r.printer.mu.Unlock()
		for _, j := range r.printer.jobs {
			doc, _ := printer.Decode(j)
			if txt := doc.Text(); strings.Contains(txt, "交接班汇总") && strings.Contains(txt, printer.FormatAmount(payFen-refundFen+consumeFen)) {
				return true
			}
		}
		return false
	})
}
