package device

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/internal/testkit"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/platform"
)

// withSim starts the platform simulator on the rig's broker.
func (r *rig) withSim(f platform.Faults) *platform.Sim {
	r.t.Helper()
	return r.withSimOf(func(s *platform.Sim) { s.Faults = f })
}

// withSimOf starts the simulator set up by configure (its Provider, when
// configure sets one, options and all) before it serves.
func (r *rig) withSimOf(configure func(*platform.Sim)) *platform.Sim {
	r.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cl, err := platform.Dial(ctx, platform.Options{URL: r.broker.URL(), Log: quiet()})
	if err != nil {
		r.t.Fatal(err)
	}
	cl.AddDevice(platform.Device{ID: devID, AuthKey: r.cfg.AuthKeyBytes()})
	sim := &platform.Sim{Client: cl, Log: quiet()}
	configure(sim)
	if err := sim.Start(ctx); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { cancel(); cl.Close() })
	return sim
}

// pay runs one payment through the local API: start, scan, wait terminal
// (or until stop says so).
func (r *rig) pay(amount int64, code string, d time.Duration, stop func(View) bool) View {
	r.t.Helper()
	var v View
	if st := r.api("POST", "/v1/payments", map[string]any{"amount": amount}, &v); st != http.StatusCreated {
		r.t.Fatalf("start payment: %d", st)
	}
	r.scans <- code
	if stop == nil {
		stop = func(v View) bool { return Terminal(v.State) }
	}
	return r.waitPayment(v.OutTradeNo, d, stop)
}

func (r *rig) announced(id string) bool {
	_, err := os.Stat(filepath.Join(r.wavDir, id+".wav"))
	return err == nil
}

// Every row of the provider error table, end to end through a real broker
// and the simulator: the device's final state, the ledger, and the words.
func TestPaymentOutcomes(t *testing.T) {
	r := newPayRig(t)
	sim := r.withSim(platform.Faults{})
	r.start()
	tests := []struct {
		name    string
		amount  int64
		state   string
		errCode string
		charged bool
	}{
		{"success", 10000, Paid, "", true},
		{"userpaying then success", 10001, Paid, "", true},
		{"userpaying until reversed", 10002, Reversed, "", false},
		{"payerror is reversed", 10003, Reversed, "", false},
		{"notenough", 10004, Failed, "NOTENOUGH", false},
		{"authcodeexpire", 10005, Failed, "AUTHCODEEXPIRE", false},
		{"systemerror then success", 10006, Paid, "", true},
		{"orderpaid is queried, not charged again", 10007, Paid, "", true},
		{"reverse with recall", 10009, Reversed, "", false},
		{"auth_code_invalid", 10010, Failed, "AUTH_CODE_INVALID", false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code := fmt.Sprintf("13%016d", 1000+i)
			v := r.pay(tc.amount, code, 10*time.Second, nil)
			if v.State != tc.state || (tc.errCode != "" && v.ErrCode != tc.errCode) {
				t.Fatalf("ended %s %s, want %s %s", v.State, v.ErrCode, tc.state, tc.errCode)
			}
			e, ok := sim.Provider.Entry(v.OutTradeNo)
			if !ok {
				t.Fatal("the platform never saw the order")
			}
			if kept := e.Charged && !e.Reversed; kept != tc.charged || e.Charges > 1 {
				t.Fatalf("ledger %+v, want charged=%v", e, tc.charged)
			}
			if v.DoNotTakeCash != tc.charged {
				t.Fatalf("do_not_take_cash = %v for %s", v.DoNotTakeCash, v.State)
			}
			if tc.state == Paid {
				waitTrue(t, 15*time.Second, func() bool { return r.announced(v.OutTradeNo) })
			} else if r.announced(v.OutTradeNo) {
				t.Fatal("an unpaid order was announced as paid")
			}
		})
	}
}

func waitTrue(t *testing.T, d time.Duration, f func() bool) {
	t.Helper()
	testkit.WaitUntil(t, d, "the condition", f)
}

