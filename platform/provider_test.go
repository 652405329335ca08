package platform

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// These tests drive the Provider directly, with a clock they move, so the
// windows (reverse, refund, deposit release) are tested by days passing in
// no time. The Sim's wiring of the same requests is in sim_test.go.

const devA, devB = "dev-A", "dev-B"

type provRig struct {
	t   *testing.T
	p   *Provider
	now time.Time
}

func newProv(t *testing.T, conf func(*Provider)) *provRig {
	r := &provRig{t: t, now: simClock}
	r.p = &Provider{Now: func() time.Time { return r.now }}
	if conf != nil {
		conf(r.p)
	}
	return r
}

func (r *provRig) advance(d time.Duration) { r.now = r.now.Add(d) }

// authCode is the order's payment code: one per out_trade_no, so a retry
// is the same request.
func authCode(no string) string { return "AC-" + no }

func (r *provRig) submit(dev, no string, amount int64, wallet string) PayStatus {
	return r.p.Submit(dev, PaySubmit{OutTradeNo: no, AuthCode: authCode(no), Amount: amount, Wallet: wallet})
}

func (r *provRig) freeze(dev, no string, amount int64, wallet string) {
	r.t.Helper()
	st := r.p.Submit(dev, PaySubmit{OutTradeNo: no, AuthCode: authCode(no), Amount: amount, Wallet: wallet, Deposit: true})
	if st.State != StateSuccess {
		r.t.Fatalf("freeze %s: %+v", no, st)
	}
}

func (r *provRig) refund(dev, no, refundNo string, amount int64) RefundStatus {
	return r.p.Refund(dev, RefundRequest{OutTradeNo: no, OutRefundNo: refundNo, Amount: amount, StaffID: "s01"})
}

func (r *provRig) entry(no string) LedgerEntry {
	r.t.Helper()
	le, ok := r.p.Entry(no)
	if !ok {
		r.t.Fatalf("no ledger entry for %s", no)
	}
	return le
}

func (r *provRig) noViolations() {
	r.t.Helper()
	if v := r.p.Check(); len(v) > 0 {
		r.t.Errorf("provider invariants broken:\n%s", strings.Join(v, "\n"))
	}
}

// want is one answer's state and code.
type want struct{ state, code string }

func (w want) check(t *testing.T, where string, state, code string) {
	t.Helper()
	if state != w.state || code != w.code {
		t.Errorf("%s: %s %q, want %s %q", where, state, code, w.state, w.code)
	}
}

// TestWalletProfiles: every outcome in each provider's words. WeChat and
// other wallets keep today's amount table; Alipay answers its sub_codes
// mapped to wire states.
func TestWalletProfiles(t *testing.T) {
	t.Parallel()
	rows := []struct {
		outcome      Outcome
		amount       int64 // 0: scripted
		submit       [3]want
		query        [3]want // the first query after the submit
		chargedFirst bool    // charged by the submit
	}{
		{OutcomeSuccess, 1200,
			[3]want{{"SUCCESS", ""}, {"SUCCESS", ""}, {"SUCCESS", ""}},
			[3]want{{"SUCCESS", ""}, {"SUCCESS", ""}, {"SUCCESS", ""}}, true},
		{OutcomePayingThenSuccess, 101,
			[3]want{{"USERPAYING", ""}, {"USERPAYING", ""}, {"USERPAYING", ""}},
			[3]want{{"USERPAYING", ""}, {"USERPAYING", ""}, {"USERPAYING", ""}}, false},
		{OutcomePayError, 103,
			[3]want{{"PAYERROR", "TRADE_ERROR"}, {"PAYERROR", "ACQ.PAYMENT_FAIL"}, {"PAYERROR", "TRADE_ERROR"}},
			[3]want{{"PAYERROR", "TRADE_ERROR"}, {"PAYERROR", "ACQ.PAYMENT_FAIL"}, {"PAYERROR", "TRADE_ERROR"}}, false},
		{OutcomeNotEnough, 104,
			[3]want{{"FAILED", "NOTENOUGH"}, {"FAILED", "ACQ.BUYER_BALANCE_NOT_ENOUGH"}, {"FAILED", "NOTENOUGH"}},
			[3]want{{"FAILED", "NOTENOUGH"}, {"FAILED", "ACQ.BUYER_BALANCE_NOT_ENOUGH"}, {"FAILED", "NOTENOUGH"}}, false},
		{OutcomeAuthCodeExpire, 105,
			[3]want{{"FAILED", "AUTHCODEEXPIRE"}, {"FAILED", "ACQ.PAYMENT_AUTH_CODE_INVALID"}, {"FAILED", "AUTHCODEEXPIRE"}},
			[3]want{{"FAILED", "AUTHCODEEXPIRE"}, {"FAILED", "ACQ.PAYMENT_AUTH_CODE_INVALID"}, {"FAILED", "AUTHCODEEXPIRE"}}, false},
		{OutcomeSystemError, 106,
			[3]want{{"UNKNOWN", "SYSTEMERROR"}, {"UNKNOWN", "ACQ.SYSTEM_ERROR"}, {"UNKNOWN", "SYSTEMERROR"}},
			[3]want{{"SUCCESS", ""}, {"SUCCESS", ""}, {"SUCCESS", ""}}, true},
		{OutcomeOrderPaid, 107,
			[3]want{{"UNKNOWN", "ORDERPAID"}, {"UNKNOWN", "ACQ.TRADE_HAS_SUCCESS"}, {"UNKNOWN", "ORDERPAID"}},
			[3]want{{"SUCCESS", ""}, {"SUCCESS", ""}, {"SUCCESS", ""}}, true},
		{OutcomeDuplicateContent, 108,
			[3]want{{"USERPAYING", "DUPLICATE_CONTENT"}, {"USERPAYING", "ACQ.CONTEXT_INCONSISTENT"}, {"USERPAYING", "DUPLICATE_CONTENT"}},
			[3]want{{"USERPAYING", ""}, {"USERPAYING", ""}, {"USERPAYING", ""}}, false},
		{OutcomeAuthCodeInvalid, 110,
			[3]want{{"FAILED", "AUTH_CODE_INVALID"}, {"FAILED", "ACQ.PAYMENT_AUTH_CODE_INVALID"}, {"FAILED", "AUTH_CODE_INVALID"}},
			[3]want{{"FAILED", "AUTH_CODE_INVALID"}, {"FAILED", "ACQ.PAYMENT_AUTH_CODE_INVALID"}, {"FAILED", "AUTH_CODE_INVALID"}}, false},
		{OutcomePayingThenCancel, 0,
			[3]want{{"USERPAYING", ""}, {"USERPAYING", ""}, {"USERPAYING", ""}},
			[3]want{{"USERPAYING", ""}, {"USERPAYING", ""}, {"USERPAYING", ""}}, false},
		{OutcomeQuerySystemError, 0,
			[3]want{{"UNKNOWN", "SYSTEMERROR"}, {"UNKNOWN", "ACQ.SYSTEM_ERROR"}, {"UNKNOWN", "SYSTEMERROR"}},
			[3]want{{"UNKNOWN", "SYSTEMERROR"}, {"UNKNOWN", "ACQ.SYSTEM_ERROR"}, {"UNKNOWN", "SYSTEMERROR"}}, true},
		{OutcomeReverseExpire, 0,
			[3]want{{"SUCCESS", ""}, {"SUCCESS", ""}, {"SUCCESS", ""}},
			[3]want{{"SUCCESS", ""}, {"SUCCESS", ""}, {"SUCCESS", ""}}, true},
	}
	wallets := [3]string{"wechat", "alipay", "unionpay"}
	r := newProv(t, nil)
	for i, row := range rows {
		for k, wallet := range wallets {
			no := fmt.Sprintf("W%02d-%s", i, wallet)
			amount := row.amount
			if amount == 0 {
				amount = 1000
				r.p.Script(no, row.outcome)
			}
			where := fmt.Sprintf("%s %s", row.outcome, wallet)
			st := r.submit(devA, no, amount, wallet)
			row.submit[k].check(t, where+" submit", st.State, st.ErrCode)
			if st.Wallet != wallet || st.Amount != amount || st.Op != "submit" {
				t.Errorf("%s submit: %+v", where, st)
			}
			if got := r.entry(no).Charged; got != row.chargedFirst {
				t.Errorf("%s: charged by the submit %v, want %v", where, got, row.chargedFirst)
			}
			q := r.p.Query(devA, no)
			row.query[k].check(t, where+" query", q.State, q.ErrCode)
			if le := r.entry(no); le.Outcome != row.outcome || le.Charges > 1 || le.Wallet != wallet {
				t.Errorf("%s ledger %+v", where, le)
			}
		}
	}
	r.noViolations()
}

