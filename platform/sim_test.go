package platform

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/mqtt"
)

// step is one request of a scenario and what its answer must say.
type step struct {
	op      string // submit, query, reverse, lookup
	state   string
	errCode string
	recall  bool
}

func TestAmountTable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	rows := []struct {
		name     string
		amount   int64
		outcome  Outcome
		steps    []step
		charged  bool
		reversed bool
	}{
		{"whole yuan: success", 1200, OutcomeSuccess, []step{
			{op: "submit", state: "SUCCESS"}, {op: "query", state: "SUCCESS"}, {op: "lookup", state: "SUCCESS"},
		}, true, false},
		{".11: success", 111, OutcomeSuccess, []step{{op: "submit", state: "SUCCESS"}}, true, false},
		{".01: paying then success on the 2nd query", 101, OutcomePayingThenSuccess, []step{
			{op: "submit", state: "USERPAYING"}, {op: "lookup", state: "USERPAYING"}, {op: "query", state: "USERPAYING"},
			{op: "query", state: "SUCCESS"}, {op: "query", state: "SUCCESS"},
		}, true, false},
		{".01 reversed while paying", 2001, OutcomePayingThenSuccess, []step{
			{op: "submit", state: "USERPAYING"}, {op: "reverse", state: "REVOKED"}, {op: "query", state: "REVOKED"},
			{op: "query", state: "REVOKED"},
		}, false, true},
		{".02: paying until reversed", 102, OutcomePayingForever, []step{
			{op: "submit", state: "USERPAYING"}, {op: "query", state: "USERPAYING"}, {op: "query", state: "USERPAYING"},
			{op: "query", state: "USERPAYING"}, {op: "reverse", state: "REVOKED"}, {op: "query", state: "REVOKED"},
			{op: "reverse", state: "REVOKED"},
		}, false, true},
		{".03: payerror", 103, OutcomePayError, []step{
			{op: "submit", state: "PAYERROR", errCode: "TRADE_ERROR"}, {op: "query", state: "PAYERROR", errCode: "TRADE_ERROR"},
			{op: "reverse", state: "REVOKED"},
		}, false, true},
		{".04: notenough", 104, OutcomeNotEnough, []step{
			{op: "submit", state: "FAILED", errCode: "NOTENOUGH"}, {op: "query", state: "FAILED", errCode: "NOTENOUGH"},
		}, false, false},
		{".05: authcodeexpire", 105, OutcomeAuthCodeExpire, []step{
			{op: "submit", state: "FAILED", errCode: "AUTHCODEEXPIRE"}, {op: "query", state: "FAILED", errCode: "AUTHCODEEXPIRE"},
		}, false, false},
		{".06: systemerror then success", 106, OutcomeSystemError, []step{
			{op: "submit", state: "UNKNOWN", errCode: "SYSTEMERROR"}, {op: "query", state: "SUCCESS"},
		}, true, false},
		{".07: orderpaid", 107, OutcomeOrderPaid, []step{
			{op: "submit", state: "UNKNOWN", errCode: "ORDERPAID"}, {op: "query", state: "SUCCESS"}, {op: "lookup", state: "SUCCESS"},
		}, true, false},
		{".08: duplicate content, paying forever", 108, OutcomeDuplicateContent, []step{
			{op: "submit", state: "USERPAYING", errCode: "DUPLICATE_CONTENT"}, {op: "query", state: "USERPAYING"},
			{op: "query", state: "USERPAYING"}, {op: "query", state: "USERPAYING"}, {op: "query", state: "USERPAYING"},
		}, false, false},
		{".09: reverse with recall twice", 109, OutcomeRecall, []step{
			{op: "submit", state: "USERPAYING"}, {op: "query", state: "USERPAYING"},
			{op: "reverse", state: "USERPAYING", errCode: "SYSTEMERROR", recall: true},
			{op: "reverse", state: "USERPAYING", errCode: "SYSTEMERROR", recall: true},
			{op: "reverse", state: "REVOKED"}, {op: "query", state: "REVOKED"},
		}, false, true},
		{".10: auth_code_invalid", 110, OutcomeAuthCodeInvalid, []step{
			{op: "submit", state: "FAILED", errCode: "AUTH_CODE_INVALID"}, {op: "query", state: "FAILED", errCode: "AUTH_CODE_INVALID"},
		}, false, false},
		{"reverse after success undoes the charge", 50000, OutcomeSuccess, []step{
			{op: "submit", state: "SUCCESS"}, {op: "reverse", state: "REVOKED"}, {op: "query", state: "REVOKED"},
		}, true, true},
	}
	for i, r := range rows {
		no := fmt.Sprintf("T%04d", i)
		for j, s := range r.steps {
			var st PayStatus
			switch s.op {
			case "submit":
				st = e.submit(no, r.amount, code(i))
			case "query":
				st = e.query(no)
			case "reverse":
				st = e.reverse(no)
			case "lookup":
				f := e.lookup(no)
				st = PayStatus{OutTradeNo: f.OutTradeNo, Op: "lookup", State: f.State, ErrCode: f.ErrCode,
					TransactionID: f.TransactionID, PaidAt: f.PaidAt, Amount: f.Amount, Wallet: f.Wallet}
			}
			where := fmt.Sprintf("%s, step %d (%s)", r.name, j, s.op)
			if st.OutTradeNo != no || st.Op != s.op || st.State != s.state || st.ErrCode != s.errCode || st.Recall != s.recall {
				t.Errorf("%s: got %+v, want state %s err_code %q recall %v", where, st, s.state, s.errCode, s.recall)
			}
			if st.Amount != r.amount || st.Wallet != "wechat" {
				t.Errorf("%s: amount %d wallet %q, want %d wechat", where, st.Amount, st.Wallet, r.amount)
			}
			if st.State == "SUCCESS" && (!strings.HasPrefix(st.TransactionID, "4200") || st.PaidAt != simClock.Unix()) {
				t.Errorf("%s: SUCCESS without transaction_id or paid_at from the Sim clock: %+v", where, st)
			}
			if (st.State == "USERPAYING" || st.State == "FAILED" || st.State == "PAYERROR") && st.TransactionID != "" {
				t.Errorf("%s: transaction_id on an unpaid order: %+v", where, st)
			}
		}
		le := e.entry(no)
		if le.Charged != r.charged || le.Reversed != r.reversed || le.Outcome != r.outcome || le.Amount != r.amount || le.Dev != testDev {
			t.Errorf("%s: ledger %+v, want charged %v reversed %v outcome %s", r.name, le, r.charged, r.reversed, r.outcome)
		}
		want := 0
		if r.charged {
			want = 1
		}
		if le.Charges != want {
			t.Errorf("%s: money taken %d times, want %d", r.name, le.Charges, want)
		}
		if le.Net() != 0 && (!r.charged || r.reversed) {
			t.Errorf("%s: customer still out of pocket %d fen", r.name, le.Net())
		}
		if r.charged && le.PaidAt != simClock.Unix() {
			t.Errorf("%s: paid_at %d, want %d", r.name, le.PaidAt, simClock.Unix())
		}
	}
	if s := e.sim.Summary(); s.DoubleCharges != 0 || s.Orders != len(rows) {
		t.Errorf("summary %v", s)
	}
}

func TestUnknownOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	if st := e.query("NOPE"); st.State != "NOTPAY" || st.ErrCode != "ORDERNOTEXIST" || st.Op != "query" {
		t.Errorf("query of an unknown order: %+v", st)
	}
	if f := e.lookup("NOPE"); f.State != "NOTPAY" || f.ErrCode != "ORDERNOTEXIST" {
		t.Errorf("lookup of an unknown order: %+v", f)
	}
	if n := len(e.sim.Ledger()); n != 0 {
		t.Errorf("a query made %d ledger entries", n)
	}
}

func TestSubmitIdempotent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	first := e.submit("A1", 1300, code(1))
	// Paid already: WeChat's ORDERPAID, a failed request with no trade state;
	// the query tells the payment.
	again := e.submit("A1", 1300, code(1))
	if first.State != "SUCCESS" || again.State != "UNKNOWN" || again.ErrCode != "ORDERPAID" || again.TransactionID != "" {
		t.Errorf("same submit twice: %+v then %+v", first, again)
	}
	if st := e.query("A1"); st.State != "SUCCESS" || st.TransactionID != first.TransactionID {
		t.Errorf("query after ORDERPAID: %+v", st)
	}
	// The very same token again (a QoS 1 redelivery): answered, not charged.
	jti, tok := e.dev.sign(t, "pay.submit", PaySubmit{OutTradeNo: "A1", AuthCode: code(1), Amount: 1300, Wallet: "wechat"}, mqtt.HS256)
	e.dev.publishRaw(t, tok)
	e.dev.publishRaw(t, tok)
	for range 2 {
		if m := e.dev.next(t); m.Ref != jti || !strings.Contains(string(m.Body), `"ORDERPAID"`) {
			t.Errorf("redelivered submit answered %s %s", m.Ref, m.Body)
		}
	}
	if le := e.entry("A1"); le.Charges != 1 {
		t.Errorf("charged %d times", le.Charges)
	}

	// A retry of a paying order answers its state and does not move it on.
	if st := e.submit("A2", 101, code(2)); st.State != "USERPAYING" {
		t.Fatalf("A2: %+v", st)
	}
	if st := e.submit("A2", 101, code(2)); st.State != "USERPAYING" || st.ErrCode != "" {
		t.Errorf("A2 retried: %+v", st)
	}
	if st := e.query("A2"); st.State != "USERPAYING" {
		t.Errorf("a retried submit counted as a query: %+v", st)
	}
	if st := e.query("A2"); st.State != "SUCCESS" {
		t.Errorf("A2 second query: %+v", st)
	}
	if st := e.submit("A2", 101, code(2)); st.State != "UNKNOWN" || st.ErrCode != "ORDERPAID" {
		t.Errorf("A2 retried after payment: %+v", st)
	}
	if le := e.entry("A2"); le.Charges != 1 {
		t.Errorf("A2 charged %d times", le.Charges)
	}
}

