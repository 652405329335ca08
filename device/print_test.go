package device

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/boards"
	"github.com/posagent/posagent/device/printq"
	"github.com/posagent/posagent/drivers/audioout"
	"github.com/posagent/posagent/drivers/serialtest"
	"github.com/posagent/posagent/internal/testkit"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/platform"
	"github.com/posagent/posagent/printer"
	"github.com/posagent/posagent/wire"
)

// ptyRig is the rig with a real printer: the agent drives boards.Printer on
// the slave of a pseudo-terminal, a virtual ESC/POS printer answers on the
// master.
type ptyRig struct {
	*rig
	vp *serialtest.Printer
	a  *Agent
}

// testPoll is the print worker's status interval in these tests.
const testPoll = 20 * time.Millisecond

func newPTYRig(t testing.TB) *ptyRig {
	r := newRig(t)
	pair := serialtest.NewPair(t)
	vp := serialtest.NewPrinter(pair.Master)
	go vp.Run()
	r.cfg.Printer.Port, r.cfg.Printer.Status = pair.SlavePath, "query"
	return &ptyRig{rig: r, vp: vp}
}

// start runs an agent with the PTY printer (a fresh driver each time, as a
// restarted process would open the port anew).
func (r *ptyRig) start() {
	r.t.Helper()
	j, err := journal.Open(r.dbPath)
	if err != nil {
		r.t.Fatal(err)
	}
	out, err := audioout.Open(r.cfg.Audio.Out)
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	prn := boards.NewPrinter(ctx, r.cfg.Printer.Port, r.cfg.Printer.Baud)
	a, err := New(Options{Config: r.cfg, Journal: j, Key: deviceKey(r.t), Audio: out, Printer: prn, Log: quiet()})
	if err != nil {
		r.t.Fatal(err)
	}
	a.pq.Poll = testPoll
	r.a = a
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	r.stop = func() {
		cancel()
		<-done
		prn.Close()
		out.Close()
		j.Close()
		r.stop = nil
	}
	r.waitFor("device.hello", 15*time.Second)
}

// result waits for the print.result of jobID with status, skipping others.
func (r *ptyRig) result(jobID, status string, d time.Duration) mqtt.Message {
	r.t.Helper()
	timeout := time.After(d)
	for {
		select {
		case e := <-r.events:
			if e.Err != nil {
				r.t.Fatalf("event failed verification: %v", e.Err)
			}
			if e.State != nil || e.Message.Type != "print.result" {
				continue
			}
			if pr := body[wire.PrintResult](r.t, e.Message); pr.JobID == jobID && pr.Status == status {
				return e.Message
			}
		case <-timeout:
			r.t.Fatalf("no print.result %s %s within %v", jobID, status, d)
		}
	}
}

// printedJobs decodes what went onto paper, one text per job.
func printedJobs(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	for _, job := range printer.SplitJobs(b) {
		d, err := printer.Decode(job)
		if err != nil {
			t.Fatalf("printed bytes do not decode: %v", err)
		}
		out = append(out, d.Text())
	}
	return out
}

func count(texts []string, sub string) int {
	n := 0
	for _, s := range texts {
		n += strings.Count(s, sub)
	}
	return n
}