// TestPayingThenCancel: the customer cancels on the phone while the device
// polls; never charged, and the order stays closed.
func TestPayingThenCancel(t *testing.T) {
	t.Parallel()
	for _, w := range []struct{ wallet, resubmit string }{
		{"wechat", "ORDERCLOSED"}, {"alipay", "ACQ.TRADE_HAS_CLOSE"}, {"unionpay", ""},
	} {
		r := newProv(t, func(p *Provider) { p.PayingQueries = 2 })
		no := "PC-" + w.wallet
		r.p.Script(no, OutcomePayingThenCancel)
		if st := r.submit(devA, no, 5000, w.wallet); st.State != StateUserPaying {
			t.Fatalf("%s submit: %+v", no, st)
		}
		for i, s := range []string{"USERPAYING", "CLOSED", "CLOSED"} {
			if st := r.p.Query(devA, no); st.State != s || st.TransactionID != "" {
				t.Errorf("%s query %d: %+v, want %s", no, i+1, st, s)
			}
		}
		if st := r.submit(devA, no, 5000, w.wallet); st.State != StateClosed || st.ErrCode != w.resubmit {
			t.Errorf("%s resubmit: %+v, want CLOSED %q", no, st, w.resubmit)
		}
		if f := r.p.Lookup(devA, no); f.State != StateClosed {
			t.Errorf("%s lookup: %+v", no, f)
		}
		if le := r.entry(no); le.Charged || le.Charges != 0 || le.Net() != 0 {
			t.Errorf("%s ledger %+v", no, le)
		}
		r.noViolations()
	}
}

// TestQuerySystemError: charged at submit, but the first QueryErrors
// queries answer a system error before the truth.
func TestQuerySystemError(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		wallet, code string
		errors       int // option; 0 = default 2
	}{{"wechat", "SYSTEMERROR", 0}, {"alipay", "ACQ.SYSTEM_ERROR", 0}, {"wechat", "SYSTEMERROR", 4}} {
		r := newProv(t, func(p *Provider) { p.QueryErrors = c.errors })
		no := fmt.Sprintf("QS-%s-%d", c.wallet, c.errors)
		r.p.Script("", OutcomeQuerySystemError)
		if st := r.submit(devA, no, 2000, c.wallet); st.State != StateUnknown || st.ErrCode != c.code || st.TransactionID != "" {
			t.Fatalf("%s submit: %+v", no, st)
		}
		if le := r.entry(no); !le.Charged {
			t.Fatalf("%s not charged at submit: %+v", no, le)
		}
		k := orDefault(c.errors, 2)
		for i := range k {
			if st := r.p.Query(devA, no); st.State != StateUnknown || st.ErrCode != c.code || st.TransactionID != "" {
				t.Errorf("%s query %d: %+v", no, i+1, st)
			}
		}
		if st := r.p.Query(devA, no); st.State != StateSuccess || st.TransactionID == "" {
			t.Errorf("%s query %d: %+v, want SUCCESS", no, k+1, st)
		}
		if le := r.entry(no); le.Charges != 1 {
			t.Errorf("%s ledger %+v", no, le)
		}
	}
}