// DUPLICATE_CONTENT: another request owns the out_trade_no, so the
// provider refused this attempt and its answer's state is the other
// order's. The device never reverses (that would close the other order)
// and never ends it PAID: it fails, said as 订单号重复.
func TestDuplicateContentNeverReversed(t *testing.T) {
	r := newPayRig(t)
	sim := r.withSim(platform.Faults{})
	r.start()
	v := r.pay(10008, "134567890123450008", 10*time.Second, nil)
	if v.State != Failed || v.ErrCode != "DUPLICATE_CONTENT" || v.DoNotTakeCash || !v.NoReverse {
		t.Fatalf("%+v", v)
	}
	waitTrue(t, 10*time.Second, func() bool { return strings.Contains(r.logs.String(), "text=支付失败，订单号重复") })
	time.Sleep(300 * time.Millisecond)
	if n := sim.Counts()["pay.reverse"]; n != 0 {
		t.Fatalf("%d reverses sent", n)
	}
	if e, _ := sim.Provider.Entry(v.OutTradeNo); e.Charged || r.announced(v.OutTradeNo) {
		t.Fatalf("ledger %+v", e)
	}
}

// Answers dropped, delayed and doubled: every payment still ends, and the
// device's view matches the ledger exactly.
func TestPaymentsUnderAnswerFaults(t *testing.T) {
	r := newPayRig(t)
	sim := r.withSim(platform.Faults{Drop: 0.3, Dup: 0.3, Delay: 5 * time.Millisecond, Jitter: 30 * time.Millisecond, Seed: 7})
	r.start()
	amounts := []int64{10000, 10001, 10002, 10003, 10004, 10006, 10007, 10009, 20000, 30000}
	for i, amt := range amounts {
		v := r.pay(amt, fmt.Sprintf("13%016d", 2000+i), 20*time.Second, nil)
		e, _ := sim.Provider.Entry(v.OutTradeNo)
		if (v.State == Paid) != (e.Charged && !e.Reversed) || e.Charges > 1 {
			t.Errorf("amount %d: device %s, ledger %+v", amt, v.State, e)
		}
	}
	if s := sim.Summary(); s.DoubleCharges != 0 {
		t.Fatalf("double charges: %+v", s)
	}
}

// With every answer lost the payment is UNKNOWN (结果待确认, not failed);
// after a restart, with the platform answering again, it is resolved by
// query: paid, announced once.
func TestUnknownResolvedAfterRestart(t *testing.T) {
	r := newPayRig(t)
	sim := r.withSim(platform.Faults{Drop: 1})
	r.start()
	v := r.pay(10000, "134567890123451111", 10*time.Second, func(v View) bool { return v.State == Unknown })
	if e, _ := sim.Provider.Entry(v.OutTradeNo); !e.Charged {
		t.Fatalf("the customer was not charged: %+v", e)
	}
	r.stop()
	sim.SetFaults(platform.Faults{})
	r.start()
	v = r.waitPayment(v.OutTradeNo, 10*time.Second, func(v View) bool { return Terminal(v.State) })
	if v.State != Paid {
		t.Fatalf("resolved as %s", v.State)
	}
	waitTrue(t, 15*time.Second, func() bool { return r.announced(v.OutTradeNo) })
}

func countPrefix(names []string, p string) int {
	n := 0
	for _, s := range names {
		if len(s) >= len(p) && s[:len(p)] == p {
			n++
		}
	}
	return n
}