// The printer runs out of paper in the middle of a job, with a receipt
// queued behind it: the agent reports paper_out in its state and in
// print.result, the receipt's notification is answered without waiting,
// and after the roll is changed both print — each exactly once, nothing
// re-sent, nothing lost, the printer's buffer never overrun.
func TestPrintPaperOutMidJobThroughRealAgent(t *testing.T) {
	r := newPTYRig(t)
	r.start()
	defer func() {
		if r.stop != nil {
			r.stop()
		}
	}()

	j1 := r.send("print.job", map[string]any{"job_id": "job-1", "doc": "<C>JOB-ONE</C><BR>hello 世界"})
	if ans := r.answer(j1.ID, 10*time.Second); body[wire.PrintResult](t, ans).Status != printq.Done {
		t.Fatalf("job-1: %s", ans.Body)
	}

	// The roll ends 150 bytes into the next job.
	r.vp.RunOutAfter(150)
	long := "<CB>JOB-TWO</CB><BR>" + strings.Repeat("一行很长的中文文字，用来把纸用完。<BR>", 20) + "END-OF-TWO"
	j2 := r.send("print.job", map[string]any{"job_id": "job-2", "doc": long, "copies": 1})
	r.result("job-2", printq.PaperOut, 10*time.Second)
	if !r.vp.PaperOut() {
		t.Fatal("virtual printer has paper")
	}
	n := r.send("notify.payment", map[string]any{"order_id": "o-po", "amount": 12850, "wallet": "wechat", "print": true})
	ans := r.answer(n.ID, 10*time.Second)
	if d := body[wire.NotifyDone](t, ans); !d.Announced || d.Printed {
		t.Fatalf("notify.done while paper out: %+v", d)
	}
	if st := r.a.State().Printer; st != printq.PaperOut {
		t.Fatalf("state printer %q while paper out", st)
	}

	r.vp.Refill()
	if pr := body[wire.PrintResult](t, r.result("job-2", printq.Done, 10*time.Second)); pr.Printed != 1 {
		t.Fatalf("job-2 result %+v", pr)
	}
	r.result("order:o-po", printq.Done, 10*time.Second)
	if st := r.a.State().Printer; st != printq.OK {
		t.Fatalf("state printer %q after the refill", st)
	}
	_ = j2

	// A job_id seen before is answered, not printed again.
	again := r.send("print.job", map[string]any{"job_id": "job-2", "doc": "other"})
	if pr := body[wire.PrintResult](t, r.answer(again.ID, 15*time.Second)); !pr.Duplicate || pr.Status != printq.Done {
		t.Fatalf("duplicate job_id answered %+v", pr)
	}

	texts := printedJobs(t, r.vp.Printed())
	for sub, want := range map[string]int{"JOB-ONE": 1, "JOB-TWO": 1, "END-OF-TWO": 1, "o-po": 1, "重打印": 0, "other": 0} {
		if got := count(texts, sub); got != want {
			t.Errorf("%q printed %d times, want %d:\n%s", sub, got, want, strings.Join(texts, "\n"))
		}
	}
	if n := r.vp.Overflow(); n != 0 {
		t.Errorf("printer buffer overrun by %d bytes", n)
	}
}

// A printer that stops answering is offline; jobs wait in the journal,
// across a restart of the agent, and print when it is back.
func TestPrintOfflineQueuedAcrossRestart(t *testing.T) {
	r := newPTYRig(t)
	r.vp.SetSilent(true)
	r.start()
	j := r.send("print.job", map[string]any{"job_id": "job-off", "doc": "OFFLINE-JOB", "copies": 2})
	r.result("job-off", printq.Offline, 10*time.Second)
	if st := r.a.State().Printer; st != printq.Offline {
		t.Fatalf("state printer %q, want offline", st)
	}
	r.stop()

	r.vp.SetSilent(false)
	r.start()
	defer r.stop()
	r.result("job-off", printq.Done, 10*time.Second)
	_ = j
	texts := printedJobs(t, r.vp.Printed())
	if got := count(texts, "OFFLINE-JOB"); got != 2 {
		t.Fatalf("printed %d copies, want 2:\n%s", got, strings.Join(texts, "\n"))
	}
	if got := count(texts, "重打印"); got != 0 {
		t.Fatalf("a copy never sent was marked as a reprint")
	}
}