// TestResubmitPaid: a known number with the same content after it was
// paid answers ORDERPAID (Alipay ACQ.TRADE_HAS_SUCCESS) and never charges,
// also once refunded.
func TestResubmitPaid(t *testing.T) {
	t.Parallel()
	r := newProv(t, nil)
	for _, w := range []struct{ wallet, code string }{
		{"wechat", "ORDERPAID"}, {"alipay", "ACQ.TRADE_HAS_SUCCESS"}, {"unionpay", "ORDERPAID"},
	} {
		no := "RP-" + w.wallet
		r.submit(devA, no, 3000, w.wallet)
		for i := range 3 {
			if i == 2 {
				r.refund(devA, no, "RPR-"+w.wallet, 1000)
			}
			st := r.submit(devA, no, 3000, w.wallet)
			if st.State != StateUnknown || st.ErrCode != w.code || st.TransactionID != "" || st.Amount != 3000 {
				t.Errorf("%s resubmit %d: %+v", no, i+1, st)
			}
		}
		if le := r.entry(no); le.Charges != 1 || le.Refunded != 1000 {
			t.Errorf("%s ledger %+v", no, le)
		}
	}
	r.noViolations()
}

// TestReverseWindow: a reverse too late changes nothing, the order stays
// charged; OutcomeReverseExpire makes every reverse of an order too late.
func TestReverseWindow(t *testing.T) {
	t.Parallel()
	r := newProv(t, func(p *Provider) { p.ReverseWindow = 7 * 24 * time.Hour })
	r.submit(devA, "RW-in", 1000, "wechat")
	r.submit(devA, "RW-wx", 1000, "wechat")
	r.submit(devA, "RW-ali", 1000, "alipay")
	r.submit(devA, "RW-paying", 102, "wechat")
	r.advance(7 * 24 * time.Hour)
	if st := r.p.Reverse(devA, "RW-in"); st.State != StateRevoked || st.ErrCode != "" {
		t.Errorf("reverse at the window's end: %+v", st)
	}
	r.advance(time.Second)
	for _, c := range []struct{ no, state, code string }{
		{"RW-wx", "SUCCESS", "REVERSE_EXPIRE"},
		{"RW-ali", "SUCCESS", "ACQ.TRADE_CANCEL_TIME_OUT"},
		{"RW-paying", "USERPAYING", "REVERSE_EXPIRE"},
	} {
		for i := range 2 {
			st := r.p.Reverse(devA, c.no)
			if st.State != c.state || st.ErrCode != c.code || st.Recall || st.Op != "reverse" {
				t.Errorf("%s reverse %d past the window: %+v", c.no, i+1, st)
			}
		}
		if le := r.entry(c.no); le.Reversed {
			t.Errorf("%s reversed past the window: %+v", c.no, le)
		}
	}
	if le := r.entry("RW-wx"); !le.Charged || le.Net() != 1000 {
		t.Errorf("RW-wx must stay charged: %+v", le)
	}
	// A new order has a new window.
	r.submit(devA, "RW-new", 1000, "wechat")
	if st := r.p.Reverse(devA, "RW-new"); st.State != StateRevoked {
		t.Errorf("reverse of a new order: %+v", st)
	}

	// No window (the default), but the outcome: every reverse expires.
	r2 := newProv(t, nil)
	r2.p.Script("RX", OutcomeReverseExpire)
	r2.p.Script("RX-ali", OutcomeReverseExpire)
	r2.submit(devA, "RX", 4000, "wechat")
	r2.submit(devA, "RX-ali", 4000, "alipay")
	for i := range 3 {
		if st := r2.p.Reverse(devA, "RX"); st.State != StateSuccess || st.ErrCode != ErrReverseExpire || st.TransactionID == "" {
			t.Errorf("RX reverse %d: %+v", i+1, st)
		}
	}
	if st := r2.p.Reverse(devA, "RX-ali"); st.ErrCode != AliTradeCancelTimeOut {
		t.Errorf("RX-ali reverse: %+v", st)
	}
	if st := r2.p.Query(devA, "RX"); st.State != StateSuccess {
		t.Errorf("RX query: %+v", st)
	}
	if le := r2.entry("RX"); !le.Charged || le.Reversed || le.Net() != 4000 {
		t.Errorf("RX ledger %+v", le)
	}
	// Still refundable: the way to give the money back.
	if rs := r2.refund(devA, "RX", "RXR", 4000); rs.State != RefundSuccess {
		t.Errorf("RX refund: %+v", rs)
	}
	r.noViolations()
	r2.noViolations()
}

// TestOmitOpProvider: with OmitOp the pay.status bodies carry no op.
func TestOmitOpProvider(t *testing.T) {
	t.Parallel()
	r := newProv(t, func(p *Provider) { p.OmitOp = true })
	for _, st := range []PayStatus{
		r.submit(devA, "OP1", 1000, "wechat"), r.p.Query(devA, "OP1"), r.p.Reverse(devA, "OP1"),
		r.p.Query(devA, "NOPE"), r.p.Reverse(devA, "NOPE2"), r.submit(devA, "OP2", 1000, "wechat"),
	} {
		if st.Op != "" {
			t.Errorf("op %q with OmitOp: %+v", st.Op, st)
		}
	}
}

