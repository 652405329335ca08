package device

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/posagent/posagent/platform"
)

// The web console, tested as the cashier uses it: Debian's chromium,
// headless, driven by chromedp, on a real agent with the embedded broker
// and the platform simulator. make deps installs chromium; without it the
// test fails in CI (CI=true) and is skipped elsewhere, saying why.

const chromiumPath = "/usr/bin/chromium"

// browser is one headless chromium with one tab.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	problems []string // script exceptions and CSP violations
	out      *lockedBuffer
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
	b := &browser{t: t, out: &lockedBuffer{}}
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

// open loads the console and waits for its event stream.
func (b *browser) open(addr string) {
	b.t.Helper()
	b.do(chromedp.Navigate("http://" + addr + "/"))
	b.see("#st-link", 10*time.Second, "已连接")
	b.see("#st-online", 10*time.Second, "平台：在线")
}

// shownPayment is the out_trade_no of the payment on screen.
func (b *browser) shownPayment() string {
	return eval[string](b, `document.getElementById("progress").dataset.no || ""`)
}

func TestWebConsolePayments(t *testing.T) {
	r := newPayRig(t)
	sim := r.withSim(platform.Faults{})
	r.start()
	b := newBrowser(t)
	b.open(r.agent.APIAddr())

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
	if v := r.waitPayment(no, time.Second, func(v View) bool { return true }); v.State != Paid || v.Amount != 12850 {
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
	<-dialogs
	b.see("#progress", 10*time.Second, "请出示付款码", "￥20.00")
	b.noProblems()
}

func TestWebConsoleDepositsAndShift(t *testing.T) {
	r := newPayRig(t)
	r.withSim(platform.Faults{})
	r.start()
	b := newBrowser(t)
	b.open(r.agent.APIAddr())
	b.see("#dep-empty", 5*time.Second, "暂无")

	// Consuming needs someone on shift: the API says so, the page shows it.
	b.see("#st-shift", 5*time.Second, "无人")
	b.click("#shift-sum")
	if got := b.text("#shift-error") + b.text("#summary"); got == "" {
		t.Error("当班汇总 with no shift shows nothing at all")
	}

	b.typeIn("#staff-id", "s1")
	b.typeIn("#staff-name", "张三")
	b.click("#shift-start")
	b.see("#st-shift", 5*time.Second, "s1")

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

	// Found by its number; consume 100 of 300: the rest goes back.
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
	b.see(row, 10*time.Second, "已消费", "￥100.00", "退回 ￥200.00")

	// Unfreezing takes the refund right, which a clerk on shift from the
	// console does not hold: refused, in words. Two taps: ask, then do.
	row2 := fmt.Sprintf(`tr[data-no=%q]`, nos[1])
	b.click(row2 + " button:not(.primary)")
	b.see(row2, 2*time.Second, "确认解冻")
	b.click(row2 + " button:not(.primary)")
	b.see("#dep-error", 5*time.Second, "没有权限", "refund right")
	b.see(row2, time.Second, "冻结中")

	// The shift so far, then the handover.
	b.click("#shift-sum")
	sum := b.see("#summary", 5*time.Second, "当班汇总", "s1", "押金冻结\t2 笔\t￥500.00", "押金消费\t1 笔\t￥100.00",
		"收款\t1 笔\t￥50.00", "微信\t2 笔\t￥150.00", "净收入\t\t￥150.00")
	if strings.Contains(sum, "wallets") || strings.Contains(sum, "by_wallet") {
		t.Errorf("the summary shows raw field names: %q", sum)
	}
	b.screenshot("web-deposits-shift")
	b.click("#shift-end")
	b.click("#shift-end")
	b.see("#summary", 5*time.Second, "交班汇总", "s1", "￥100.00")
	b.see("#st-shift", 5*time.Second, "无人")
	b.noProblems()
}

// The console's files are served with their types and a strict CSP; other
// paths are the API's JSON 404.
func TestWebConsoleFiles(t *testing.T) {
	r := newPayRig(t)
	r.start()
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
	var e apiError
	if code := r.api("GET", "/v1/nothing", nil, &e); code != http.StatusNotFound || e.Error.Code != "not_found" {
		t.Errorf("GET /v1/nothing: %d %+v", code, e)
	}
}
