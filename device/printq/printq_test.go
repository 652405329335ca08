package printq

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/device/exchange"
	"github.com/posagent/posagent/internal/testkit"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/printer"
	"github.com/posagent/posagent/wire"
)

// fakePrinter is a printer whose status and write errors the test sets; it
// keeps the text of every copy it took.
type fakePrinter struct {
	mu     sync.Mutex
	status printer.Status
	fail   int // the next fail writes return an error
	copies []string
	at     []time.Time
}

func (p *fakePrinter) Print(_ context.Context, b []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail > 0 {
		p.fail--
		return errors.New("write /dev/ttyS1: input/output error")
	}
	d, err := printer.Decode(b)
	if err != nil {
		return err
	}
	p.copies = append(p.copies, d.Text())
	p.at = append(p.at, time.Now())
	return nil
}

func (p *fakePrinter) Status(context.Context) (printer.Status, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.status, nil
}

func (p *fakePrinter) set(s printer.Status) { p.mu.Lock(); p.status = s; p.mu.Unlock() }

func (p *fakePrinter) printed() ([]string, []time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.copies...), append([]time.Time(nil), p.at...)
}

// event is a print.result the queue emitted, with its ref, and whether it
// was recorded as a command's answer.
type event struct {
	ref string
	wire.PrintResult
}

type rig struct {
	q        *Queue
	j        *journal.Journal
	p        *fakePrinter
	events   chan event
	answered chan string
	states   chan string
}

