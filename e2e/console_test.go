package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/posagent/posagent/device"
	"github.com/posagent/posagent/internal/testkit"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/platform"
)

// The web console, tested as the cashier uses it: Debian's chromium,
// headless, driven by chromedp, on a real agent with the embedded broker
// and the platform simulator (agentRig). make deps installs chromium; without it the
// test fails in CI (CI=true) and is skipped elsewhere, saying why.

const chromiumPath = "/usr/bin/chromium"

// browser is one headless chromium with one tab.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	problems []string // script exceptions and CSP violations
	out      *testkit.Log
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		msg := fmt.Sprintf("no %s (%v): install Debian's chromium (make deps does)", chromiumPath, err)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	// Without a CJK font every Hanzi of a screenshot is a box.
	if out, _ := exec.Command("fc-list", ":lang=zh", "family").Output(); len(bytes.TrimSpace(out)) == 0 {
		msg := "no font with Chinese glyphs (fc-list :lang=zh): make deps installs fonts-wqy-microhei"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Log(msg)
	}
	b := &browser{t: t, out: &testkit.Log{}}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(b.out),
		// A zone 16 hours from China's: a time the console shows in the
		// browser's zone instead of China time is plainly wrong.
		chromedp.Env("TZ=America/Los_Angeles"),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(func() { bcancel(); acancel(); cancel() })
	// The first Do starts the browser and opens the tab.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("chromium did not start: %v\n%s", err, b.out.String())
	}
	err := chromedp.Listen(bctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			b.problem(fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber+1, msg))
		case *log.EventEntryAdded:
			if strings.Contains(ev.Entry.Text, "Content Security Policy") {
				b.problem("CSP: " + ev.Entry.Text)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	b.ctx = bctx
	return b
}

func (b *browser) problem(s string) {
	b.mu.Lock()
	b.problems = append(b.problems, s)
	b.mu.Unlock()
}

// do runs actions in the tab, failing the test on an error.
func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// eval evaluates a JS expression.
func eval[T any](b *browser, js string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		b.t.Fatalf("browser: %s: %v", js, err)
	}
	return v
}

// text is the visible text of the element sel ("" when there is none).
func (b *browser) text(sel string) string {
	b.t.Helper()
	q, _ := json.Marshal(sel)
	return eval[string](b, fmt.Sprintf(`(() => { const e = document.querySelector(%s); return e ? e.innerText : ""; })()`, q))
}

// see waits until the visible text of sel holds every one of wants.
func (b *browser) see(sel string, d time.Duration, wants ...string) string {
	b.t.Helper()
	deadline := time.Now().Add(d)
	for {
		got := b.text(sel)
		ok := true
		for _, w := range wants {
			ok = ok && strings.Contains(got, w)
		}
		if ok {
			return got
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s never showed %q; it shows %q", sel, wants, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// noProblems fails the test on any script exception or CSP violation.
func (b *browser) noProblems() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		b.t.Errorf("console: %s", p)
	}
}

// screenshot saves the page as PNG in $POSAGENT_SCREENSHOTS, when set.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	dir := os.Getenv("POSAGENT_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatal(err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s", path)
}

// typeIn replaces the value of the input sel by what the cashier types.
func (b *browser) typeIn(sel, s string) {
	b.t.Helper()
	q, _ := json.Marshal(sel)
	eval[bool](b, fmt.Sprintf(`(() => { const e = document.querySelector(%s); e.value = ""; return true; })()`, q))
	b.do(chromedp.SendKeys(chromedp.CSS(sel), s))
}

func (b *browser) click(sel string) {
	b.t.Helper()
	b.do(chromedp.Click(chromedp.CSS(sel)))
}

