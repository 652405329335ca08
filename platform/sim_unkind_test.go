package platform

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/posagent/posagent/mqtt"
)

// The Sim's wiring of the unkind provider: refund.query, deposit.query of
// a deposit's state, answers without op, orders scoped by device, and every
// answer's ref.

func (e *env) refundQuery(no, refundNo string) RefundStatus {
	e.t.Helper()
	var rs RefundStatus
	e.dev.call(e.t, "refund.query", RefundQuery{OutTradeNo: no, OutRefundNo: refundNo}, mqtt.HS256, "refund.status", &rs)
	return rs
}

func (e *env) depositQuery(no, requestNo string) DepositStatus {
	e.t.Helper()
	var st DepositStatus
	e.dev.call(e.t, "deposit.query", DepositRequest{OutTradeNo: no, OutRequestNo: requestNo}, mqtt.HS256, "deposit.status", &st)
	return st
}

func TestSimRefundQuery(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, func(s *Sim) { s.Provider = &Provider{Now: s.Now, RefundQueries: 1} })
	e.submit("RQ1", 1000, code(1))
	e.sim.ScriptRefund("RQ1-R", OutcomeRefundProcessing)
	if rs := e.refund("RQ1", "RQ1-R", 400); rs.State != "PROCESSING" || rs.RefundID == "" {
		t.Fatalf("request: %+v", rs)
	}
	// HS256 is enough for refund.query: it is not refused.
	if rs := e.refundQuery("RQ1", "RQ1-R"); rs.State != "PROCESSING" {
		t.Errorf("first query: %+v", rs)
	}
	if rs := e.refundQuery("RQ1", "RQ1-R"); rs.State != "SUCCESS" || rs.Amount != 400 {
		t.Errorf("second query: %+v", rs)
	}
	if rs := e.refundQuery("RQ1", "RQ1-NEVER"); rs.State != "NOTFOUND" || rs.ErrCode != "REFUNDNOTEXIST" {
		t.Errorf("query of a refund never sent: %+v", rs)
	}
	// The system error refund: refunded, answered FAIL; the query tells.
	e.sim.ScriptRefund("", OutcomeRefundSystemError)
	if rs := e.refund("RQ1", "RQ1-S", 100); rs.State != "FAIL" || rs.ErrCode != "SYSTEMERROR" {
		t.Errorf("system error: %+v", rs)
	}
	if rs := e.refundQuery("RQ1", "RQ1-S"); rs.State != "SUCCESS" {
		t.Errorf("query after the system error: %+v", rs)
	}
	if le := e.entry("RQ1"); le.Refunded != 500 || le.RefundCount != 2 || le.DoubleRefunds != 0 {
		t.Errorf("ledger %+v", le)
	}
	// A refund.query without out_refund_no is unusable: dropped.
	e.dev.publish(t, "refund.query", map[string]string{"out_trade_no": "RQ1"}, mqtt.HS256)
	e.waitCount("bad_request", 1)
	if c := e.sim.Counts(); c["refused"] != 0 || c["refund.query"] != 5 {
		t.Errorf("counts %v", c)
	}
	if v := e.sim.Check(); len(v) > 0 {
		t.Errorf("violations %v", v)
	}
}

func TestSimDepositStateQuery(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	var st PayStatus
	e.dev.call(t, "pay.submit", PaySubmit{OutTradeNo: "DQ1", AuthCode: code(1), Amount: 20000, Wallet: "wechat", Deposit: true},
		mqtt.HS256, "pay.status", &st)
	if st.State != "SUCCESS" {
		t.Fatalf("freeze: %+v", st)
	}
	if d := e.depositQuery("DQ1", ""); d.Op != "query" || d.State != "SUCCESS" || d.DepositState != "FROZEN" || d.Frozen != 20000 {
		t.Errorf("state query: %+v", d)
	}
	var d DepositStatus
	e.dev.call(t, "deposit.consume", DepositRequest{OutTradeNo: "DQ1", OutRequestNo: "DQ1-C", Amount: 5000}, mqtt.PS256, "deposit.status", &d)
	if d.State != "SUCCESS" || d.Consumed != 5000 || d.Released != 15000 {
		t.Fatalf("consume: %+v", d)
	}
	if d := e.depositQuery("DQ1", ""); d.DepositState != "CONSUMED" || d.Consumed != 5000 || d.Released != 15000 {
		t.Errorf("state query after consume: %+v", d)
	}
	if d := e.depositQuery("DQ1", "DQ1-C"); d.State != "SUCCESS" || d.Op != "query" {
		t.Errorf("query of the consume: %+v", d)
	}
	if d := e.depositQuery("NOPE", ""); d.State != "FAIL" || d.ErrCode != "ORDERNOTEXIST" {
		t.Errorf("state query of an unknown order: %+v", d)
	}
	if le := e.entry("DQ1"); le.ReleasedFen != 15000 || le.Net() != 5000 {
		t.Errorf("ledger %+v", le)
	}
}