// newRig is a queue at the production poll (5 s) on a real journal, its
// events and states reported on channels.
func newRig(t *testing.T) *rig {
	j, err := journal.Open(filepath.Join(t.TempDir(), "journal.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	r := &rig{j: j, p: &fakePrinter{}, events: make(chan event, 16), answered: make(chan string, 16), states: make(chan string, 16)}
	r.q = New(Host{
		Journal: j, Now: time.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Events: exchange.Events{
			Emit: func(tx *journal.Tx, typ, ref string, body any) (mqtt.Message, error) {
				if typ != wire.TypePrintResult {
					t.Errorf("emitted %s", typ)
				}
				b := body.(wire.PrintResult)
				tx.OnCommit(func() { r.events <- event{ref, b} })
				raw, _ := json.Marshal(b)
				return mqtt.Message{ID: "E-" + b.JobID, Type: typ, Ref: ref, Body: raw}, nil
			},
			Answered: func(tx *journal.Tx, jti string, _ mqtt.Message) error {
				tx.OnCommit(func() { r.answered <- jti })
				return nil
			},
			Flush: func() {},
		},
		Fault:   func(error) bool { return false },
		Changed: func(st string) { r.states <- st },
	}, r.p, config.Printer{PaperMM: 58, Status: "query"})
	return r
}

// run starts the worker; the returned func stops it and waits.
func (r *rig) run() func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.q.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

func (r *rig) job(t *testing.T, id string) Job {
	t.Helper()
	var job Job
	err := r.j.View(func(tx *journal.Tx) error {
		var ok bool
		var err error
		job, ok, err = Get(tx, id)
		if err == nil && !ok {
			err = fmt.Errorf("job %s missing", id)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return job
}

// A print.job queued while the paper is out is held, reported once as
// paper_out (not on every 5 s poll), and printed at the first poll after
// the paper is back; its print.result done answers the command.
func TestJobWaitsOutPaperOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		r.p.set(printer.Status{PaperOut: true})
		start := time.Now()
		stop := r.run()
		defer stop()
		if err := r.j.Update(func(tx *journal.Tx) error {
			res, err := r.q.Accept(tx, "C1", wire.PrintJob{JobID: "j1", Doc: "<C>欢迎光临</C>"})
			if res != nil {
				t.Errorf("answered at once: %+v", res)
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		r.q.Kick()
		e := <-r.events
		if e.Status != PaperOut || e.ref != "C1" || e.JobID != "j1" {
			t.Fatalf("first event %+v", e)
		}
		if st := <-r.states; st != PaperOut {
			t.Fatalf("state %s", st)
		}
		time.Sleep(12 * time.Second) // two polls in the fault: no new report
		synctest.Wait()
		if len(r.events) != 0 {
			t.Fatalf("reported again: %+v", <-r.events)
		}
		if texts, _ := r.p.printed(); len(texts) != 0 {
			t.Fatalf("printed without paper: %q", texts)
		}
		r.p.set(printer.Status{})
		e = <-r.events
		if e.Status != Done || e.Printed != 1 || e.ref != "C1" {
			t.Fatalf("final event %+v", e)
		}
		if jti := <-r.answered; jti != "C1" {
			t.Fatalf("answered %s", jti)
		}
		texts, at := r.p.printed()
		if len(texts) != 1 || !strings.Contains(texts[0], "欢迎光临") || strings.Contains(texts[0], "重打印") {
			t.Fatalf("printed %q", texts)
		}
		if d := at[0].Sub(start); d != 15*time.Second {
			t.Fatalf("printed %v after the job, want at the third poll (15s)", d)
		}
		if job := r.job(t, "j1"); !job.Done || job.Result != Done || job.Printed != 1 || job.Started {
			t.Fatalf("journal holds %+v", job)
		}
		if _, ok, err := r.q.Next(); ok || err != nil {
			t.Fatalf("queue not empty: %v %v", ok, err)
		}
	})
}

// heldPrinter is a fakePrinter that holds every job (XOFF: Paused) until
// the test lets it go, as a serial printer out of paper mid-job does.
type heldPrinter struct {
	*fakePrinter
	held    chan struct{} // closed: Print has the job and holds it
	release chan struct{}
	paused  sync.Mutex
	holding bool
}

func (p *heldPrinter) Print(ctx context.Context, b []byte) error {
	p.paused.Lock()
	p.holding = true
	p.paused.Unlock()
	close(p.held)
	<-p.release
	p.paused.Lock()
	p.holding = false
	p.paused.Unlock()
	return p.fakePrinter.Print(ctx, b)
}

func (p *heldPrinter) Paused() bool {
	p.paused.Lock()
	defer p.paused.Unlock()
	return p.holding
}

// A printer that stops mid-job (the roll ends, XOFF) is asked for its
// status at each poll while it holds the job: the stall is reported once
// as paper_out while the job is still being sent, and once the paper is
// back the job ends done, printed once.
func TestStallMidJobReported(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		hp := &heldPrinter{fakePrinter: r.p, held: make(chan struct{}), release: make(chan struct{})}
		r.q.printer = hp
		stop := r.run()
		defer stop()
		let := sync.OnceFunc(func() { close(hp.release) })
		defer let() // before stop: a held Print would keep the worker
		if err := r.j.Update(func(tx *journal.Tx) error {
			_, err := r.q.Accept(tx, "C5", wire.PrintJob{JobID: "j5", Doc: "HELD-JOB"})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		r.q.Kick()
		<-hp.held
		r.p.set(printer.Status{PaperOut: true})
		start := time.Now()
		var e event
		select {
		case e = <-r.events:
		case <-time.After(2 * DefaultPoll):
			t.Fatal("a stall mid-job not reported while the job is held")
		}
		if e.Status != PaperOut || e.JobID != "j5" || !hp.Paused() {
			t.Fatalf("event %+v (held %v)", e, hp.Paused())
		}
		if d := time.Since(start); d != DefaultPoll {
			t.Fatalf("reported %v into the stall, want at the first poll (%v)", d, DefaultPoll)
		}
		if st := <-r.states; st != PaperOut {
			t.Fatalf("state %s", st)
		}
		time.Sleep(3 * DefaultPoll) // polls in the stall: no new report
		synctest.Wait()
		if len(r.events) != 0 {
			t.Fatalf("reported again: %+v", <-r.events)
		}
		r.p.set(printer.Status{})
		let()
		if e := <-r.events; e.Status != Done || e.Printed != 1 {
			t.Fatalf("final event %+v", e)
		}
		if texts, _ := r.p.printed(); len(texts) != 1 || !strings.Contains(texts[0], "HELD-JOB") {
			t.Fatalf("printed %q", texts)
		}
		time.Sleep(3 * DefaultPoll) // the watch of the ended job asks nothing more
		synctest.Wait()
		if len(r.events) != 0 {
			t.Fatalf("reported after the job: %+v", <-r.events)
		}
	})
}

// A write that fails (the cable pulled mid-copy) may have left part of the
// copy on paper: the printer is offline, the job says so once, and the
// copy is printed again at the next poll marked 重打印 — once.
func TestFailedWriteRedoneMarked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		r.p.fail = 1
		stop := r.run()
		defer stop()
		if err := r.j.Update(func(tx *journal.Tx) error {
			_, err := r.q.Accept(tx, "C2", wire.PrintJob{JobID: "j2", Doc: "ORDER-2", Copies: 2})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		r.q.Kick()
		if e := <-r.events; e.Status != Offline || e.Printed != 0 {
			t.Fatalf("first event %+v", e)
		}
		if e := <-r.events; e.Status != Done || e.Printed != 2 || e.Copies != 2 {
			t.Fatalf("final event %+v", e)
		}
		texts, _ := r.p.printed()
		if len(texts) != 2 || !strings.Contains(texts[0], "重打印") || strings.Contains(texts[1], "重打印") {
			t.Fatalf("printed %q: want the cut-off copy redone marked, the second plain", texts)
		}
		if got := []string{<-r.states, <-r.states}; got[0] != Offline || got[1] != OK {
			t.Fatalf("states %v", got)
		}
	})
}

// A receipt queued on an idle printer is marked begun in the commit that
// queues it (no commit of its own), handed to the notification waiting
// for it, and marked done in that notification's commit; no print.result
// is owed for a receipt that printed without a fault. Queued again (a
// redelivery) it is not printed again.
func TestReceiptHandedToItsNotification(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		stop := r.run()
		defer stop()
		rc := printer.Receipt{Kind: printer.KindPay, Store: "张记面馆", OrderID: "N1", Wallet: "wechat", Amount: 12850, Time: time.Now()}
		queue := func() bool {
			var queued bool
			if err := r.j.Update(func(tx *journal.Tx) error {
				var err error
				queued, err = r.q.QueueReceipt(tx, "N1", "C3", rc, 1, false)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			return queued
		}
		if !queue() {
			t.Fatal("not queued")
		}
		if job := r.job(t, OrderPrefix+"N1"); !job.Started {
			t.Fatalf("not marked begun with its queueing: %+v", job)
		}
		r.q.Await(OrderPrefix + "N1") // as the notification's commit does
		commits := r.j.Commits()
		r.q.Kick()
		printed, handed, err := r.q.Wait(context.Background(), OrderPrefix+"N1")
		if err != nil || !printed || handed == nil {
			t.Fatalf("wait: %v %v %v", printed, handed, err)
		}
		if n := r.j.Commits() - commits; n != 0 {
			t.Fatalf("%d commits to print a receipt handed to its notification", n)
		}
		if err := r.j.Update(func(tx *journal.Tx) error { return r.q.MarkHanded(tx, *handed) }); err != nil {
			t.Fatal(err)
		}
		if queue() {
			t.Fatal("queued twice")
		}
		synctest.Wait()
		if job := r.job(t, OrderPrefix+"N1"); !job.Done || job.Result != Done {
			t.Fatalf("journal holds %+v", job)
		}
		texts, _ := r.p.printed()
		if len(texts) != 1 || !strings.Contains(texts[0], "128.50") || strings.Contains(texts[0], "重打印") {
			t.Fatalf("printed %q", texts)
		}
		if len(r.events) != 0 {
			t.Fatalf("print.result for a receipt without a fault: %+v", <-r.events)
		}
	})
}

func TestCheckJob(t *testing.T) {
	for _, tc := range []struct {
		job  wire.PrintJob
		want string
	}{
		{wire.PrintJob{JobID: "j", Doc: "x"}, ""},
		{wire.PrintJob{JobID: "j", Doc: "x", Copies: 5}, ""},
		{wire.PrintJob{JobID: "order:1", Doc: "x"}, "prefixes"},
		{wire.PrintJob{JobID: "reprint:1:2", Doc: "x"}, "prefixes"},
		{wire.PrintJob{JobID: "j", Doc: "x", Copies: 6}, "copies"},
		{wire.PrintJob{JobID: "j", Doc: "x", Copies: -1}, "copies"},
		{wire.PrintJob{JobID: "j"}, "empty"},
		{wire.PrintJob{JobID: "j", Doc: strings.Repeat("x", MaxDoc+1)}, "longer"},
	} {
		err := CheckJob(tc.job)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s copies %d doc %d bytes: %v, want %q", tc.job.JobID, tc.job.Copies, len(tc.job.Doc), err, tc.want)
		}
	}
}

// BenchmarkNext: the next job with 0 and 50,000 done jobs kept.
func BenchmarkNext(b *testing.B) {
	for _, n := range []int{0, 50000} {
		j, err := journal.Open(filepath.Join(b.TempDir(), "journal.db"))
		if err != nil {
			b.Fatal(err)
		}
		defer j.Close()
		// No worker runs: it would print the job under test.
		q := New(Host{Journal: j, Now: time.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, nil, config.Printer{PaperMM: 58})
		for i := 0; i < n; {
			j.Update(func(tx *journal.Tx) error {
				for k := 0; k < 5000 && i < n; k, i = k+1, i+1 {
					File(tx, Job{Seq: uint64(i + 1), JobID: fmt.Sprintf("done-%d", i), Doc: strings.Repeat("x", 300), Copies: 1, Done: true})
				}
				return nil
			})
		}
		j.Update(func(tx *journal.Tx) error {
			return File(tx, Job{Seq: uint64(n + 1), JobID: "next", Doc: "<C>x</C>", Copies: 1})
		})
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				job, ok, err := q.Next()
				if err != nil || !ok || job.JobID != "next" {
					b.Fatalf("%v %v %v", job.JobID, ok, err)
				}
			}
		})
	}
}

// A receipt printed just as its notification begins to wait is handed to
// the wait whatever the interleaving: the hand-off that takes the channel
// registered at accept and the wait that looks for a handed job must not
// miss each other (a lost hand-off left the notification unanswered and
// its job skipped by the worker as handed, for ever).
func TestHandOffNeverLost(t *testing.T) {
	r := newRig(t)
	const n = 10000
	jobs := make([]Job, n)
	if err := r.j.Update(func(tx *journal.Tx) error {
		for i := range jobs {
			jobs[i] = Job{JobID: fmt.Sprintf("%sR%d", OrderPrefix, i), Seq: uint64(i + 1), Copies: 1, Started: true, Doc: "x"}
			if err := File(tx, jobs[i]); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i, job := range jobs {
		id := job.JobID
		job.Printed = 1
		job.finish(Done, time.Now())
		r.q.Await(id) // at accept
		go r.q.handOff(job)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		printed, handed, err := r.q.Wait(ctx, id)
		cancel()
		if err != nil || !printed || handed == nil || handed.JobID != id {
			t.Fatalf("wait %d: printed %v, handed %+v, %v", i, printed, handed, err)
		}
		r.q.unhand(id)
	}
}

// A receipt that prints at once is laid out while the commit that queues
// it syncs: the worker prints those bytes, the queued job's first copy as
// render makes it. A queuing whose commit fails leaves no layout (its retry
// may be queued behind other jobs, and print would take the failed one's),
// and nothing but a first copy without the 重打印 mark is taken from one.
func TestReceiptLaidOutAhead(t *testing.T) {
	r := newRig(t)
	receipt := func(id string, amount int64) printer.Receipt {
		return printer.Receipt{Kind: printer.KindPay, Store: "张记面馆", OrderID: id, Wallet: "wechat", Amount: amount, Time: time.Now()}
	}
	queue := func(rc printer.Receipt, commit bool) Job {
		t.Helper()
		err := r.j.Update(func(tx *journal.Tx) error {
			if _, err := r.q.QueueReceipt(tx, rc.OrderID, "C1", rc, 1, false); err != nil || commit {
				return err
			}
			return errors.New("disk full")
		})
		if commit != (err == nil) {
			t.Fatal(err)
		}
		if !commit {
			return Job{}
		}
		return r.job(t, OrderPrefix+rc.OrderID)
	}
	laid := func(id string) bool {
		r.q.mu.Lock()
		defer r.q.mu.Unlock()
		return r.q.laid[id] != nil
	}
	done := func(job Job) {
		t.Helper()
		if err := r.q.finishJob(job, Done); err != nil {
			t.Fatal(err)
		}
	}
	queue(receipt("L1", 100), false)
	if laid(OrderPrefix + "L1") {
		t.Fatal("a queuing that did not commit left its layout")
	}
	job := queue(receipt("L1", 12850), true)
	if !job.Started {
		t.Fatalf("not printed at once: %+v", job)
	}
	if b, want := r.q.laidCopy(job, false), r.q.render(job, false); !bytes.Equal(b, want) {
		d, _ := printer.Decode(b)
		t.Fatalf("laid out %q, want the job's render", d.Text())
	}
	if b := r.q.laidCopy(job, false); b != nil {
		t.Fatal("a layout taken twice")
	}
	done(job) // the queue empty again: the next receipt prints at once
	second := queue(receipt("L3", 500), true)
	done(second)
	second.Printed = 1
	if !laid(second.JobID) {
		t.Fatal("L3 not laid out")
	}
	if b := r.q.laidCopy(second, false); b != nil {
		t.Error("a second copy taken from the layout")
	}
	reprint := queue(receipt("L4", 500), true)
	done(reprint)
	if !laid(reprint.JobID) {
		t.Fatal("L4 not laid out")
	}
	if b := r.q.laidCopy(reprint, true); b != nil {
		t.Error("a reprint taken from the layout")
	}
	for i := range 2 * maxLaid {
		done(queue(receipt(fmt.Sprint("M", i), 100), true)) // laid out, never printed
		r.q.mu.Lock()
		n := len(r.q.laid)
		r.q.mu.Unlock()
		if n > maxLaid {
			t.Fatalf("%d layouts kept, at most %d", n, maxLaid)
		}
	}

	// Through the worker. The layout is what prints: here, one put in
	// its place.
	marker := queue(receipt("L2", 500), true)
	marker.Receipt.Amount = 777
	r.q.mu.Lock()
	l := &laidOut{done: make(chan struct{}), b: r.q.render(marker, false)}
	close(l.done)
	r.q.laid[marker.JobID] = l
	r.q.mu.Unlock()
	// A queuing that failed while the printer was idle, then its retry
	// queued behind another job: the retry prints, not the failed one.
	queue(receipt("S1", 100), false)
	if err := r.j.Update(func(tx *journal.Tx) error { return r.q.AddDoc(tx, "slip-1", "C2", "<C>交班单</C>") }); err != nil {
		t.Fatal(err)
	}
	if j := queue(receipt("S1", 12850), true); j.Started {
		t.Fatalf("queued behind others, yet marked begun: %+v", j)
	}
	stop := r.run()
	defer stop()
	r.q.Kick()
	testkit.WaitUntil(t, 10*time.Second, "three jobs printed", func() bool { texts, _ := r.p.printed(); return len(texts) == 3 })
	texts, _ := r.p.printed()
	if !strings.Contains(texts[0], "7.77") {
		t.Fatalf("the worker printed %q, not the layout", texts[0])
	}
	if !strings.Contains(texts[2], "128.50") || strings.Contains(texts[2], "1.00") {
		t.Fatalf("the retried receipt printed %q", texts[2])
	}
}

// A receipt filed into the empty queue of an idle printer is the worker's
// next job as filed (take, without reading the queue), taken once; and
// one the worker read from the queue before the filing commit's hook ran
// is not taken again from the hook's copy once printed.
func TestReceiptTakenAsFiled(t *testing.T) {
	r := newRig(t)
	queue := func(id string) Job {
		t.Helper()
		rc := printer.Receipt{Kind: printer.KindPay, Store: "张记面馆", OrderID: id, Wallet: "wechat", Amount: 12850, Time: time.Now()}
		if err := r.j.Update(func(tx *journal.Tx) error {
			_, err := r.q.QueueReceipt(tx, id, "C1", rc, 1, false)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return r.job(t, OrderPrefix+id)
	}
	same := func(a, b Job) bool {
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		return bytes.Equal(ja, jb)
	}
	filed := queue("T1")
	job, ok, err := r.q.take()
	if err != nil || !ok || !same(job, filed) {
		t.Fatalf("took %+v (%v, %v), want the job as filed %+v", job, ok, err, filed)
	}
	if r.q.next != nil {
		t.Fatal("the filed job is still the next after it was taken")
	}
	if err := r.q.finishJob(job, Done); err != nil {
		t.Fatal(err)
	}

	second := queue("T2")
	r.q.mu.Lock()
	late := r.q.next // the hook's copy, set after the worker read the queue
	r.q.next = nil
	r.q.mu.Unlock()
	if late == nil || late.JobID != second.JobID {
		t.Fatalf("next is %+v, want %s", late, second.JobID)
	}
	job, ok, err = r.q.take() // from the queue
	if err != nil || !ok || job.JobID != second.JobID {
		t.Fatalf("took %+v (%v, %v), want %s", job, ok, err, second.JobID)
	}
	if err := r.q.finishJob(job, Done); err != nil {
		t.Fatal(err)
	}
	r.q.mu.Lock()
	r.q.next = late
	r.q.mu.Unlock()
	if job, ok, err := r.q.take(); err != nil || ok {
		t.Fatalf("took %s again after it printed (%v)", job.JobID, err)
	}
}