// TestRefundRules: what a refund may not do.
func TestRefundRules(t *testing.T) {
	t.Parallel()
	r := newProv(t, nil)
	r.freeze(devA, "DEP", 10000, "wechat")
	r.freeze(devA, "DEP-ali", 10000, "alipay")
	r.submit(devA, "PAY", 5000, "wechat")
	r.submit(devA, "PAY-ali", 5000, "alipay")
	r.submit(devA, "PAYING", 102, "alipay")

	steps := []struct {
		name, no, refundNo string
		amount             int64
		want               want
	}{
		{"frozen deposit", "DEP", "R1", 100, want{"FAIL", "TRADE_STATE_ERROR"}},
		{"frozen deposit (alipay)", "DEP-ali", "R2", 100, want{"FAIL", "ACQ.TRADE_STATUS_ERROR"}},
		{"unpaid (alipay)", "PAYING", "R3", 1, want{"FAIL", "ACQ.TRADE_STATUS_ERROR"}},
		{"unknown order", "NOPE", "R4", 1, want{"FAIL", "ORDERNOTEXIST"}},
		{"more than paid", "PAY", "R5", 5001, want{"FAIL", "REFUND_AMOUNT_EXCEEDED"}},
		{"more than paid (alipay)", "PAY-ali", "R6", 5001, want{"FAIL", "ACQ.REASON_TRADE_REFUND_FEE_ERR"}},
		{"part", "PAY", "R7", 2000, want{"SUCCESS", ""}},
		{"more than is left", "PAY", "R8", 3001, want{"FAIL", "REFUND_AMOUNT_EXCEEDED"}},
		{"the rest", "PAY", "R9", 3000, want{"SUCCESS", ""}},
		{"same number, other amount", "PAY", "R9", 2999, want{"FAIL", "INVALID_REQUEST"}},
		{"same number, other order (alipay)", "PAY-ali", "R9", 3000, want{"FAIL", "INVALID_REQUEST"}},
		{"zero", "PAY", "R10", 0, want{"FAIL", "INVALID_REQUEST"}},
	}
	run := func() {
		for _, s := range steps {
			rs := r.refund(devA, s.no, s.refundNo, s.amount)
			s.want.check(t, s.name, rs.State, rs.ErrCode)
		}
	}
	run()
	if st := r.p.Query(devA, "PAY"); st.State != StateRefund {
		t.Errorf("a refunded order queries as %+v", st)
	}
	// Consumed: only the consumed part, less what was refunded.
	if st := r.p.Deposit(devA, "consume", DepositRequest{OutTradeNo: "DEP", OutRequestNo: "C1", Amount: 3000}); st.State != RefundSuccess {
		t.Fatalf("consume: %+v", st)
	}
	steps = []struct {
		name, no, refundNo string
		amount             int64
		want               want
	}{
		{"more than consumed", "DEP", "D1", 3001, want{"FAIL", "REFUND_AMOUNT_EXCEEDED"}},
		{"the frozen refused number, now consumed", "DEP", "R1", 1000, want{"SUCCESS", ""}},
		{"more than is left of the consumed", "DEP", "D2", 2001, want{"FAIL", "REFUND_AMOUNT_EXCEEDED"}},
		{"the rest of the consumed", "DEP", "D3", 2000, want{"SUCCESS", ""}},
	}
	run()
	if le := r.entry("DEP"); le.Refunded != 3000 || le.Consumed != 3000 || le.ReleasedFen != 7000 || le.Net() != 0 || le.RefundCount != 2 {
		t.Errorf("DEP ledger %+v", le)
	}
	r.noViolations()
}

// TestRefundLimits: 50 refunds per order, and the refund window.
func TestRefundLimits(t *testing.T) {
	t.Parallel()
	for _, w := range []struct{ wallet, tooMany, overdue string }{
		{"wechat", "INVALID_REQUEST", "TRADE_OVERDUE"},
		{"alipay", "ACQ.TRADE_NOT_ALLOW_REFUND", "ACQ.TRADE_NOT_ALLOW_REFUND"},
		{"unionpay", "INVALID_REQUEST", "TRADE_OVERDUE"},
	} {
		r := newProv(t, nil)
		r.submit(devA, "L", 10000, w.wallet)
		for i := range MaxRefundsPerOrder {
			if rs := r.refund(devA, "L", fmt.Sprint("L-", i), 1); rs.State != RefundSuccess {
				t.Fatalf("%s refund %d: %+v", w.wallet, i+1, rs)
			}
		}
		if rs := r.refund(devA, "L", "L-51", 1); rs.State != RefundFail || rs.ErrCode != w.tooMany {
			t.Errorf("%s 51st refund: %+v", w.wallet, rs)
		}
		if le := r.entry("L"); le.RefundCount != 50 || le.Refunded != 50 || len(le.Refunds) != 50 {
			t.Errorf("%s ledger: %d refunds, %d fen", w.wallet, le.RefundCount, le.Refunded)
		}

		r.submit(devA, "OLD", 10000, w.wallet)
		r.advance(DefaultRefundWindow)
		if rs := r.refund(devA, "OLD", "OLD-1", 100); rs.State != RefundSuccess {
			t.Errorf("%s refund at the window's end: %+v", w.wallet, rs)
		}
		r.advance(time.Second)
		if rs := r.refund(devA, "OLD", "OLD-2", 100); rs.State != RefundFail || rs.ErrCode != w.overdue {
			t.Errorf("%s refund past a year: %+v", w.wallet, rs)
		}
		// An accepted refund is still answered the same past the window.
		if rs := r.refund(devA, "OLD", "OLD-1", 100); rs.State != RefundSuccess {
			t.Errorf("%s retry of an old refund: %+v", w.wallet, rs)
		}
		r.noViolations()
	}
	// The window is an option; negative is no limit.
	r := newProv(t, func(p *Provider) { p.RefundWindow = 90 * 24 * time.Hour })
	r.submit(devA, "Q", 1000, "wechat")
	r.advance(91 * 24 * time.Hour)
	if rs := r.refund(devA, "Q", "Q-1", 1); rs.ErrCode != ErrTradeOverdue {
		t.Errorf("90-day window: %+v", rs)
	}
	r = newProv(t, func(p *Provider) { p.RefundWindow = -1 })
	r.submit(devA, "Q", 1000, "wechat")
	r.advance(3 * DefaultRefundWindow)
	if rs := r.refund(devA, "Q", "Q-1", 1); rs.State != RefundSuccess {
		t.Errorf("no window: %+v", rs)
	}
}