// TestSimOmitOp: pay.status without the op key, by the Sim's option or the
// Provider's; the other answers are untouched.
func TestSimOmitOp(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		conf func(*Sim)
	}{
		{"Sim.OmitOp", func(s *Sim) { s.OmitOp = true }},
		{"Provider.OmitOp", func(s *Sim) { s.Provider = &Provider{Now: s.Now, OmitOp: true} }},
	} {
		e := newEnv(t, true, c.conf)
		for _, r := range []struct {
			typ  string
			body any
			alg  string
		}{
			{"pay.submit", PaySubmit{OutTradeNo: "OM1", AuthCode: code(1), Amount: 1000, Wallet: "wechat"}, mqtt.HS256},
			{"pay.query", map[string]string{"out_trade_no": "OM1"}, mqtt.HS256},
			{"pay.reverse", map[string]string{"out_trade_no": "OM1"}, mqtt.PS256},
			{"pay.query", map[string]string{"out_trade_no": "NOPE"}, mqtt.HS256},
		} {
			var raw map[string]json.RawMessage
			m := e.dev.call(t, r.typ, r.body, r.alg, "pay.status", &raw)
			if _, has := raw["op"]; has {
				t.Errorf("%s: %s answered with op: %s", c.name, r.typ, m.Body)
			}
			if _, has := raw["out_trade_no"]; !has || raw["state"] == nil {
				t.Errorf("%s: %s answer lost its fields: %s", c.name, r.typ, m.Body)
			}
		}
		var f map[string]json.RawMessage
		e.dev.call(t, "order.lookup", map[string]string{"out_trade_no": "OM1"}, mqtt.HS256, "order.found", &f)
		if le := e.entry("OM1"); !le.Reversed || le.Charges != 1 {
			t.Errorf("%s: ledger %+v", c.name, le)
		}
	}
}

// TestSimOwnership: through the Sim, another device's requests see none of
// the first device's orders.
func TestSimOwnership(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	e.submit("OW1", 1000, code(1))
	other := e.second("dev-0002")
	var st PayStatus
	other.call(t, "pay.query", map[string]string{"out_trade_no": "OW1"}, mqtt.HS256, "pay.status", &st)
	if st.ErrCode != "ORDERNOTEXIST" || st.Amount != 0 {
		t.Errorf("other device's query: %+v", st)
	}
	var f OrderFound
	other.call(t, "order.lookup", map[string]string{"out_trade_no": "OW1"}, mqtt.HS256, "order.found", &f)
	if f.ErrCode != "ORDERNOTEXIST" || f.TransactionID != "" {
		t.Errorf("other device's lookup: %+v", f)
	}
	other.call(t, "pay.reverse", map[string]string{"out_trade_no": "OW1"}, mqtt.PS256, "pay.status", &st)
	if st.ErrCode != "ORDERNOTEXIST" {
		t.Errorf("other device's reverse: %+v", st)
	}
	var rs RefundStatus
	other.call(t, "refund.request", RefundRequest{OutTradeNo: "OW1", OutRefundNo: "OW1-R", Amount: 10}, mqtt.PS256, "refund.status", &rs)
	if rs.ErrCode != "ORDERNOTEXIST" {
		t.Errorf("other device's refund: %+v", rs)
	}
	if st := e.query("OW1"); st.State != "SUCCESS" {
		t.Errorf("the owner's query: %+v", st)
	}
	if le := e.entry("OW1"); le.Reversed || le.Refunded != 0 || le.Dev != testDev {
		t.Errorf("ledger %+v", le)
	}
}

// TestSimAnswersRefTheRequest: every answer, of every request type, and
// each copy of a doubled one, has ref = the request's jti.
func TestSimAnswersRefTheRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, func(s *Sim) { s.Faults = Faults{Dup: 1}; s.OmitOp = true })
	reqs := []struct {
		typ  string
		body any
		alg  string
		ans  string
	}{
		{"pay.submit", PaySubmit{OutTradeNo: "RF1", AuthCode: code(1), Amount: 1000, Wallet: "alipay"}, mqtt.HS256, "pay.status"},
		{"pay.submit", PaySubmit{OutTradeNo: "RF2", AuthCode: code(2), Amount: 30000, Wallet: "wechat", Deposit: true}, mqtt.HS256, "pay.status"},
		{"pay.query", map[string]string{"out_trade_no": "RF1"}, mqtt.HS256, "pay.status"},
		{"order.lookup", map[string]string{"out_trade_no": "RF1"}, mqtt.HS256, "order.found"},
		{"refund.request", RefundRequest{OutTradeNo: "RF1", OutRefundNo: "RF1-R", Amount: 100}, mqtt.PS256, "refund.status"},
		{"refund.query", RefundQuery{OutTradeNo: "RF1", OutRefundNo: "RF1-R"}, mqtt.HS256, "refund.status"},
		{"deposit.query", DepositRequest{OutTradeNo: "RF2"}, mqtt.HS256, "deposit.status"},
		{"deposit.consume", DepositRequest{OutTradeNo: "RF2", OutRequestNo: "RF2-C", Amount: 100}, mqtt.PS256, "deposit.status"},
		{"deposit.query", DepositRequest{OutTradeNo: "RF2", OutRequestNo: "RF2-C"}, mqtt.HS256, "deposit.status"},
		{"deposit.unfreeze", DepositRequest{OutTradeNo: "RF2", OutRequestNo: "RF2-U"}, mqtt.PS256, "deposit.status"},
		{"pay.reverse", map[string]string{"out_trade_no": "RF9"}, mqtt.PS256, "pay.status"},
	}
	for _, r := range reqs {
		jti := e.dev.publish(t, r.typ, r.body, r.alg)
		a, b := e.dev.next(t), e.dev.next(t)
		for _, m := range []mqtt.Message{a, b} {
			if m.Ref != jti || m.Type != r.ans {
				t.Errorf("%s answered %s ref %s, want %s ref %s", r.typ, m.Type, m.Ref, r.ans, jti)
			}
		}
		if a.ID == b.ID || string(a.Body) != string(b.Body) {
			t.Errorf("%s: the copies %s / %s", r.typ, a.Body, b.Body)
		}
		if r.ans == "pay.status" && strings.Contains(string(a.Body), `"op"`) {
			t.Errorf("%s: op sent with OmitOp: %s", r.typ, a.Body)
		}
	}
}