func TestPrintJobBadRequests(t *testing.T) {
	r := newRig(t)
	r.start()
	defer r.stop()
	for _, b := range []map[string]any{
		{"job_id": "", "doc": "x"},
		{"job_id": "a b", "doc": "x"},
		{"job_id": "order:o1", "doc": "x"},
		{"job_id": "j", "doc": ""},
		{"job_id": "j", "doc": "x", "copies": 6},
		{"job_id": "j", "doc": strings.Repeat("x", printq.MaxDoc+1)},
		{"job_id": "j", "doc": "x", "colour": "red"},
	} {
		m := r.send("print.job", b)
		ans := r.answer(m.ID, 15*time.Second)
		if eb := body[errorBody](t, ans); ans.Type != "error" || eb.Code != CodeBadRequest {
			t.Errorf("%v: answer %s %s", b["job_id"], ans.Type, ans.Body)
		}
	}
	if r.printer.count() != 0 {
		t.Fatalf("a refused job printed")
	}
}

// An explicit reprint is a job of its own, marked 重打印; the original
// receipt is not printed again by it.
func TestReprintMarked(t *testing.T) {
	r := newPTYRig(t)
	r.start()
	defer r.stop()
	n := r.send("notify.payment", map[string]any{"order_id": "o-re", "amount": 500, "wallet": "alipay", "print": true})
	if d := body[wire.NotifyDone](t, r.answer(n.ID, 10*time.Second)); !d.Printed {
		t.Fatalf("not printed: %+v", d)
	}
	if _, err := r.a.Reprint("nope"); err == nil {
		t.Error("reprint of an unknown order accepted")
	}
	id, err := r.a.Reprint("o-re")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	time.AfterFunc(10*time.Second, func() { close(done) })
	r.vp.Wait(done, func(p *serialtest.Printer) bool { return len(printer.SplitJobs(p.Printed())) >= 2 })
	texts := printedJobs(t, r.vp.Printed())
	if len(texts) != 2 || strings.Contains(texts[0], "重打印") || !strings.Contains(texts[1], "重打印") || !strings.Contains(texts[1], "o-re") {
		t.Fatalf("reprint %s; printed:\n%s", id, strings.Join(texts, "\n"))
	}
}

// A report queued with queueDoc (the shift flow's handover slip) prints
// once, however often it is queued.
func TestQueueDocOnce(t *testing.T) {
	r := newPTYRig(t)
	r.start()
	defer r.stop()
	slip := printer.ShiftSummary{StaffID: "s01", StaffName: "张三", PayCount: 2, PayAmount: 300}.Markup(32)
	for i := 0; i < 2; i++ {
		if err := r.a.j.Update(func(tx *journal.Tx) error { return r.a.pq.AddDoc(tx, "shift:1", "", slip) }); err != nil {
			t.Fatal(err)
		}
		r.a.pq.Kick()
	}
	done := make(chan struct{})
	time.AfterFunc(10*time.Second, func() { close(done) })
	r.vp.Wait(done, func(p *serialtest.Printer) bool {
		return strings.Contains(strings.Join(printedJobs(t, p.Printed()), ""), "交接班汇总")
	})
	// The queue is empty once the worker is idle again: a second copy
	// would have been printed by then.
	testkit.WaitUntil(t, 10*time.Second, "the slip's job finished", func() bool { _, ok, _ := r.a.pq.Next(); return !ok })
	if n := count(printedJobs(t, r.vp.Printed()), "交接班汇总"); n != 1 {
		t.Fatalf("slip printed %d times", n)
	}
}