// TestRefundOutcomes: refunds that take time, go wrong after the money
// left, or fail after they were accepted.
func TestRefundOutcomes(t *testing.T) {
	t.Parallel()
	type step struct {
		op       string // request, query, new (request with another out_refund_no)
		want     want
		refunded int64 // the ledger's Refunded after the step
	}
	rows := []struct {
		name    string
		outcome Outcome
		wallet  string
		amount  int64 // the order's; every refund is of 600
		steps   []step
		held    int64 // RefundHeld at the end
	}{
		{"success", OutcomeSuccess, "wechat", 1000, []step{
			{"request", want{"SUCCESS", ""}, 600}, {"query", want{"SUCCESS", ""}, 600}, {"request", want{"SUCCESS", ""}, 600},
		}, 0},
		{"processing", OutcomeRefundProcessing, "wechat", 1000, []step{
			{"request", want{"PROCESSING", ""}, 0}, {"request", want{"PROCESSING", ""}, 0},
			{"query", want{"PROCESSING", ""}, 0}, {"query", want{"PROCESSING", ""}, 0},
			{"query", want{"SUCCESS", ""}, 600}, {"query", want{"SUCCESS", ""}, 600}, {"request", want{"SUCCESS", ""}, 600},
		}, 0},
		{"abnormal", OutcomeRefundAbnormal, "wechat", 1000, []step{
			{"request", want{"PROCESSING", ""}, 0}, {"query", want{"PROCESSING", ""}, 0}, {"query", want{"PROCESSING", ""}, 0},
			{"query", want{"ABNORMAL", ""}, 0}, {"request", want{"ABNORMAL", ""}, 0},
			// The abnormal refund still holds its amount: no second refund of it.
			{"new", want{"FAIL", "REFUND_AMOUNT_EXCEEDED"}, 0},
		}, 600},
		{"closed", OutcomeRefundClosed, "alipay", 1000, []step{
			{"request", want{"PROCESSING", ""}, 0}, {"query", want{"PROCESSING", ""}, 0}, {"query", want{"PROCESSING", ""}, 0},
			{"query", want{"CLOSED", ""}, 0}, {"request", want{"CLOSED", ""}, 0},
			// Closed: nothing refunded, the amount may be refunded anew.
			{"new", want{"SUCCESS", ""}, 600},
		}, 0},
		{"system error", OutcomeRefundSystemError, "wechat", 1500, []step{
			{"request", want{"FAIL", "SYSTEMERROR"}, 600}, {"request", want{"SUCCESS", ""}, 600},
			{"query", want{"SUCCESS", ""}, 600},
			// A new number is a new refund: the double refund a device must avoid.
			{"new", want{"SUCCESS", ""}, 1200},
		}, 0},
		{"system error (alipay)", OutcomeRefundSystemError, "alipay", 1000, []step{
			{"request", want{"FAIL", "ACQ.SYSTEM_ERROR"}, 600}, {"query", want{"SUCCESS", ""}, 600}, {"request", want{"SUCCESS", ""}, 600},
		}, 0},
	}
	for i, row := range rows {
		r := newProv(t, nil)
		no, refundNo := fmt.Sprint("RO", i), fmt.Sprint("ROR", i)
		r.submit(devA, no, row.amount, row.wallet)
		r.p.ScriptRefund(refundNo, row.outcome)
		var id string
		for j, s := range row.steps {
			var rs RefundStatus
			switch s.op {
			case "request":
				rs = r.refund(devA, no, refundNo, 600)
			case "query":
				rs = r.p.RefundQuery(devA, RefundQuery{OutTradeNo: no, OutRefundNo: refundNo})
			case "new":
				rs = r.refund(devA, no, refundNo+"-new", 600)
			}
			where := fmt.Sprintf("%s step %d (%s)", row.name, j+1, s.op)
			s.want.check(t, where, rs.State, rs.ErrCode)
			if s.op != "new" && rs.State != RefundFail {
				if rs.OutRefundNo != refundNo || rs.OutTradeNo != no || rs.Amount != 600 || rs.RefundID == "" || (id != "" && rs.RefundID != id) {
					t.Errorf("%s: %+v", where, rs)
				}
				id = rs.RefundID
			}
			if le := r.entry(no); le.Refunded != s.refunded {
				t.Errorf("%s: ledger refunded %d, want %d", where, le.Refunded, s.refunded)
			}
		}
		le := r.entry(no)
		if le.RefundHeld != row.held || le.DoubleRefunds != 0 {
			t.Errorf("%s: ledger %+v", row.name, le)
		}
		for _, lr := range le.Refunds {
			if lr.Returned > 1 {
				t.Errorf("%s: %s returned twice", row.name, lr.OutRefundNo)
			}
		}
		r.noViolations()
	}
}