// TestDuplicateContent: the same out_trade_no with other content never
// charges; each wallet's provider says so in its own words.
func TestDuplicateContent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	for _, w := range []struct {
		wallet, code, state string
	}{
		{"wechat", "OUT_TRADE_NO_USED", "UNKNOWN"},
		{"alipay", "ACQ.CONTEXT_INCONSISTENT", "UNKNOWN"},
		{"unionpay", "DUPLICATE_CONTENT", "SUCCESS"}, // the platform's own: the first order's state
	} {
		no := "D1-" + w.wallet
		if st := e.submitW(no, 1400, code(1), w.wallet); st.State != "SUCCESS" {
			t.Fatalf("%s: %+v", no, st)
		}
		for _, c := range []struct {
			amount int64
			code   string
		}{{1500, code(1)}, {1400, code(2)}} {
			st := e.submitW(no, c.amount, c.code, w.wallet)
			if st.ErrCode != w.code || st.State != w.state || st.Amount != 1400 {
				t.Errorf("%s with %d: %+v, want %s %s with the first order's amount", no, c.amount, st, w.state, w.code)
			}
			if w.state != "SUCCESS" && st.TransactionID != "" {
				t.Errorf("%s: a failed request carries the first order's transaction: %+v", no, st)
			}
		}
		if le := e.entry(no); le.Charges != 1 || le.Amount != 1400 {
			t.Errorf("%s ledger %+v", no, le)
		}
	}
	// Against a paying order: no charge, no move.
	e.submit("D2", 102, code(3))
	if st := e.submit("D2", 103, code(3)); st.ErrCode != "OUT_TRADE_NO_USED" {
		t.Errorf("D2: %+v", st)
	}
	if st := e.query("D2"); st.State != "USERPAYING" {
		t.Errorf("D2 query: %+v", st)
	}
	if le := e.entry("D2"); le.Charges != 0 || le.Outcome != OutcomePayingForever {
		t.Errorf("D2 ledger %+v", le)
	}
}

func TestReverseBeforeSubmit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	if st := e.reverse("R1"); st.State != "REVOKED" || st.Recall {
		t.Errorf("reverse of an unknown order: %+v", st)
	}
	if st := e.submit("R1", 1000, code(1)); st.State != "REVOKED" || st.ErrCode != "ORDERREVERSED" {
		t.Errorf("submit after its reverse: %+v", st)
	}
	if st := e.query("R1"); st.State != "REVOKED" {
		t.Errorf("query: %+v", st)
	}
	if le := e.entry("R1"); le.Charged || le.Charges != 0 || !le.Reversed {
		t.Errorf("ledger %+v", le)
	}
	// A reversed real order refuses a resubmission the same way.
	e.submit("R2", 1000, code(2))
	e.reverse("R2")
	if st := e.submit("R2", 1000, code(2)); st.State != "REVOKED" || st.ErrCode != "ORDERREVERSED" {
		t.Errorf("resubmit after reverse: %+v", st)
	}
	if le := e.entry("R2"); le.Charges != 1 || !le.Reversed || le.Net() != 0 {
		t.Errorf("R2 ledger %+v", le)
	}
}