// A copy that was going out when the agent died is printed again after the
// restart, once, marked 重打印.
func TestCutOffCopyRedoneMarked(t *testing.T) {
	r := newPTYRig(t)
	j, err := journal.Open(r.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	err = j.Update(func(tx *journal.Tx) error {
		return printq.File(tx, printq.Job{Seq: 1, JobID: "job-x", Doc: "CUT-OFF", Copies: 1, Started: true})
	})
	j.Close()
	if err != nil {
		t.Fatal(err)
	}
	r.start()
	defer r.stop()
	done := make(chan struct{})
	time.AfterFunc(10*time.Second, func() { close(done) })
	r.vp.Wait(done, func(p *serialtest.Printer) bool { return len(printer.SplitJobs(p.Printed())) >= 1 })
	texts := printedJobs(t, r.vp.Printed())
	if len(texts) != 1 || count(texts, "CUT-OFF") != 1 || count(texts, "重打印") != 1 {
		t.Fatalf("printed:\n%s", strings.Join(texts, "\n"))
	}
}

// The status timer keeps the state true while nothing prints.
func TestIdleStatusInState(t *testing.T) {
	r := newPTYRig(t)
	r.start()
	defer r.stop()
	wait := func(want string) {
		t.Helper()
		testkit.WaitUntil(t, 10*time.Second, "state printer "+want, func() bool { return r.a.State().Printer == want })
	}
	r.vp.SetCover(true)
	wait(printq.CoverOpen)
	r.vp.SetCover(false)
	wait(printq.OK)
}

// Receipts a shop recognises: the payment's desc, the merchant and the
// operator's name on the sale; the original order as 订单号 on a refund and
// on a deposit consume, their own numbers apart.
func TestReceiptsNameTheOrder(t *testing.T) {
	r := newPayRig(t)
	r.cfg.Store.Name, r.cfg.Store.Merchant = "老王小卖部", "杭州老王商贸有限公司"
	r.withSim(platform.Faults{})
	r.start()
	r.shift("s1", "王小明", true, false)
	var v View
	if st := r.api("POST", "/v1/payments", map[string]any{"amount": 12850, "desc": "农夫山泉×2 方便面×1"}, &v); st != http.StatusCreated {
		t.Fatalf("start: %d", st)
	}
	r.scans <- "134567890123450901"
	r.waitPayment(v.OutTradeNo, 10*time.Second, func(v View) bool { return v.State == Paid })
	var ref Refund
	if st := r.api("POST", "/v1/payments/"+v.OutTradeNo+"/refund", map[string]any{"amount": 850, "staff_id": "s1", "pin": testPIN}, &ref); st != http.StatusAccepted {
		t.Fatalf("refund: %d", st)
	}
	dep := r.deposit(50000, "134567890123450902")
	var op DepositOp
	r.api("POST", "/v1/deposits/"+dep+"/consume", map[string]any{"amount": 30000, "staff_id": "s1", "pin": testPIN}, &op)
	// Each receipt's text, once printed, by its title.
	receipt := func(title string) string {
		var txt string
		waitTrue(t, 15*time.Second, func() bool {
			r.printer.mu.Lock()
			defer r.printer.mu.Unlock()
			for _, j := range r.printer.jobs {
				if d, _ := printer.Decode(j); strings.Contains(d.Text(), title) {
					txt = strings.Join(d.Lines, "\n")
					return true
				}
			}
			return false
		})
		return txt
	}
	has := func(txt string, label, value string) bool {
		for _, l := range strings.Split(txt, "\n") {
			if strings.HasPrefix(l, label) && strings.HasSuffix(strings.TrimSpace(l), value) {
				return true
			}
		}
		return false
	}
	sale := receipt("收款凭证")
	for _, want := range [][2]string{{"商户", "杭州老王商贸有限公司"}, {"商品", "农夫山泉×2 方便面×1"}, {"收银员", "王小明"}, {"订单号", v.OutTradeNo}} {
		if !has(sale, want[0], want[1]) {
			t.Errorf("sale receipt has no %s %s:\n%s", want[0], want[1], sale)
		}
	}
	refund := receipt("退款凭证")
	for _, want := range [][2]string{{"订单号", v.OutTradeNo}, {"退款单号", ref.OutRefundNo}, {"收银员", "王小明"}} {
		if !has(refund, want[0], want[1]) {
			t.Errorf("refund receipt has no %s %s:\n%s", want[0], want[1], refund)
		}
	}
	consume := receipt("押金消费凭证")
	for _, want := range [][2]string{{"订单号", dep}, {"押金单号", op.OutRequestNo}} {
		if !has(consume, want[0], want[1]) {
			t.Errorf("consume receipt has no %s %s:\n%s", want[0], want[1], consume)
		}
	}
}