// TestScriptRefundQueue: "" scripts the next new refunds, first in first
// out; a number's own script wins; refused requests use none up.
func TestScriptRefundQueue(t *testing.T) {
	t.Parallel()
	r := newProv(t, nil)
	r.submit(devA, "S", 10000, "wechat")
	r.p.ScriptRefund("", OutcomeRefundProcessing)
	r.p.ScriptRefund("", OutcomeRefundSystemError)
	r.p.ScriptRefund("S-own", OutcomeRefundAbnormal)
	if rs := r.refund(devA, "S", "S-bad", 20000); rs.ErrCode != ErrRefundExceeded {
		t.Fatalf("refused: %+v", rs)
	}
	for _, c := range []struct {
		no    string
		state string
	}{{"S-own", "PROCESSING"}, {"S-1", "PROCESSING"}, {"S-2", "FAIL"}, {"S-3", "SUCCESS"}} {
		if rs := r.refund(devA, "S", c.no, 100); rs.State != c.state {
			t.Errorf("%s: %+v, want %s", c.no, rs, c.state)
		}
	}
	outcomes := map[string]Outcome{}
	for _, lr := range r.entry("S").Refunds {
		outcomes[lr.OutRefundNo] = lr.Outcome
	}
	if outcomes["S-own"] != OutcomeRefundAbnormal || outcomes["S-1"] != OutcomeRefundProcessing ||
		outcomes["S-2"] != OutcomeRefundSystemError || outcomes["S-3"] != OutcomeSuccess {
		t.Errorf("outcomes %v", outcomes)
	}
}

// TestRefundQueryNotFound: refund.query knows only refunds it accepted for
// that device and order.
func TestRefundQueryNotFound(t *testing.T) {
	t.Parallel()
	r := newProv(t, nil)
	r.submit(devA, "N", 1000, "wechat")
	r.refund(devA, "N", "N-ok", 100)
	r.refund(devA, "N", "N-refused", 5000)
	for _, c := range []struct {
		name, dev string
		q         RefundQuery
	}{
		{"never sent", devA, RefundQuery{OutTradeNo: "N", OutRefundNo: "N-never"}},
		{"refused (nothing was created)", devA, RefundQuery{OutTradeNo: "N", OutRefundNo: "N-refused"}},
		{"another device's", devB, RefundQuery{OutTradeNo: "N", OutRefundNo: "N-ok"}},
		{"another order", devA, RefundQuery{OutTradeNo: "M", OutRefundNo: "N-ok"}},
	} {
		rs := r.p.RefundQuery(c.dev, c.q)
		if rs.State != StateNotFound || rs.ErrCode != ErrRefundNotExist || rs.OutRefundNo != c.q.OutRefundNo || rs.RefundID != "" {
			t.Errorf("%s: %+v", c.name, rs)
		}
	}
	if rs := r.p.RefundQuery(devA, RefundQuery{OutRefundNo: "N-ok"}); rs.State != RefundSuccess || rs.OutTradeNo != "N" {
		t.Errorf("by out_refund_no alone: %+v", rs)
	}
}

// TestDepositStateQuery: deposit.query with no out_request_no tells the
// deposit's own state and amounts.
func TestDepositStateQuery(t *testing.T) {
	t.Parallel()
	r := newProv(t, nil)
	q := func(dev, no string) DepositStatus { return r.p.DepositQuery(dev, DepositRequest{OutTradeNo: no}) }
	r.freeze(devA, "F", 8000, "wechat")
	r.freeze(devA, "U", 8000, "wechat")
	r.submit(devA, "P", 8000, "wechat")
	r.p.Submit(devA, PaySubmit{OutTradeNo: "W", AuthCode: "x", Amount: 8002, Wallet: "wechat", Deposit: true})
	check := func(name string, st DepositStatus, state, ds string, frozen, consumed, released int64) {
		t.Helper()
		if st.Op != "query" || st.State != state || st.DepositState != ds || st.Frozen != frozen || st.Consumed != consumed || st.Released != released {
			t.Errorf("%s: %+v", name, st)
		}
	}
	check("frozen", q(devA, "F"), "SUCCESS", "FROZEN", 8000, 0, 0)
	check("waiting", q(devA, "W"), "SUCCESS", "USERPAYING", 0, 0, 0)
	r.p.Deposit(devA, "consume", DepositRequest{OutTradeNo: "F", OutRequestNo: "F1", Amount: 2500})
	check("consumed", q(devA, "F"), "SUCCESS", "CONSUMED", 8000, 2500, 5500)
	r.p.Deposit(devA, "unfreeze", DepositRequest{OutTradeNo: "U", OutRequestNo: "U1"})
	check("released", q(devA, "U"), "SUCCESS", "RELEASED", 8000, 0, 8000)
	if st := q(devA, "P"); st.State != RefundFail || st.ErrCode != ErrNotDeposit {
		t.Errorf("not a deposit: %+v", st)
	}
	for _, c := range []struct{ dev, no string }{{devA, "NOPE"}, {devB, "F"}} {
		if st := q(c.dev, c.no); st.State != RefundFail || st.ErrCode != ErrOrderNotExist || st.DepositState != "" || st.Frozen != 0 {
			t.Errorf("%s from %s: %+v", c.no, c.dev, st)
		}
	}
	// An operation's query still answers that operation.
	if st := r.p.DepositQuery(devA, DepositRequest{OutTradeNo: "F", OutRequestNo: "F1"}); st.State != RefundSuccess || st.Consumed != 2500 || st.Op != "query" {
		t.Errorf("query of F1: %+v", st)
	}
	if st := r.p.DepositQuery(devA, DepositRequest{OutTradeNo: "F", OutRequestNo: "F9"}); st.State != DepositNotFound || st.DepositState != DepositConsumed {
		t.Errorf("query of F9: %+v", st)
	}
}