func TestRefunds(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	e.submit("F1", 1000, code(1))
	r1 := e.refund("F1", "RF1", 300)
	if r1.State != "SUCCESS" || r1.RefundID == "" || r1.Amount != 300 || r1.OutTradeNo != "F1" || r1.OutRefundNo != "RF1" {
		t.Errorf("partial refund: %+v", r1)
	}
	if r := e.refund("F1", "RF2", 800); r.State != "FAIL" || r.ErrCode != "REFUND_AMOUNT_EXCEEDED" {
		t.Errorf("refund over what is left: %+v", r)
	}
	if r := e.refund("F1", "RF1", 300); r != r1 {
		t.Errorf("same out_refund_no again: %+v, want %+v", r, r1)
	}
	if r := e.refund("F1", "RF3", 700); r.State != "SUCCESS" || r.RefundID == r1.RefundID {
		t.Errorf("refund of the rest: %+v", r)
	}
	if r := e.refund("F1", "RF4", 1); r.ErrCode != "REFUND_AMOUNT_EXCEEDED" {
		t.Errorf("refund past the total: %+v", r)
	}
	if st := e.query("F1"); st.State != "REFUND" || st.TransactionID == "" {
		t.Errorf("query of a refunded order: %+v", st)
	}
	if st := e.reverse("F1"); st.State != "REFUND" || st.ErrCode != "TRADE_STATE_ERROR" {
		t.Errorf("reverse of a refunded order: %+v", st)
	}
	if le := e.entry("F1"); le.Refunded != 1000 || le.Reversed || le.Net() != 0 || le.Charges != 1 {
		t.Errorf("ledger %+v", le)
	}

	e.submit("F2", 102, code(2)) // paying: not paid
	if r := e.refund("F2", "RF5", 50); r.State != "FAIL" || r.ErrCode != "TRADE_STATE_ERROR" {
		t.Errorf("refund of an unpaid order: %+v", r)
	}
	if r := e.refund("NOPE", "RF6", 50); r.State != "FAIL" || r.ErrCode != "ORDERNOTEXIST" {
		t.Errorf("refund of an unknown order: %+v", r)
	}
	if r := e.refund("F1", "RF7", 0); r.State != "FAIL" {
		t.Errorf("refund of 0: %+v", r)
	}
	if le := e.entry("F2"); le.Refunded != 0 {
		t.Errorf("F2 ledger %+v", le)
	}
}

func TestMoneyOutNeedsPS256(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, nil)
	e.submit("P1", 1000, code(1))

	// Before device.hello the platform has no key to check PS256 with.
	e.dev.publish(t, "pay.reverse", map[string]string{"out_trade_no": "P1"}, mqtt.PS256)
	e.waitCount("rejected", 1)
	e.dev.hello(t)
	e.waitCount("device.hello", 1)

	// HS256 is refused for money going back, even with a valid signature.
	e.dev.publish(t, "pay.reverse", map[string]string{"out_trade_no": "P1"}, mqtt.HS256)
	e.dev.publish(t, "refund.request", RefundRequest{OutTradeNo: "P1", OutRefundNo: "X1", Amount: 10}, mqtt.HS256)
	e.waitCount("refused", 2)
	// Nothing was answered: the next command is the answer to this query.
	if st := e.query("P1"); st.State != "SUCCESS" {
		t.Errorf("order moved by refused requests: %+v", st)
	}
	if le := e.entry("P1"); le.Reversed || le.Refunded != 0 {
		t.Errorf("ledger %+v", le)
	}
	if r := e.refund("P1", "X1", 10); r.State != "SUCCESS" {
		t.Errorf("PS256 refund: %+v", r)
	}
	if st := e.reverse("P1"); st.ErrCode != "TRADE_STATE_ERROR" {
		t.Errorf("PS256 reverse reached the provider? %+v", st)
	}
	if c := e.sim.Counts(); c["answers"] != 4 || c["pay.reverse"] != 2 || c["rejected"] != 1 || c["refund.request"] != 2 {
		t.Errorf("counts %v", c)
	}
}