// Refunds: only staff on shift with the right; partial; never more than
// was paid; the ledger and the journal agree.
func TestRefunds(t *testing.T) {
	r := newPayRig(t)
	sim := r.withSim(platform.Faults{})
	r.start()
	v := r.pay(10000, "134567890123453333", 10*time.Second, nil)
	if v.State != Paid {
		t.Fatal(v.State)
	}
	var e apiError
	if st := r.api("POST", "/v1/payments/"+v.OutTradeNo+"/refund", map[string]any{"amount": 100, "staff_id": "s1", "pin": testPIN}, &e); st != http.StatusForbidden {
		t.Fatalf("refund with nobody on shift: %d", st)
	}
	r.shift("s1", "王芳", false, false)
	if st := r.api("POST", "/v1/payments/"+v.OutTradeNo+"/refund", map[string]any{"amount": 100, "staff_id": "s1", "pin": testPIN}, &e); st != http.StatusForbidden {
		t.Fatalf("refund without the right: %d", st)
	}
	r.shift("s2", "李雷", true, false)
	var ref Refund
	if st := r.api("POST", "/v1/payments/"+v.OutTradeNo+"/refund", map[string]any{"amount": 4000, "staff_id": "s2", "pin": testPIN}, &ref); st != http.StatusAccepted {
		t.Fatalf("refund: %d", st)
	}
	waitTrue(t, 10*time.Second, func() bool {
		var cur Refund
		r.api("GET", "/v1/refunds/"+ref.OutRefundNo, nil, &cur)
		return cur.State == RefundSuccess
	})
	if st := r.api("POST", "/v1/payments/"+v.OutTradeNo+"/refund", map[string]any{"amount": 6001, "staff_id": "s2", "pin": testPIN}, &e); st != http.StatusBadRequest {
		t.Fatalf("refund over what is left: %d %+v", st, e)
	}
	// A manager may refund off shift.
	r.shift("m1", "店长", false, true)
	r.shift("s3", "韩梅梅", false, false)
	var ref2 Refund
	if st := r.api("POST", "/v1/payments/"+v.OutTradeNo+"/refund", map[string]any{"amount": 6000, "staff_id": "m1", "pin": testPIN}, &ref2); st != http.StatusAccepted {
		t.Fatalf("manager refund: %d", st)
	}
	waitTrue(t, 10*time.Second, func() bool {
		var cur Refund
		r.api("GET", "/v1/refunds/"+ref2.OutRefundNo, nil, &cur)
		return cur.State == RefundSuccess
	})
	if le, _ := sim.Provider.Entry(v.OutTradeNo); le.Refunded != 10000 {
		t.Fatalf("ledger refunded %d", le.Refunded)
	}
	waitTrue(t, 15*time.Second, func() bool { return r.announced(ref.OutRefundNo) && r.announced(ref2.OutRefundNo) })
	var p Payment
	r.agent.j.View(func(tx *journal.Tx) error { _, err := tx.Get(journal.Orders, v.OutTradeNo, &p); return err })
	if p.Refunded != 10000 {
		t.Fatalf("journal refunded %d", p.Refunded)
	}
}

// pay.cancel from the platform: a collect not yet scanned is cancelled; one
// in doubt (the customer never confirms) is reversed; a finished one is
// answered with its result.
func TestPlatformCancel(t *testing.T) {
	r := newPayRig(t)
	sim := r.withSim(platform.Faults{})
	r.start()
	r.send("pay.collect", map[string]any{"out_trade_no": "PC-1", "amount": 500})
	r.waitPayment("PC-1", 15*time.Second, func(v View) bool { return v.State == AwaitingCode })
	r.send("pay.cancel", map[string]any{"out_trade_no": "PC-1"})
	if v := r.waitPayment("PC-1", 15*time.Second, func(v View) bool { return Terminal(v.State) }); v.State != Cancelled {
		t.Fatalf("cancelled collect ended %s", v.State)
	}

	r.send("pay.collect", map[string]any{"out_trade_no": "PC-2", "amount": 10002}) // USERPAYING until reversed
	r.waitPayment("PC-2", 15*time.Second, func(v View) bool { return v.State == AwaitingCode })
	r.scans <- "134567890123458888"
	r.waitPayment("PC-2", 15*time.Second, func(v View) bool { return v.State == Polling })
	r.send("pay.cancel", map[string]any{"out_trade_no": "PC-2"})
	v := r.waitPayment("PC-2", 10*time.Second, func(v View) bool { return Terminal(v.State) })
	if v.State != Reversed || sim.Counts()["pay.reverse"] == 0 {
		t.Fatalf("cancelled payment ended %s, reverses %d", v.State, sim.Counts()["pay.reverse"])
	}
	if e, _ := sim.Provider.Entry("PC-2"); e.Charged && !e.Reversed {
		t.Fatalf("ledger %+v", e)
	}
	done := r.send("pay.cancel", map[string]any{"out_trade_no": "PC-2"})
	ans := r.answer(done.ID, 15*time.Second)
	if b := body[map[string]any](t, ans); ans.Type != "pay.result" || b["state"] != Reversed {
		t.Fatalf("cancel of a finished payment: %s %s", ans.Type, ans.Body)
	}
}

// shift starts a shift from the platform (signed shift.start), which is
// where staff rights come from.
func (r *rig) shift(id, name string, refund, manager bool) {
	r.t.Helper()
	m := r.send("shift.start", map[string]any{"staff_id": id, "staff_name": name, "refund": refund, "manager": manager, "pin_hash": testPINHash()})
	if ans := r.answer(m.ID, 15*time.Second); ans.Type != "shift.changed" {
		r.t.Fatalf("shift.start answered %s %s", ans.Type, ans.Body)
	}
}