// TestDepositAutoRelease: a deposit left frozen past DepositReleaseAge goes
// back to the customer by itself; the device learns it when it acts.
func TestDepositAutoRelease(t *testing.T) {
	t.Parallel()
	for _, w := range []struct{ wallet, code string }{{"wechat", "ORDER_FINISHED"}, {"alipay", "ACQ.AUTH_ORDER_HAS_CLOSED"}} {
		r := newProv(t, nil)
		r.freeze(devA, "A", 9000, w.wallet)
		r.freeze(devA, "B", 1000, w.wallet)
		r.advance(DefaultDepositReleaseAge)
		if st := r.p.DepositQuery(devA, DepositRequest{OutTradeNo: "A"}); st.DepositState != DepositFrozen {
			t.Errorf("%s at 30 days: %+v", w.wallet, st)
		}
		if s := r.p.Summary(); s.FrozenFen != 10000 || s.ReleasedFen != 0 {
			t.Errorf("%s summary at 30 days: %v", w.wallet, s)
		}
		r.advance(time.Second)
		st := r.p.Deposit(devA, "consume", DepositRequest{OutTradeNo: "A", OutRequestNo: "A1", Amount: 100})
		if st.State != RefundFail || st.ErrCode != w.code || st.DepositState != DepositReleased || st.Released != 9000 || st.Consumed != 0 {
			t.Errorf("%s consume after the release: %+v", w.wallet, st)
		}
		if st := r.p.Deposit(devA, "unfreeze", DepositRequest{OutTradeNo: "A", OutRequestNo: "A2"}); st.ErrCode != w.code {
			t.Errorf("%s unfreeze after the release: %+v", w.wallet, st)
		}
		if st := r.p.DepositQuery(devA, DepositRequest{OutTradeNo: "A"}); st.State != RefundSuccess || st.DepositState != DepositReleased || st.Released != 9000 {
			t.Errorf("%s query after the release: %+v", w.wallet, st)
		}
		if rs := r.refund(devA, "A", "AR", 100); rs.State != RefundFail {
			t.Errorf("%s refund of a released deposit: %+v", w.wallet, rs)
		}
		if st := r.p.Reverse(devA, "A"); st.ErrCode != ErrTradeStateError {
			t.Errorf("%s reverse of a released deposit: %+v", w.wallet, st)
		}
		le := r.entry("A")
		if !le.Released || !le.AutoReleased || le.ReleasedFen != 9000 || le.Frozen != 0 || le.Net() != 0 || le.Reversed {
			t.Errorf("%s ledger %+v", w.wallet, le)
		}
		// The ledger alone (no request about B) applies the release too.
		s := r.p.Summary()
		if s.AutoReleased != 2 || s.ReleasedFen != 10000 || s.FrozenFen != 0 || s.NetFen != 0 || s.ChargedFen != 10000 {
			t.Errorf("%s summary %v", w.wallet, s)
		}
		r.noViolations()
	}
	// The age is an option; negative is never.
	r := newProv(t, func(p *Provider) { p.DepositReleaseAge = time.Hour })
	r.freeze(devA, "H", 500, "wechat")
	r.advance(time.Hour + time.Second)
	if le := r.entry("H"); !le.AutoReleased {
		t.Errorf("one-hour age: %+v", le)
	}
	r = newProv(t, func(p *Provider) { p.DepositReleaseAge = -1 })
	r.freeze(devA, "N", 500, "wechat")
	r.advance(10 * DefaultDepositReleaseAge)
	if st := r.p.Deposit(devA, "consume", DepositRequest{OutTradeNo: "N", OutRequestNo: "N1", Amount: 500}); st.State != RefundSuccess {
		t.Errorf("never released: %+v", st)
	}
}

// TestOrderOwnership: another device sees none of a device's orders,
// refunds or deposit operations, and cannot move them.
func TestOrderOwnership(t *testing.T) {
	t.Parallel()
	r := newProv(t, nil)
	r.submit(devA, "O", 3000, "wechat")
	r.freeze(devA, "OD", 3000, "wechat")
	r.refund(devA, "O", "OR", 1000)
	r.p.Deposit(devA, "consume", DepositRequest{OutTradeNo: "OD", OutRequestNo: "ODC", Amount: 1000})

	if st := r.p.Query(devB, "O"); st.State != StateNotPay || st.ErrCode != ErrOrderNotExist || st.Amount != 0 || st.TransactionID != "" {
		t.Errorf("query: %+v", st)
	}
	if f := r.p.Lookup(devB, "O"); f.State != StateNotPay || f.ErrCode != ErrOrderNotExist || f.Amount != 0 {
		t.Errorf("lookup: %+v", f)
	}
	if st := r.p.Reverse(devB, "O"); st.State != StateRevoked || st.ErrCode != ErrOrderNotExist || st.Amount != 0 {
		t.Errorf("reverse: %+v", st)
	}
	if rs := r.refund(devB, "O", "OR2", 100); rs.State != RefundFail || rs.ErrCode != ErrOrderNotExist {
		t.Errorf("refund: %+v", rs)
	}
	if rs := r.refund(devB, "O", "OR", 1000); rs.State != RefundFail || rs.ErrCode != ErrOrderNotExist {
		t.Errorf("refund with A's number: %+v", rs)
	}
	if rs := r.p.RefundQuery(devB, RefundQuery{OutTradeNo: "O", OutRefundNo: "OR"}); rs.State != StateNotFound {
		t.Errorf("refund.query: %+v", rs)
	}
	for _, op := range []string{"consume", "unfreeze"} {
		if st := r.p.Deposit(devB, op, DepositRequest{OutTradeNo: "OD", OutRequestNo: "X-" + op, Amount: 100}); st.State != RefundFail || st.ErrCode != ErrOrderNotExist || st.DepositState != "" {
			t.Errorf("%s: %+v", op, st)
		}
	}
	if st := r.p.Deposit(devB, "consume", DepositRequest{OutTradeNo: "OD", OutRequestNo: "ODC", Amount: 1000}); st.State != RefundFail {
		t.Errorf("consume with A's request number: %+v", st)
	}
	if st := r.p.DepositQuery(devB, DepositRequest{OutTradeNo: "OD", OutRequestNo: "ODC"}); st.State != DepositNotFound || st.Consumed != 0 {
		t.Errorf("deposit.query of A's operation: %+v", st)
	}
	if st := r.submit(devB, "O", 3000, "wechat"); st.State != StateUnknown || st.ErrCode != ErrOutTradeNoUsed || st.TransactionID != "" {
		t.Errorf("submit of A's number: %+v", st)
	}
	// A's order is as it was: no tombstone, no reverse, no new refund.
	if st := r.p.Query(devA, "O"); st.State != StateRefund || st.TransactionID == "" {
		t.Errorf("A's query: %+v", st)
	}
	le := r.entry("O")
	if le.Dev != devA || le.Reversed || le.Refunded != 1000 || le.Charges != 1 || le.RefundCount != 1 {
		t.Errorf("A's ledger %+v", le)
	}
	if le := r.entry("OD"); le.Consumed != 1000 {
		t.Errorf("A's deposit %+v", le)
	}
	// B's own reverse of a number nobody used still makes B's tombstone,
	// which A does not see either.
	r.p.Reverse(devB, "T")
	if st := r.submit(devB, "T", 100, "wechat"); st.ErrCode != ErrOrderReversed {
		t.Errorf("B's submit after its reverse: %+v", st)
	}
	if st := r.p.Query(devA, "T"); st.ErrCode != ErrOrderNotExist {
		t.Errorf("A's query of B's tombstone: %+v", st)
	}
	if st := r.submit(devA, "T", 100, "wechat"); st.ErrCode != ErrOutTradeNoUsed || st.State != StateUnknown {
		t.Errorf("A's submit over B's tombstone: %+v", st)
	}
	if le := r.entry("T"); le.Charged {
		t.Errorf("tombstone charged: %+v", le)
	}
	r.noViolations()
}

