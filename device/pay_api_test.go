package device

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/platform"
)

// fast are timings that run the real flows in milliseconds.
var fast = config.Pay{PollIntervalMS: 20, PollTimeoutMS: 400, ReverseAfterMS: 150, CollectTimeoutMS: 3000, ReverseMaxTries: 10, RefundPollMS: 20, DepositReleaseAfterMS: 2592000000}

func newPayRig(t *testing.T) *rig {
	r := newRig(t)
	r.cfg.Pay = fast
	r.logs = &lockedBuffer{}
	return r
}

// api calls the agent's local API and decodes the JSON answer into out.
func (r *rig) api(method, path string, body any, out any) int {
	r.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, "http://"+r.agent.APIAddr()+path, rd)
	req.Header.Set("Authorization", "Bearer "+r.agent.APIToken())
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// waitPayment polls GET /v1/payments/{no} until cond holds.
func (r *rig) waitPayment(no string, d time.Duration, cond func(View) bool) View {
	r.t.Helper()
	deadline := time.Now().Add(d)
	var v View
	for time.Now().Before(deadline) {
		r.api("GET", "/v1/payments/"+no, nil, &v)
		if cond(v) {
			return v
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.t.Fatalf("payment %s never matched; last %+v", no, v)
	return v
}

const wechatCode = "134567890123459876"

// With nobody answering (platform down), a scanned payment is never shown
// as failed: it goes UNKNOWN, says 结果待确认, and tells the cashier not
// to take cash. The code is in neither the log nor the journal file.
func TestPaymentWithNoAnswerIsUnknown(t *testing.T) {
	r := newPayRig(t)
	r.start()
	var v View
	if code := r.api("POST", "/v1/payments", map[string]any{"amount": 12850, "desc": "咖啡"}, &v); code != http.StatusCreated {
		t.Fatalf("POST /v1/payments: %d %+v", code, v)
	}
	if v.State != AwaitingCode || v.DoNotTakeCash || !strings.HasPrefix(v.OutTradeNo, "P") {
		t.Fatalf("started %+v", v)
	}
	r.scans <- wechatCode
	v = r.waitPayment(v.OutTradeNo, 15*time.Second, func(v View) bool { return v.State == Unknown })
	if !v.DoNotTakeCash || !strings.Contains(v.Message, "结果待确认") || v.Wallet != "wechat" || v.CodeTail != "9876" {
		t.Fatalf("unknown payment shown as %+v", v)
	}
	r.stop()
	for name, data := range map[string]string{"log": r.logs.String(), "journal": readFile(t, r.dbPath)} {
		if strings.Contains(data, wechatCode) || strings.Contains(data, wechatCode[:12]) {
			t.Errorf("the payment code is in the %s in clear", name)
		}
	}
}

func readFile(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A scan that is no payment code is refused with no request sent; the
// payment keeps waiting and takes the next, valid code.
func TestUnknownCodeRefusedWithoutRequest(t *testing.T) {
	r := newPayRig(t)
	r.start()
	var v View
	r.api("POST", "/v1/payments", map[string]any{"amount": 100}, &v)
	r.scans <- "6912345678901" // a product barcode
	r.noEventOf("pay.submit", 300*time.Millisecond)
	if cur := r.waitPayment(v.OutTradeNo, time.Second, func(View) bool { return true }); cur.State != AwaitingCode {
		t.Fatalf("after a bad scan: %s", cur.State)
	}
	r.scans <- wechatCode
	r.waitPayment(v.OutTradeNo, 15*time.Second, func(v View) bool { return v.State == Submitted || v.State == Polling || v.State == Unknown })
}

func TestCollectTimesOutCancelled(t *testing.T) {
	r := newPayRig(t)
	r.start()
	m := r.send("pay.collect", map[string]any{"out_trade_no": "C-timeout", "amount": 500, "timeout_s": 1})
	res := r.waitFor("pay.result", 15*time.Second)
	b := body[map[string]any](t, res)
	if res.Ref != m.ID || b["state"] != Cancelled || b["err_code"] != "TIMEOUT" {
		t.Fatalf("pay.result %s ref %s", res.Body, res.Ref)
	}
	// The collect's jti, redelivered, is answered with the same result.
	tok, _ := r.plat.Sign(m)
	r.plat.Publish(devID, tok)
	again := r.answer(m.ID, 15*time.Second)
	if again.ID != res.ID {
		t.Fatalf("redelivered collect answered with %s %s", again.Type, again.Body)
	}
}

func TestPaymentAPIErrors(t *testing.T) {
	r := newPayRig(t)
	r.start()
	var first View
	r.api("POST", "/v1/payments", map[string]any{"amount": 100}, &first)
	tests := []struct {
		method, path string
		body         any
		status       int
		code         string
	}{
		{"POST", "/v1/payments", map[string]any{"amount": 100}, http.StatusConflict, "busy"},
		{"POST", "/v1/payments", map[string]any{"amount": 0}, http.StatusBadRequest, "bad_request"},
		{"POST", "/v1/payments", map[string]any{"amount": 12.5}, http.StatusBadRequest, "bad_request"},
		{"POST", "/v1/payments", map[string]any{"amount": 1, "tip": 5}, http.StatusBadRequest, "bad_request"},
		{"POST", "/v1/payments", "[", http.StatusBadRequest, "bad_request"},
		{"GET", "/v1/payments/nope", nil, http.StatusNotFound, "not_found"},
		{"POST", "/v1/payments/nope/cancel", nil, http.StatusNotFound, "not_found"},
		{"POST", "/v1/payments/" + first.OutTradeNo + "/refund", map[string]any{"amount": 1, "staff_id": "s1", "pin": testPIN}, http.StatusForbidden, "no_roster"},
	}
	for _, tc := range tests {
		var e apiError
		if got := r.api(tc.method, tc.path, tc.body, &e); got != tc.status || e.Error.Code != tc.code || e.Error.Message == "" {
			t.Errorf("%s %s %v: %d %+v, want %d %s", tc.method, tc.path, tc.body, got, e, tc.status, tc.code)
		}
	}
	// Cancelling the waiting payment ends it CANCELLED; then it is not cancellable.
	if got := r.api("POST", "/v1/payments/"+first.OutTradeNo+"/cancel", nil, nil); got != http.StatusAccepted {
		t.Fatalf("cancel: %d", got)
	}
	r.waitPayment(first.OutTradeNo, 15*time.Second, func(v View) bool { return v.State == Cancelled && !v.DoNotTakeCash })
	var e apiError
	if got := r.api("POST", "/v1/payments/"+first.OutTradeNo+"/cancel", nil, &e); got != http.StatusConflict {
		t.Fatalf("second cancel: %d %+v", got, e)
	}
}

// The SSE stream tells the cashier app of each payment state change.
func TestEventsStream(t *testing.T) {
	r := newPayRig(t)
	r.start()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+r.agent.APIAddr()+"/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+r.agent.APIToken())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	var v View
	r.api("POST", "/v1/payments", map[string]any{"amount": 300}, &v)
	r.scans <- wechatCode
	sc := bufio.NewScanner(resp.Body)
	var states []string
	event := ""
	for sc.Scan() && len(states) < 3 {
		line := sc.Text()
		if strings.HasPrefix(line, "event: ") {
			event = strings.TrimPrefix(line, "event: ")
		}
		if strings.HasPrefix(line, "data: ") && event == "payment" {
			var pv View
			json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &pv)
			if pv.OutTradeNo == v.OutTradeNo {
				states = append(states, pv.State)
			}
		}
	}
	if len(states) < 3 || states[0] != AwaitingCode || states[1] != Submitted {
		t.Fatalf("streamed states %v", states)
	}
}

// noEventOf asserts that no event of type typ arrives for d.
func (r *rig) noEventOf(typ string, d time.Duration) {
	r.t.Helper()
	timeout := time.After(d)
	for {
		select {
		case e := <-r.events:
			if e.State == nil && e.Message.Type == typ {
				r.t.Fatalf("unexpected %s %s", typ, e.Message.Body)
			}
		case <-timeout:
			return
		}
	}
}

// The state says what the device asks for (请出示付款码 ￥N), to the
// platform (retained state) and to the cashier app (GET /v1/state).
func TestStateShowsPaymentPrompt(t *testing.T) {
	r := newPayRig(t)
	r.cfg.Pay.CollectTimeoutMS = 60000 // the prompt must outlast a slow check
	r.start()
	var v View
	r.api("POST", "/v1/payments", map[string]any{"amount": 12850}, &v)
	s := r.waitState(15*time.Second, func(s State) bool { return s.Pay != nil })
	if s.Pay.OutTradeNo != v.OutTradeNo || s.Pay.State != AwaitingCode || s.Pay.Message != "请出示付款码 ￥128.50" {
		t.Fatalf("state pay %+v", s.Pay)
	}
	var local State
	r.api("GET", "/v1/state", nil, &local)
	if local.Pay == nil || local.Pay.Amount != 12850 {
		t.Fatalf("local state %+v", local.Pay)
	}
	r.api("POST", "/v1/payments/"+v.OutTradeNo+"/cancel", nil, nil)
	if s := r.waitState(15*time.Second, func(s State) bool { return s.Pay == nil && s.Online }); s.Pay != nil {
		t.Fatalf("pay %+v", *s.Pay)
	}
}

// A new payment right after the waiting one was cancelled is taken, even
// in the moment before the cancelled flow lets go of the waiting slot; one
// still waiting for its code holds it.
func TestNewPaymentRightAfterCancel(t *testing.T) {
	a := fuzzAgent(t)
	post := func(path, body string) (int, View) {
		w := serve(a, "POST", path, body)
		var v View
		json.Unmarshal(w.Body.Bytes(), &v)
		return w.Code, v
	}
	code, first := post("/v1/payments", `{"amount":100}`)
	if code != http.StatusCreated {
		t.Fatalf("start: %d", code)
	}
	if code, _ := post("/v1/payments", `{"amount":200}`); code != http.StatusConflict {
		t.Fatalf("a second payment while one waits for its code: %d, want 409", code)
	}
	if code, _ := post("/v1/payments/"+first.OutTradeNo+"/cancel", `{}`); code >= 300 {
		t.Fatalf("cancel: %d", code)
	}
	waitTrue(t, 5*time.Second, func() bool { p, _ := a.pays.Load(first.OutTradeNo); return p.State == Cancelled })
	// (The moment after the commit, before the flow lets go of the slot, is
	// device/payment's TestOneAwaitingCode.)
	if code, v := post("/v1/payments", `{"amount":300}`); code != http.StatusCreated || v.OutTradeNo == first.OutTradeNo {
		t.Fatalf("a new payment after the cancel: %d %+v", code, v)
	}
}

// A new config or firmware waits for the payment at the till (waiting for
// its code, or being settled), at most config.idle_wait_ms; a payment
// UNKNOWN or waiting for a person does not hold it (it resumes from the
// journal after the restart).
func TestRestartWaitsForTheTillOnly(t *testing.T) {
	a := fuzzAgent(t, func(c *config.Config) { c.ConfigApply.IdleWaitMS = 50 })
	w := serve(a, "POST", "/v1/payments", `{"amount":100}`)
	var v View
	json.Unmarshal(w.Body.Bytes(), &v)
	if w.Code != http.StatusCreated {
		t.Fatalf("start: %d", w.Code)
	}
	if got := a.paymentAtTill(); got != v.OutTradeNo {
		t.Fatalf("a payment waiting for its code: at the till %q, want %s", got, v.OutTradeNo)
	}
	// Bounded: the wait ends even though the payment does not.
	if !a.waitPaymentsIdle(context.Background()) {
		t.Fatal("the bounded wait did not end")
	}
	if cw := serve(a, "POST", "/v1/payments/"+v.OutTradeNo+"/cancel", `{}`); cw.Code >= 300 {
		t.Fatalf("cancel: %d", cw.Code)
	}
	waitTrue(t, 5*time.Second, func() bool { return a.paymentAtTill() == "" })
	// Flows running for payments in other states (opened as a restart
	// opens them, not run): UNKNOWN and ATTENTION do not hold the till.
	for _, tc := range []struct {
		states []string
		held   bool
	}{{[]string{Unknown, Attention}, false}, {[]string{Submitted, Polling}, true}} {
		for _, st := range tc.states {
			a.j.Update(func(tx *journal.Tx) error {
				return a.pays.Save(tx, Payment{OutTradeNo: "P-" + st, Amount: 1, State: st, CreatedAt: time.Now().UnixMilli()})
			})
		}
		if err := a.pays.Resume(func(Payment) {}, func(string) {}); err != nil {
			t.Fatal(err)
		}
		got := a.paymentAtTill()
		if held := got == "P-"+Submitted || got == "P-"+Polling; held != tc.held || (!tc.held && got != "") {
			t.Errorf("running payments %v: at the till %q, want held %v", tc.states, got, tc.held)
		}
	}
}

// The agent says how each state is shown: title, tone and the actions the
// API takes for it, so every screen shows a state alike.
func TestPaymentDisplay(t *testing.T) {
	for _, tc := range []struct {
		p              Payment
		title, tone    string
		actions        string
		doNotTakeCash  bool
		messageContain string
	}{
		{Payment{State: AwaitingCode, Amount: 100}, "请出示付款码", "waiting", "[cancel]", false, "请出示付款码"},
		{Payment{State: Submitted, SubmittedAt: 1}, "支付中", "busy", "[cancel]", true, "请勿收取现金"},
		{Payment{State: Polling, SubmittedAt: 1, Deposit: true}, "押金冻结中", "busy", "[cancel]", true, ""},
		{Payment{State: Reversing, SubmittedAt: 1}, "正在撤销", "busy", "[]", true, ""},
		{Payment{State: Unknown, SubmittedAt: 1}, "结果待确认", "unknown", "[]", true, "不要重新扣款"},
		{Payment{State: Attention, SubmittedAt: 1}, "需人工处理", "unknown", "[]", true, ""},
		{Payment{State: Paid, Amount: 100}, "支付成功", "ok", "[reprint refund]", true, ""},
		{Payment{State: Paid, Amount: 100, Refunded: 100}, "支付成功", "ok", "[reprint]", true, ""},
		{Payment{State: Paid, Amount: 100, Deposit: true}, "押金冻结成功", "ok", "[reprint]", true, ""},
		{Payment{State: Reversed, SubmittedAt: 1}, "支付失败", "bad", "[]", false, "顾客未被扣款"},
		{Payment{State: Reversed, SubmittedAt: 1, CancelAsked: true}, "已取消", "muted", "[]", false, "已取消"},
		{Payment{State: Polling, SubmittedAt: 1, CancelAsked: true}, "正在取消", "busy", "[]", true, ""},
		{Payment{State: Failed, ErrCode: "NOTENOUGH"}, "支付失败", "bad", "[]", false, "余额不足"},
		{Payment{State: Cancelled}, "已取消", "muted", "[]", false, "已取消"},
	} {
		v := PaymentView(tc.p)
		if v.Title != tc.title || v.Tone != tc.tone || fmt.Sprint(v.Actions) != tc.actions || v.DoNotTakeCash != tc.doNotTakeCash || !strings.Contains(v.Message, tc.messageContain) {
			t.Errorf("%s: %q %q %v cash:%v %q", tc.p.State, v.Title, v.Tone, v.Actions, v.DoNotTakeCash, v.Message)
		}
	}
}

// Cancelled while the customer is still confirming on the phone: the
// device reverses it and shows it cancelled, not failed; the ledger shows
// no charge.
func TestCancelWhilePayingShownCancelled(t *testing.T) {
	r := newPayRig(t)
	sim := r.withSim(platform.Faults{})
	r.start()
	var v View
	if st := r.api("POST", "/v1/payments", map[string]any{"amount": 1202}, &v); st != http.StatusCreated { // .02: USERPAYING until reversed
		t.Fatalf("start: %d", st)
	}
	r.scans <- "134567890123450931"
	r.waitPayment(v.OutTradeNo, 10*time.Second, func(v View) bool { return v.State == Polling || v.State == Submitted })
	if st := r.api("POST", "/v1/payments/"+v.OutTradeNo+"/cancel", map[string]any{}, nil); st != http.StatusAccepted {
		t.Fatalf("cancel: %d", st)
	}
	end := r.waitPayment(v.OutTradeNo, 10*time.Second, func(v View) bool { return Terminal(v.State) })
	if end.State != Reversed || end.Title != "已取消" || strings.Contains(end.Message, "失败") {
		t.Fatalf("ended %s %q %q", end.State, end.Title, end.Message)
	}
	if le, _ := sim.Provider.Entry(v.OutTradeNo); le.Charged && !le.Reversed {
		t.Fatalf("ledger %+v", le)
	}
}

// Every refusal of the local API carries words for the person at the till
// (error.text): Chinese, with no English message in them.
func TestAPIErrorsInWords(t *testing.T) {
	r := newPayRig(t)
	r.withSim(platform.Faults{})
	r.start()
	r.roster(1, person("s1", "张三", "1111", true, false), person("c1", "李四", "2222", false, false))
	r.shift("s1", "张三", true, false)
	paid := r.pay(1000, "134567890123450971", 10*time.Second, nil)
	dep := r.deposit(5000, "134567890123450972")
	type errBody struct {
		Error struct{ Code, Message, Text string } `json:"error"`
	}
	english := regexp.MustCompile(`[A-Za-z]{3,}`)
	for _, tc := range []struct {
		method, path string
		body         any
		want         string
	}{
		{"POST", "/v1/payments", map[string]any{"amount": 0}, "金额须在"},
		{"POST", "/v1/payments/" + paid.OutTradeNo + "/refund", map[string]any{"amount": 5000, "staff_id": "s1", "pin": testPIN}, "退款金额须在"},
		{"POST", "/v1/payments/" + paid.OutTradeNo + "/refund", map[string]any{"amount": 100, "staff_id": "s1", "pin": "9999"}, "工号或密码错误"},
		{"POST", "/v1/payments/" + paid.OutTradeNo + "/refund", map[string]any{"amount": 100, "staff_id": "c1", "pin": "2222"}, "李四（c1）没有退款权限"},
		{"POST", "/v1/payments/" + dep + "/refund", map[string]any{"amount": 100, "staff_id": "s1", "pin": testPIN}, "押金只能退已消费的部分"},
		{"POST", "/v1/deposits/" + dep + "/consume", map[string]any{"amount": 9000, "staff_id": "s1", "pin": testPIN}, "消费金额须在"},
		{"POST", "/v1/payments/" + paid.OutTradeNo + "/cancel", map[string]any{}, "不能取消"},
		{"GET", "/v1/payments/P-NONE", nil, "未找到"},
	} {
		var e errBody
		st := r.api(tc.method, tc.path, tc.body, &e)
		if st < 400 || !strings.Contains(e.Error.Text, tc.want) || english.MatchString(e.Error.Text) {
			t.Errorf("%s %s: %d text %q (message %q), want words with %q and no English", tc.method, tc.path, st, e.Error.Text, e.Error.Message, tc.want)
		}
	}
}

// serve calls the agent's local API in process, as the cashier app does:
// loopback host, the token, a JSON body when there is one.
func serve(a *Agent, method, path, body string) *httptest.ResponseRecorder {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	req.Host = "127.0.0.1:8765"
	req.Header.Set("Authorization", "Bearer "+a.APIToken())
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	w := httptest.NewRecorder()
	a.Handler().ServeHTTP(w, req)
	return w
}