// open loads the console by the link the cashier app opens (the token
// in the query: the agent leaves a cookie and sends the page on to /) and
// waits for its event stream.
func (b *browser) open(addr, token string) {
	b.t.Helper()
	b.do(chromedp.Navigate("http://" + addr + "/?token=" + token))
	if u := eval[string](b, `location.href`); u != "http://"+addr+"/" {
		b.t.Fatalf("the console link ends at %s", u)
	}
	b.see("#st-link", 10*time.Second, "已连接")
	b.see("#st-online", 10*time.Second, "平台：在线")
}

// pin answers the console's PIN dialog (waiting for it to open).
func (b *browser) pin(staff, pin string) {
	b.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !eval[bool](b, `document.getElementById("pin-dialog").open`) {
		if time.Now().After(deadline) {
			b.t.Fatal("the PIN dialog never opened")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if staff != "" {
		b.typeIn("#pin-staff", staff)
	}
	b.typeIn("#pin-input", pin)
	b.click("#pin-ok")
}

// shownPayment is the out_trade_no of the payment on screen.
func (b *browser) shownPayment() string {
	return eval[string](b, `document.getElementById("progress").dataset.no || ""`)
}

func TestWebConsolePayments(t *testing.T) {
	r := newAgentRig(t)
	sim := r.sim
	b := newBrowser(t)
	b.open(r.agent.APIAddr(), r.agent.APIToken())

	// The amount typed is read as digits: 19.99 and 128.5 are exact fen.
	fen := eval[map[string]any](b, `Object.fromEntries(["128.50","128.5","19.99","0.07",".5","￥3","１２.３","1.005","12a","","0","1234567890"].map(s => [s, window.posConsole.parseFen(s)]))`)
	want := map[string]any{"128.50": 12850.0, "128.5": 12850.0, "19.99": 1999.0, "0.07": 7.0, ".5": 50.0, "￥3": 300.0,
		"１２.３": 1230.0, "1.005": nil, "12a": nil, "": nil, "0": 0.0, "1234567890": nil}
	for in, w := range want {
		if fen[in] != w {
			t.Errorf("parseFen(%q) = %v, want %v", in, fen[in], w)
		}
	}

	// A bad amount is refused on the page, with words, and nothing is sent.
	b.typeIn("#amount", "12.345")
	b.click("#start")
	b.see("#pay-error", 5*time.Second, "请输入正确的金额")

	// 128.50 paid with WeChat, followed live from the event stream.
	b.typeIn("#amount", "128.50")
	b.click("#start")
	b.see("#progress", 5*time.Second, "请出示付款码", "￥128.50")
	no := b.shownPayment()
	// A second start while this one waits: the API's error, in plain words.
	b.click("#start")
	b.see("#pay-error", 5*time.Second, "设备正忙")
	r.scans <- "134567890123450001"
	got := b.see("#progress", 10*time.Second, "支付成功", "￥128.50", "微信")
	if strings.Contains(got, "请勿收取现金") {
		t.Errorf("a paid payment shows the unknown-result warning: %q", got)
	}
	if v := eval[string](b, `document.getElementById("amount").value`); v != "" {
		t.Errorf("after 支付成功 the amount field still holds %q: not ready for the next sale", v)
	}
	if v := r.paymentView(no); v.State != device.Paid || v.Amount != 12850 {
		t.Fatalf("the agent has %s %d fen", v.State, v.Amount)
	}
	if eval[int](b, `Number(document.body.dataset.paymentEvents || 0)`) == 0 {
		t.Error("the page saw no payment event on /v1/events")
	}
	b.screenshot("web-paid")

	// .04: the simulator's NOTENOUGH. Failed, with the reason.
	b.click("#again")
	b.typeIn("#amount", "66.04")
	b.click("#start")
	b.see("#progress", 5*time.Second, "请出示付款码", "￥66.04")
	r.scans <- "134567890123450002"
	got = b.see("#progress", 10*time.Second, "支付失败", "余额不足")
	if strings.Contains(got, "请勿收取现金") || strings.Contains(got, "支付成功") {
		t.Errorf("a failed payment shows %q", got)
	}

	// Cancelled while waiting for the code.
	b.click("#again")
	b.typeIn("#amount", "5")
	b.click("#start")
	b.see("#progress", 5*time.Second, "请出示付款码", "￥5.00")
	b.click("#cancel")
	b.see("#progress", 10*time.Second, "已取消")

	// No answers at all: never failed, 结果待确认 and not to take cash.
	sim.SetFaults(platform.Faults{Drop: 1})
	b.click("#again")
	b.typeIn("#amount", "10.00")
	b.click("#start")
	b.see("#progress", 5*time.Second, "请出示付款码", "￥10.00")
	r.scans <- "134567890123450003"
	got = b.see("#progress", 10*time.Second, "结果待确认", "请勿收取现金")
	if strings.Contains(got, "支付失败") {
		t.Errorf("an unknown payment shows %q", got)
	}
	b.screenshot("web-unknown")

	// A new sale while that one is unknown: the agent refuses it until the
	// cashier confirms, and the page asks (a dialog naming the open one);
	// declined, nothing starts; accepted, the new sale starts.
	dialogs := make(chan string, 4)
	answer := make(chan bool, 4)
	err := chromedp.Listen(b.ctx, func(ev any) {
		if d, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			dialogs <- d.Message
			go chromedp.Call(b.ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: <-answer})
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	b.click("#again")
	b.typeIn("#amount", "20.00")
	answer <- false
	b.click("#start")
	select {
	case msg := <-dialogs:
		if !strings.Contains(msg, "结果待确认") || !strings.Contains(msg, "10.00") {
			t.Errorf("dialog %q", msg)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no confirmation asked for a new sale while one is unknown")
	}
	b.see("#pay-error", 5*time.Second, "结果待确认")
	answer <- true
	b.click("#start")
	select {
	case <-dialogs:
	case <-time.After(10 * time.Second):
		t.Fatal("no confirmation asked the second time")
	}
	b.see("#progress", 10*time.Second, "请出示付款码", "￥20.00")

	// A reload loses nothing: the sale at the till is shown again and can
	// be cancelled, the unknown one is named; once that sale is cancelled
	// a reload shows the unknown one.
	b.do(chromedp.Reload())
	b.see("#progress", 10*time.Second, "请出示付款码", "￥20.00")
	b.see("#pay-note", 5*time.Second, "结果待确认", "￥10.00")
	b.click("#cancel")
	b.see("#progress", 10*time.Second, "已取消")
	b.do(chromedp.Reload())
	b.see("#progress", 10*time.Second, "结果待确认", "￥10.00", "请勿收取现金")
	b.noProblems()
}

func TestWebConsoleDepositsAndShift(t *testing.T) {
	r := newAgentRig(t)
	r.roster(1, person("s1", "张三", "1111", false, false), person("m1", "店长", "9999", false, true))
	b := newBrowser(t)
	b.open(r.agent.APIAddr(), r.agent.APIToken())
	b.see("#dep-empty", 5*time.Second, "暂无")

	b.see("#st-shift", 5*time.Second, "无人")
	b.click("#shift-sum")
	if got := b.text("#shift-error") + b.text("#summary"); got == "" {
		t.Error("当班汇总 with no shift shows nothing at all")
	}

	// Clocking on takes the PIN: a wrong one is refused, in words.
	b.typeIn("#staff-id", "s1")
	b.typeIn("#staff-name", "张三")
	b.typeIn("#staff-pin", "1112")
	b.click("#shift-start")
	b.see("#shift-error", 5*time.Second, "工号或密码错误")
	if v := eval[string](b, `document.getElementById("staff-pin").value`); v != "" {
		t.Errorf("the PIN stays in its field: %q", v)
	}
	b.typeIn("#staff-pin", "1111")
	b.click("#shift-start")
	b.see("#st-shift", 5*time.Second, "张三（s1）") // the name, as the cashier reads it

	// A payment on this shift, for the summary's wallet table.
	b.typeIn("#amount", "50")
	b.click("#start")
	b.see("#progress", 5*time.Second, "请出示付款码", "￥50.00")
	r.scans <- "134567890123451199"
	b.see("#progress", 10*time.Second, "支付成功")
	b.click("#again")

	// Two deposits, frozen by the customers' codes.
	var nos []string
	for i, amount := range []string{"300.00", "200.00"} {
		b.click(`input[name=kind][value=deposit]`)
		b.typeIn("#amount", amount)
		b.click("#start")
		b.see("#progress", 5*time.Second, "请出示付款码", "￥"+amount, "押金")
		nos = append(nos, b.shownPayment())
		r.scans <- fmt.Sprintf("1345678901234511%02d", i)
		b.see("#progress", 10*time.Second, "押金冻结成功")
		b.click("#again")
	}
	b.see("#dep-rows", 5*time.Second, nos[0], nos[1], "￥300.00", "￥200.00", "冻结中")

	// Found by its number; consume 100 of 300: the rest goes back, which
	// takes the refund right — the clerk's PIN is refused for it, wrong or
	// right; the manager's does it.
	b.typeIn("#dep-no", nos[0])
	b.click(`#dep-find button`)
	row := fmt.Sprintf(`tr[data-no=%q]`, nos[0])
	b.see(row, 5*time.Second, "冻结中")
	if !eval[bool](b, fmt.Sprintf(`document.querySelector(%q).classList.contains("open")`, row)) {
		t.Error("the deposit looked up is not opened")
	}
	b.typeIn(row+" .dep-amount", "400")
	b.click(row + " button.primary")
	b.see("#dep-error", 5*time.Second, "超过冻结金额")
	b.typeIn(row+" .dep-amount", "100")
	b.click(row + " button.primary")
	if got := b.see("#pin-title", 5*time.Second, "￥100.00", "退回 ￥200.00"); got == "" {
		t.Fatal("no PIN dialog title")
	}
	if got := eval[string](b, `document.getElementById("pin-staff").value`); got != "s1" {
		t.Errorf("the PIN dialog names %q, not the staff on shift", got)
	}
	b.pin("", "1112")
	b.see("#dep-error", 5*time.Second, "工号或密码错误")
	b.click(row + " button.primary")
	b.pin("", "1111")
	if got := b.see("#dep-error", 5*time.Second, "没有退款权限"); regexp.MustCompile(`[A-Za-z]{3,}`).MatchString(got) {
		t.Errorf("the refusal reaches the cashier with English in it: %q", got)
	}
	b.see(row, time.Second, "冻结中")
	b.click(row + " button.primary")
	b.pin("m1", "9999")
	b.see(row, 10*time.Second, "已消费", "￥100.00", "退回 ￥200.00")

	// Unfreezing: two taps (ask, then do), then the PIN; cancelled, nothing.
	row2 := fmt.Sprintf(`tr[data-no=%q]`, nos[1])
	b.click(row2 + " button:not(.primary)")
	b.see(row2, 2*time.Second, "确认解冻")
	b.click(row2 + " button:not(.primary)")
	b.see("#pin-title", 5*time.Second, "解冻押金", "￥200.00")
	b.click("#pin-cancel")
	b.see(row2, time.Second, "冻结中")
	if eval[bool](b, `document.getElementById("pin-dialog").open`) {
		t.Fatal("the PIN dialog stays open after 取消")
	}

	// The shift so far, then the handover with the clerk's own PIN.
	b.click("#shift-sum")
	sum := b.see("#summary", 5*time.Second, "当班汇总", "s1", "押金冻结\t2 笔\t￥500.00", "押金消费\t1 笔\t￥100.00",
		"收款\t1 笔\t￥50.00", "微信\t2 笔\t￥150.00", "净收入\t\t￥150.00")
	if regexp.MustCompile(`[a-z]+_[a-z]+|wallets`).MatchString(sum) {
		t.Errorf("the summary shows raw field names: %q", sum)
	}
	// Times in China time whatever the browser's zone.
	var cur struct {
		Start int64 `json:"start"`
	}
	r.api("GET", "/v1/shift/summary", nil, &cur)
	if want := time.Unix(cur.Start, 0).In(time.FixedZone("CST", 8*3600)).Format("15:04:05"); !strings.Contains(sum, want) {
		t.Errorf("the shift's start is not shown in China time (%s): %q", want, sum)
	}
	b.screenshot("web-deposits-shift")
	b.click("#shift-end")
	b.click("#shift-end")
	b.pin("", "1111")
	b.see("#summary", 5*time.Second, "交班汇总", "s1", "￥100.00")
	b.see("#st-shift", 5*time.Second, "无人")
	b.noProblems()
}

// A page the console is not: opened in the same browser right after the
// console (so its cookie is there), from another port of 127.0.0.1 (same
// site, other origin), from localhost (another site) and from a file. It
// knows the PIN and the order number, and tries every request a page can
// make. Nothing it sends refunds, starts a payment or opens a shift — on
// the simulator's ledger as in the journal — it reads nothing, and the
// console goes on working.
func TestWebConsoleForeignPages(t *testing.T) {
	r := newAgentRig(t)
	sim := r.sim
	r.shift("s1", "王芳", true, false)
	v := r.pay(10000, "134567890123456611", false)
	addr := r.agent.APIAddr()
	b := newBrowser(t)
	b.open(addr, r.agent.APIToken())

	page := strings.NewReplacer("TARGET", "http://"+addr, "REFUND", "/v1/payments/"+v.OutTradeNo+"/refund", "THEPIN", testPIN).Replace(foreignPage)
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, page)
	}))
	defer evil.Close()
	file := filepath.Join(t.TempDir(), "evil.html")
	os.WriteFile(file, []byte(page), 0o644)
	_, port, _ := net.SplitHostPort(evil.Listener.Addr().String())
	for _, u := range []string{evil.URL, "http://localhost:" + port + "/", "file://" + file} {
		before := r.refused()
		b.do(chromedp.Navigate(u))
		deadline := time.Now().Add(20 * time.Second)
		var title string
		for !strings.HasPrefix(title, "done:") {
			if time.Now().After(deadline) {
				t.Fatalf("%s never finished: %q", u, title)
			}
			time.Sleep(50 * time.Millisecond)
			title = eval[string](b, `document.title`)
		}
		t.Logf("%s: %s; %d requests refused", u, title, r.refused()-before)
		if strings.Contains(title, "read:") || strings.Contains(title, "status:2") {
			t.Errorf("%s got an answer from the API: %s", u, title)
		}
		if r.refused() == before {
			t.Errorf("%s: no request of the page reached the agent to be refused (the test proves nothing)", u)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if le, _ := sim.Provider.Entry(v.OutTradeNo); le.Refunded != 0 {
		t.Fatalf("the ledger has %d fen refunded by foreign pages", le.Refunded)
	}
	var refunds, orders int
	r.j.View(func(tx *journal.Tx) error {
		tx.ForEach(journal.Refunds, func(string, []byte) error { refunds++; return nil })
		return tx.ForEach(journal.Orders, func(string, []byte) error { orders++; return nil })
	})
	if refunds != 0 || orders != 1 {
		t.Fatalf("foreign pages left %d refunds and %d orders (1 is the test's)", refunds, orders)
	}
	if st := r.agent.State(); st.Shift == nil || st.Shift.Staff != "s1" {
		t.Fatalf("the shift is %+v", st.Shift)
	}
	// The console itself still works in this browser, by its cookie.
	b.do(chromedp.Navigate("http://" + addr + "/"))
	b.see("#st-shift", 10*time.Second, "s1")
	b.see("#st-link", 10*time.Second, "已连接")
}

// foreignPage tries what a page can: no-cors and CORS fetches with the
// cookie, a form posting JSON-looking text/plain, a beacon, reads, an
// image; it writes what it could see into its title.
const foreignPage = `<!DOCTYPE html><html><head><title>evil</title></head><body>
<form id="f" method="POST" enctype="text/plain" target="sink"><input name='{"staff_id":"e1","staff_name":"x","pin":"THEPIN","z":"' value='"}'></form>
<iframe name="sink" id="sink"></iframe>
<script>
(async () => {
  const T = "TARGET", res = {};
  const body = JSON.stringify({amount: 100, staff_id: "s1", pin: "THEPIN"});
  const tryit = async (name, f) => { try { res[name] = await f(); } catch (e) { res[name] = "error:" + e.name; } };
  await tryit("nocors_refund", () => fetch(T + "REFUND", {method: "POST", mode: "no-cors", credentials: "include", headers: {"Content-Type": "text/plain"}, body}).then(r => "opaque:" + r.type));
  await tryit("cors_refund", () => fetch(T + "REFUND", {method: "POST", credentials: "include", headers: {"Content-Type": "application/json", "X-Posagent-Console": "1"}, body}).then(r => "status:" + r.status));
  await tryit("cors_simple_refund", () => fetch(T + "REFUND", {method: "POST", credentials: "include", body}).then(r => "status:" + r.status));
  await tryit("nocors_pay", () => fetch(T + "/v1/payments", {method: "POST", mode: "no-cors", credentials: "include", body: JSON.stringify({amount: 100})}).then(r => "opaque:" + r.type));
  await tryit("nocors_shift", () => fetch(T + "/v1/shift/start", {method: "POST", mode: "no-cors", credentials: "include", body: JSON.stringify({staff_id: "e2", pin: "THEPIN"})}).then(r => "opaque:" + r.type));
  await tryit("beacon", () => navigator.sendBeacon(T + "REFUND", new Blob([body], {type: "text/plain"})));
  await tryit("read_orders", () => fetch(T + "/v1/orders", {credentials: "include"}).then(r => r.text()).then(t => "read:" + t.length));
  await tryit("read_state", () => fetch(T + "/v1/state", {credentials: "include", headers: {"X-Posagent-Console": "1"}}).then(r => r.text()).then(t => "read:" + t.length));
  await new Promise((done) => { document.getElementById("sink").onload = done; const f = document.getElementById("f"); f.action = T + "/v1/shift/start"; f.submit(); setTimeout(done, 3000); });
  await new Promise((done) => { const i = new Image(); i.onload = i.onerror = done; i.src = T + "/v1/state"; });
  await new Promise((done) => setTimeout(done, 300));
  document.title = "done:" + JSON.stringify(res);
})();
</script></body></html>`

// The console's files are served with their types and a strict CSP; other
// paths are the API's JSON 404.
func TestWebConsoleFiles(t *testing.T) {
	r := newAgentRig(t)
	for path, ct := range map[string]string{"/": "text/html", "/app.js": "text/javascript", "/style.css": "text/css"} {
		resp, err := http.Get("http://" + r.agent.APIAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), ct) || len(body) == 0 ||
			!strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("GET %s: %d %q %d bytes", path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
	}
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if code := r.api("GET", "/v1/nothing", nil, &e); code != http.StatusNotFound || e.Error.Code != "not_found" {
		t.Errorf("GET /v1/nothing: %d %+v", code, e)
	}
}

// layoutJS measures the page as a cashier's finger and eye meet it: the
// page's scroll width, elements reaching past the viewport's sides, and
// touch targets (buttons, fields, a radio's label) under 44 × 44 CSS px.
const layoutJS = `(() => {
  const W = document.documentElement.clientWidth, out = [], small = [];
  const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (typeof el.className === 'string' && el.className ? '.' + el.className.trim().split(/\s+/).join('.') : '');
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || getComputedStyle(el).visibility === 'hidden' || el.closest('dialog:not([open])')) continue;
    if (r.right > W + 0.5 || r.left < -0.5) out.push(name(el) + ' ' + Math.round(r.left) + '..' + Math.round(r.right));
    const target = el.matches('button, select, input:not([type=radio]):not([type=checkbox]), .kinds label');
    if (target && (r.height < 44 || r.width < 44)) small.push(name(el) + ' ' + Math.round(r.width) + 'x' + Math.round(r.height));
  }
  return {scroll: document.documentElement.scrollWidth, width: W, out: out.slice(0, 15), small: small.slice(0, 15)};
})()`

type layout struct {
	Scroll int      `json:"scroll"`
	Width  int      `json:"width"`
	Out    []string `json:"out"`
	Small  []string `json:"small"`
}

// On a 360×640 smart-POS screen (portrait) and at 1280×800, with a
// result, deposits and a summary shown: nothing wider than the screen, no
// sideways scroll, every touch target at least 44 px.
func TestWebConsoleFitsTheScreen(t *testing.T) {
	r := newAgentRig(t)
	r.roster(1, person("s1", "张三", "1111", true, false))
	r.shift("s1", "张三", true, false)
	r.pay(50000, "134567890123450961", true)
	b := newBrowser(t)
	b.open(r.agent.APIAddr(), r.agent.APIToken())
	b.see("#dep-rows", 5*time.Second, "冻结中")
	b.typeIn("#amount", "128.50")
	b.click("#start")
	b.see("#progress", 5*time.Second, "请出示付款码")
	r.scans <- "134567890123450962"
	b.see("#progress", 10*time.Second, "支付成功")
	b.click("#shift-sum")
	b.see("#summary", 5*time.Second, "当班汇总")
	for _, size := range [][2]int64{{360, 640}, {1280, 800}} {
		b.do(chromedp.EmulateViewport(size[0], size[1], chromedp.EmulateScale(2)))
		time.Sleep(200 * time.Millisecond) // a relayout
		l := eval[layout](b, layoutJS)
		if l.Scroll > l.Width || len(l.Out) > 0 {
			t.Errorf("%dx%d: page %d px wide on a %d px screen; past its sides: %v", size[0], size[1], l.Scroll, l.Width, l.Out)
		}
		if len(l.Small) > 0 {
			t.Errorf("%dx%d: touch targets under 44 px: %v", size[0], size[1], l.Small)
		}
		b.screenshot(fmt.Sprintf("web-%dx%d", size[0], size[1]))
	}
}

// Today's orders in the console: found by number or by scanning the
// receipt, refunded in part with the PIN (the ledger shows it), reprinted.
func TestWebConsoleOrders(t *testing.T) {
	r := newAgentRig(t)
	sim := r.sim
	r.roster(1, person("s1", "张三", testPIN, true, false))
	r.shift("s1", "张三", true, false)
	a := r.pay(12850, "134567890123450981", false)
	c := r.pay(2000, "134567890123450982", false)
	b := newBrowser(t)
	b.open(r.agent.APIAddr(), r.agent.APIToken())
	b.see("#ord-rows", 5*time.Second, a.OutTradeNo, c.OutTradeNo, "支付成功", "￥128.50")

	// Found by number: only its row.
	b.typeIn("#ord-q", a.OutTradeNo)
	if got := b.text("#ord-rows"); strings.Contains(got, c.OutTradeNo) {
		t.Fatalf("searching %s still lists %s", a.OutTradeNo, c.OutTradeNo)
	}
	row := `#ord-rows tr[data-no="` + a.OutTradeNo + `"]`
	// More than is left: refused in words before any PIN is asked.
	b.typeIn(row+" .ord-amount", "200")
	b.click(row + " button.refund")
	b.see("#ord-error", 5*time.Second, "可退余额 ￥128.50")
	b.typeIn(row+" .ord-amount", "8.50")
	b.click(row + " button.refund")
	b.pin("", testPIN)
	b.see("#ord-note", 10*time.Second, "退款成功", "￥8.50")
	b.see(row, 5*time.Second, "已退 ￥8.50")
	if le, _ := sim.Provider.Entry(a.OutTradeNo); le.Refunded != 850 {
		t.Fatalf("ledger %+v", le)
	}
	jobs := r.printer.count()
	b.click(row + " button.reprint")
	b.see("#ord-note", 5*time.Second, "已补打")
	waitTrue(t, 10*time.Second, func() bool { return r.printer.count() > jobs })

	// A receipt scanned while no payment waits: that order is found.
	r.scans <- c.OutTradeNo
	b.see(`#ord-rows tr.open`, 5*time.Second, c.OutTradeNo)
	b.screenshot("web-orders")
	b.noProblems()
}

// Every payment state as the console shows it, at 360×640 and 1280×800:
// the agent's title on screen, the cash warning exactly where the view
// says not to take cash, the cancel button exactly where the view offers
// it, nothing past the screen's sides; each saved as a screenshot.
func TestWebConsoleEveryState(t *testing.T) {
	r := newAgentRig(t)
	b := newBrowser(t)
	b.open(r.agent.APIAddr(), r.agent.APIToken())
	now := time.Now().UnixMilli()
	states := []device.Payment{
		{State: device.AwaitingCode, Amount: 12850},
		{State: device.Submitted, Amount: 12850, SubmittedAt: now, Wallet: "wechat", CodeTail: "6789"},
		{State: device.Polling, Amount: 50000, SubmittedAt: now, Wallet: "alipay", Deposit: true},
		{State: device.Polling, Amount: 12850, SubmittedAt: now, Wallet: "wechat", CancelAsked: true},
		{State: device.Reversing, Amount: 12850, SubmittedAt: now, Wallet: "wechat"},
		{State: device.Unknown, Amount: 12850, SubmittedAt: now, Wallet: "wechat"},
		{State: device.Attention, Amount: 12850, SubmittedAt: now, Wallet: "wechat", ErrCode: "REVERSE_EXPIRE"},
		{State: device.Paid, Amount: 12850, SubmittedAt: now, Wallet: "ecny", TransactionID: "4200002026120212345678"},
		{State: device.Failed, Amount: 6604, SubmittedAt: now, Wallet: "wechat", ErrCode: "NOTENOUGH"},
		{State: device.Reversed, Amount: 12850, SubmittedAt: now, Wallet: "wechat", CancelAsked: true},
		{State: device.Cancelled, Amount: 500},
	}
	for _, size := range [][2]int64{{360, 640}, {1280, 800}} {
		b.do(chromedp.EmulateViewport(size[0], size[1]))
		for i, p := range states {
			p.OutTradeNo, p.CreatedAt, p.UpdatedAt = fmt.Sprintf("P2026120212000000%04d", i), now, now+int64(i)
			v := device.PaymentView(p)
			js, _ := json.Marshal(v)
			b.do(chromedp.Evaluate[chromedp.Void]("window.posConsole.show(" + string(js) + ")"))
			got := b.see("#progress", 2*time.Second, v.Title)
			if cash := eval[bool](b, `!document.getElementById("pg-cash").classList.contains("hidden")`); cash != v.CashWarning {
				t.Errorf("%s: the cash warning shown %v, the view says %v: %q", p.State, cash, v.CashWarning, got)
			}
			if cancel := eval[bool](b, `!document.getElementById("cancel").classList.contains("hidden")`); cancel != slices.Contains(v.Actions, device.ActCancel) {
				t.Errorf("%s: the cancel button shown %v, the view's actions %v", p.State, cancel, v.Actions)
			}
			if l := eval[layout](b, layoutJS); l.Scroll > l.Width || len(l.Out) > 0 {
				t.Errorf("%s at %dx%d: past the sides %v", p.State, size[0], size[1], l.Out)
			}
			name := strings.ToLower(p.State)
			if p.CancelAsked {
				name += "-cancel"
			}
			if p.Deposit {
				name += "-deposit"
			}
			b.screenshot(fmt.Sprintf("state-%s-%dx%d", name, size[0], size[1]))
		}
	}
	b.noProblems()
}