// TestCheck: Check finds each broken invariant (made here by hand: the
// provider itself never makes them).
func TestCheck(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		corrupt func(r *provRig)
		words   string
	}{
		{"double charge", func(r *provRig) { r.p.orders["P"].charges = 2 }, "money taken 2 times"},
		{"refund over the charge", func(r *provRig) { r.p.orders["P"].refunded = 1001 }, "refunded 1001 fen of 1000"},
		{"refund and reverse", func(r *provRig) { o := r.p.orders["P"]; o.refunded, o.reversed = 10, true }, "give back more than the 1000 taken"},
		{"refund over the consumed", func(r *provRig) { o := r.p.orders["D"]; o.consumed, o.released, o.refunded = 100, true, 101 }, "consumed 100"},
		{"refunds, releases and a reverse over the frozen", func(r *provRig) {
			o := r.p.orders["D"]
			o.consumed, o.released, o.refunded, o.reversed = 100, true, 10, true
		}, "more than the 1000 frozen"},
		{"refund of a frozen deposit", func(r *provRig) {
			r.p.orders["D"].refunds = append(r.p.orders["D"].refunds, &refund{no: "BAD", frozen: true})
		}, "refund BAD of a deposit still frozen"},
		{"one number refunded twice", func(r *provRig) { r.p.refunds["PR"].returned = 2 }, "refund PR returned the money 2 times"},
		{"given back, never charged", func(r *provRig) { r.p.orders["U"].refunded = 5 }, "never charged"},
	}
	for _, c := range cases {
		r := newProv(t, nil)
		r.submit(devA, "P", 1000, "wechat")
		r.refund(devA, "P", "PR", 100)
		r.freeze(devA, "D", 1000, "wechat")
		r.submit(devA, "U", 102, "wechat")
		r.noViolations()
		c.corrupt(r)
		v := r.p.Check()
		if len(v) == 0 || !strings.Contains(strings.Join(v, "\n"), c.words) {
			t.Errorf("%s: Check %q, want %q", c.name, v, c.words)
		}
		if le := r.entry("P"); c.name == "one number refunded twice" && le.DoubleRefunds != 1 {
			t.Errorf("ledger does not show the double refund: %+v", le)
		}
	}
}

// TestLedgerDeposits: the summary counts releases as money returned and
// what is frozen now.
func TestLedgerDeposits(t *testing.T) {
	t.Parallel()
	r := newProv(t, nil)
	r.freeze(devA, "F", 10000, "wechat") // stays frozen
	r.freeze(devA, "C", 10000, "wechat") // consumed 3000, 7000 released
	r.freeze(devA, "U", 5000, "wechat")  // unfrozen
	r.submit(devA, "P", 2000, "wechat")
	r.p.Deposit(devA, "consume", DepositRequest{OutTradeNo: "C", OutRequestNo: "C1", Amount: 3000})
	r.p.Deposit(devA, "unfreeze", DepositRequest{OutTradeNo: "U", OutRequestNo: "U1"})
	r.refund(devA, "C", "CR", 1000)
	r.p.ScriptRefund("PR", OutcomeRefundProcessing)
	r.refund(devA, "P", "PR", 500)
	want := LedgerSummary{Orders: 4, Charged: 4, ChargedFen: 27000, Refunded: 1, RefundedFen: 1000, RefundHeldFen: 500,
		ReleasedFen: 12000, FrozenFen: 10000, NetFen: 27000 - 1000 - 12000}
	if got := r.p.Summary(); got != want {
		t.Errorf("summary\n got %v\nwant %v", got, want)
	}
	if n := r.entry("F").Net() + r.entry("C").Net() + r.entry("U").Net() + r.entry("P").Net(); n != want.NetFen {
		t.Errorf("entries' Net %d, summary's %d", n, want.NetFen)
	}
	if le := r.entry("C"); le.Net() != 2000 || le.ReleasedFen != 7000 || le.Frozen != 0 {
		t.Errorf("C %+v", le)
	}
	if le := r.entry("P"); le.RefundHeld != 500 || le.Refunded != 0 || le.State != StateRefund {
		t.Errorf("P %+v", le)
	}
	r.noViolations()
}