func TestFaultDrop(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, func(s *Sim) { s.Faults = Faults{Drop: 1} })
	e.dev.publish(t, "pay.submit", PaySubmit{OutTradeNo: "Q1", AuthCode: code(1), Amount: 1000, Wallet: "wechat"}, mqtt.HS256)
	e.waitCount("answers.dropped", 1)
	if le := e.entry("Q1"); le.Charges != 1 {
		t.Errorf("a dropped answer still charges: %+v", le)
	}
	e.sim.SetFaults(Faults{})
	// The dropped answer never comes: the next command answers this query.
	if st := e.query("Q1"); st.State != "SUCCESS" {
		t.Errorf("query after a dropped answer: %+v", st)
	}
	// answers.sent counts after the PUBACK, which may come after delivery.
	e.waitCount("answers.sent", 1)
	if c := e.sim.Counts(); c["answers"] != 2 || c["answers.dropped"] != 1 {
		t.Errorf("counts %v", c)
	}
}

func TestFaultDup(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, func(s *Sim) { s.Faults = Faults{Dup: 1} })
	jti := e.dev.publish(t, "pay.submit", PaySubmit{OutTradeNo: "U1", AuthCode: code(1), Amount: 1000, Wallet: "wechat"}, mqtt.HS256)
	a, b := e.dev.next(t), e.dev.next(t)
	if a.Ref != jti || b.Ref != jti || a.ID == b.ID || string(a.Body) != string(b.Body) || a.Type != "pay.status" {
		t.Errorf("answer twice: %+v and %+v", a, b)
	}
	if le := e.entry("U1"); le.Charges != 1 {
		t.Errorf("charged %d times", le.Charges)
	}
	e.waitCount("answers.sent", 2)
	if c := e.sim.Counts(); c["answers.duplicated"] != 1 || c["answers"] != 1 {
		t.Errorf("counts %v", c)
	}
}

func TestFaultDelay(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, func(s *Sim) { s.Faults = Faults{Delay: 30 * time.Millisecond, Jitter: 20 * time.Millisecond, Seed: 3} })
	if st := e.submit("W1", 1000, code(1)); st.State != "SUCCESS" {
		t.Errorf("delayed answer: %+v", st)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.answers) != 1 || len(e.answers[0].Delays) != 1 {
		t.Fatalf("answers %+v", e.answers)
	}
	if d := e.answers[0].Delays[0]; d < 30*time.Millisecond || d >= 50*time.Millisecond {
		t.Errorf("chosen delay %s, want 30ms + up to 20ms", d)
	}
}

// TestFaultsSeeded runs the same requests through Sims with the same seed
// and another: the same seed misbehaves the same way, and the device gets
// exactly the copies the Sim says it sent.
func TestFaultsSeeded(t *testing.T) {
	t.Parallel()
	run := func(seed uint64) []int {
		e := newEnv(t, true, func(s *Sim) { s.Faults = Faults{Drop: 0.3, Dup: 0.3, Seed: seed} })
		const n = 40
		for i := range n {
			e.dev.publish(t, "pay.query", map[string]string{"out_trade_no": fmt.Sprint("S", i)}, mqtt.HS256)
			e.waitCount("answers", i+1)
		}
		e.sim.SetFaults(Faults{})
		last := e.dev.publish(t, "pay.query", map[string]string{"out_trade_no": "LAST"}, mqtt.HS256)
		got := 0
		for m := e.dev.next(t); m.Ref != last; m = e.dev.next(t) {
			got++
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		var copies []int
		sent := 0
		for _, a := range e.answers[:n] {
			copies = append(copies, len(a.Delays))
			sent += len(a.Delays)
		}
		if got != sent {
			t.Errorf("seed %d: device got %d answers, the Sim sent %d", seed, got, sent)
		}
		return copies
	}
	a, b, c := run(7), run(7), run(8)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("same seed, different faults:\n%v\n%v", a, b)
	}
	if reflect.DeepEqual(a, c) {
		t.Errorf("seeds 7 and 8 gave the same faults: %v", a)
	}
	seen := map[int]bool{}
	for _, k := range a {
		seen[k] = true
	}
	if !seen[0] || !seen[1] || !seen[2] {
		t.Errorf("seed 7 did not drop, send once and send twice: %v", a)
	}
}

func TestLedgerSummary(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	e.submit("L1", 1000, code(1))
	e.submit("L2", 2000, code(2))
	e.reverse("L2")
	e.submit("L3", 3000, code(3))
	e.refund("L3", "LR1", 500)
	e.submit("L4", 102, code(4))
	e.reverse("L4")
	e.reverse("L5")
	e.submit("L6", 104, code(6))
	want := LedgerSummary{Orders: 6, Charged: 3, ChargedFen: 6000, Reversed: 3, ReversedFen: 2000,
		Refunded: 1, RefundedFen: 500, NetFen: 3500}
	if got := e.sim.Summary(); got != want {
		t.Errorf("summary\n got %v\nwant %v", got, want)
	}
	var order []string
	for _, le := range e.sim.Ledger() {
		order = append(order, le.OutTradeNo)
	}
	if strings.Join(order, ",") != "L1,L2,L3,L4,L5,L6" {
		t.Errorf("ledger order %v", order)
	}
	if Summarize([]LedgerEntry{{Amount: 5, Charged: true, Charges: 2}}).DoubleCharges != 1 {
		t.Error("a double charge is not counted")
	}
}

func TestScript(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, func(s *Sim) { s.PayingQueries = 3; s.Recalls = 1 })
	e.sim.Script("C1", OutcomeNotEnough)
	e.sim.Script("", OutcomeRecall)
	e.sim.Script("", OutcomePayingThenSuccess)
	if st := e.submit("C1", 1000, code(1)); st.ErrCode != "NOTENOUGH" {
		t.Errorf("scripted by out_trade_no: %+v", st)
	}
	if st := e.submit("C2", 1000, code(2)); st.State != "USERPAYING" {
		t.Errorf("first next-submit script: %+v", st)
	}
	if st := e.reverse("C2"); !st.Recall {
		t.Errorf("Recalls 1, first reverse: %+v", st)
	}
	if st := e.reverse("C2"); st.Recall || st.State != "REVOKED" {
		t.Errorf("Recalls 1, second reverse: %+v", st)
	}
	if st := e.submit("C3", 1000, code(3)); st.State != "USERPAYING" {
		t.Errorf("second next-submit script: %+v", st)
	}
	for i, want := range []string{"USERPAYING", "USERPAYING", "SUCCESS"} {
		if st := e.query("C3"); st.State != want {
			t.Errorf("PayingQueries 3, query %d: %+v", i+1, st)
		}
	}
	if st := e.submit("C4", 1000, code(4)); st.State != "SUCCESS" {
		t.Errorf("scripts used up, by amount: %+v", st)
	}
}

func TestAuthCodeNeverInClear(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	secret := code(42)
	e.submit("K1", 1000, secret)
	e.dev.publish(t, "pay.submit", map[string]any{"out_trade_no": "K2", "AUTH_CODE": secret, "amount": 1000}, mqtt.HS256)
	e.dev.next(t)
	e.mu.Lock()
	defer e.mu.Unlock()
	var seen strings.Builder
	seen.WriteString(e.log.String())
	for _, ev := range e.events {
		seen.Write(ev.Message.Body)
	}
	for _, a := range e.answers {
		seen.Write(a.Request.Body)
		b, _ := json.Marshal(a.Body)
		seen.Write(b)
	}
	if strings.Contains(seen.String(), secret) {
		t.Errorf("the payment code reached a log, an event or an answer")
	}
	if !strings.Contains(seen.String(), MaskCode(secret)) || !strings.HasSuffix(MaskCode(secret), secret[len(secret)-4:]) {
		t.Errorf("masked code %q not passed on", MaskCode(secret))
	}
	if le := e.entry("K2"); le.Charges != 1 {
		t.Errorf("K2 (auth code key in other case) %+v", le)
	}
}

func TestIgnoredAndBadRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	e.dev.publish(t, "coffee.brew", map[string]string{"out_trade_no": "Z"}, mqtt.HS256)
	e.dev.publish(t, "notify.done", map[string]string{"order_id": "Z"}, mqtt.HS256)
	e.dev.publish(t, "pay.submit", map[string]any{"amount": 100, "auth_code": code(1)}, mqtt.HS256)
	e.dev.publish(t, "pay.query", []int{1}, mqtt.HS256)
	e.waitCount("ignored", 1)
	e.waitCount("bad_request", 2)
	e.waitCount("notify.done", 1)
	if st := e.submit("Z1", 100, code(2)); st.State != "SUCCESS" {
		t.Errorf("after ignored requests: %+v", st)
	}
	if c := e.sim.Counts(); c["answers"] != 1 {
		t.Errorf("counts %v", c)
	}
}
