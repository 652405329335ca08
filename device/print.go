package device

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/posagent/posagent/wire"

	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/printer"
)

// StatusPrinter is a Printer that can say why it cannot print (DLE EOT).
// The print worker asks before each job and on a timer when
// printer.status is query; a Printer without it is taken as always ready.
type StatusPrinter interface {
	Printer
	Status(ctx context.Context) (printer.Status, error)
}

// pauser is a Printer that can tell that it holds a job with XOFF, so the
// worker knows to ask for the status while Print is still running.
type pauser interface{ Paused() bool }

// Printer states in State.Printer and print.result statuses. ok, paper_out,
// offline and none are protocol §1's; cover_open is this agent's.
const (
	PrinterOK        = "ok"
	PrinterPaperOut  = "paper_out"
	PrinterCoverOpen = "cover_open"
	PrinterOffline   = "offline"
)

// print.result statuses (protocol §3) and this agent's "queued", for a
// duplicate job_id still waiting.
const (
	PrintDone   = "done"
	PrintFailed = "failed"
	PrintQueued = "queued"
)

// Job id prefixes the agent uses for its own jobs; print.job may not use
// them, so a platform job can never be taken for a receipt or skip one.
const (
	jobOrderPrefix   = "order:"   // the receipt of notify.payment order_id
	jobReprintPrefix = "reprint:" // an explicit reprint
)

// DefaultPrintPoll is how often the print worker asks the printer for its
// status while idle or waiting for a fault to clear.
const DefaultPrintPoll = 5 * time.Second

// MaxPrintDoc bounds print.job's doc: a long receipt is a few KiB, and the
// whole signed command must stay under mqtt.MaxTokenSize.
const MaxPrintDoc = 32 << 10

// statusWait bounds one status check, queries and waiting for the line
// included (a DLE EOT query has boards' StatusTimeout to be answered).
const statusWait = 5 * time.Second

// printRecord is one print job in the journal (bucket Print), keyed by job
// id. A copy is marked Started before its bytes go out and counted in
// Printed once the printer has it, so a copy cut off (a crash, a write
// error, a printer that lost power holding it) is redone once marked 重打印
// and a copy done is never sent again.
type printRecord struct {
	At      int64            `json:"at,omitempty"` // set when done: Prune drops it 7 days later
	Queued  int64            `json:"queued"`
	Seq     uint64           `json:"seq"`
	JobID   string           `json:"job_id"`
	Jti     string           `json:"jti,omitempty"` // print.job answered by the final print.result
	Ref     string           `json:"ref,omitempty"` // ref of this job's events
	OrderID string           `json:"order_id,omitempty"`
	Doc     string           `json:"doc,omitempty"`     // markup of a print.job
	Receipt *printer.Receipt `json:"receipt,omitempty"` // or a receipt, laid out when printed
	Copies  int              `json:"copies"`
	Printed int              `json:"printed"`
	Started bool             `json:"started,omitempty"`
	Reprint bool             `json:"reprint,omitempty"`
	Status  string           `json:"status,omitempty"`  // last status reported for it
	Faulted bool             `json:"faulted,omitempty"` // a fault was reported: report the end too
	Done    bool             `json:"done,omitempty"`
	Result  string           `json:"result,omitempty"`
}

// printResult is print.result's body.
type printResult struct {
	JobID     string `json:"job_id"`
	Status    string `json:"status"`
	OrderID   string `json:"order_id,omitempty"`
	Copies    int    `json:"copies,omitempty"`
	Printed   int    `json:"printed"`
	Duplicate bool   `json:"duplicate,omitempty"`
	Error     string `json:"error,omitempty"`
}

// printQueue is the print worker's state: it alone talks to the printer.
type printQueue struct {
	poll    time.Duration
	query   bool // printer.status is query
	profile printer.Profile
	logo    *printer.Bitmap

	wake chan struct{} // a job was queued

	mu      sync.Mutex
	changed chan struct{} // closed (and replaced) on every job or printer change
	// waiting are the notifications waiting for their receipt, by job id;
	// handed the receipts printed and handed to them, to be marked done in
	// the notification's final commit (a commit of their own saved). The
	// worker passes over a handed job; after a crash it is redone marked
	// 重打印, as a job printed but not yet marked done always was.
	waiting map[string]chan printRecord
	handed  map[string]printRecord

	busy  atomic.Bool // a job is being printed
	begun fresh       // jobs marked Started ahead by this process (queueReceiptIn)
}

// await registers a notification waiting for job id (once: a second call
// returns the first one's channel).
func (q *printQueue) await(id string) chan printRecord {
	q.mu.Lock()
	defer q.mu.Unlock()
	if ch := q.waiting[id]; ch != nil {
		return ch // registered when it was accepted
	}
	ch := make(chan printRecord, 1)
	q.waiting[id] = ch
	return ch
}

// unawait ends a wait; a job handed meanwhile is returned, to be marked
// done by the caller.
func (q *printQueue) unawait(id string, ch chan printRecord) *printRecord {
	q.mu.Lock()
	if q.waiting[id] == ch {
		delete(q.waiting, id)
	}
	q.mu.Unlock()
	select {
	case job := <-ch:
		return &job
	default:
		return nil
	}
}

// handOff gives a printed job to the notification waiting for it, if one
// waits: true when it took it.
func (q *printQueue) handOff(job printRecord) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	ch := q.waiting[job.JobID]
	if ch == nil {
		return false
	}
	delete(q.waiting, job.JobID)
	q.handed[job.JobID] = job
	ch <- job
	return true
}

// handedJob is a job printed and handed, not yet marked done.
func (q *printQueue) handedJob(id string) (printRecord, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	job, ok := q.handed[id]
	return job, ok
}

// handedJobs lists the jobs printed and handed, not yet marked done.
func (q *printQueue) handedJobs() []printRecord {
	q.mu.Lock()
	defer q.mu.Unlock()
	var jobs []printRecord
	for _, job := range q.handed {
		jobs = append(jobs, job)
	}
	return jobs
}

// unhand forgets a handed job once its done mark is committed.
func (q *printQueue) unhand(id string) {
	q.mu.Lock()
	delete(q.handed, id)
	q.mu.Unlock()
	q.broadcast()
}

func newPrintQueue(a *Agent) *printQueue {
	q := &printQueue{
		poll:    DefaultPrintPoll,
		query:   a.cfg.Printer.Status == "query",
		wake:    make(chan struct{}, 1),
		changed: make(chan struct{}),
		waiting: map[string]chan printRecord{},
		handed:  map[string]printRecord{},
	}
	p, err := printer.Lookup(a.cfg.Printer.Model, a.cfg.Printer.PaperMM)
	if err != nil {
		a.log.Error("printer profile, using the generic one for the paper", "err", err)
		p = printer.ForPaper(a.cfg.Printer.PaperMM)
	}
	q.profile = p
	if path := a.cfg.Printer.Logo; path != "" {
		if logo, err := loadLogo(path, p.Dots); err != nil {
			a.log.Error("printer.logo not loaded: receipts print without it", "path", path, "err", err)
		} else {
			q.logo = logo
		}
	}
	return q
}

// loadLogo reads a PNG and makes it a logo for paper dots wide.
func loadLogo(path string, dots int) (*printer.Bitmap, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return printer.LogoBitmap(img, dots)
}

func (q *printQueue) kick() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *printQueue) broadcast() {
	q.mu.Lock()
	close(q.changed)
	q.changed = make(chan struct{})
	q.mu.Unlock()
}

func (q *printQueue) changes() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.changed
}

// PrintProfile is the printer profile receipts are laid out for.
func (a *Agent) PrintProfile() printer.Profile { return a.pq.profile }

// acceptPrintJob queues a print.job durably; its print.result answers it
// when the job is done. A job_id seen before is not printed again.
func (a *Agent) acceptPrintJob(tx *journal.Tx, m mqtt.Message) (*mqtt.Message, func(), error) {
	var b wire.PrintJob
	if err := decodeBody(m.Body, &b); err != nil {
		return a.badRequest(tx, m, "print.job: %v", err)
	}
	switch {
	case !validID(b.JobID):
		return a.badRequest(tx, m, "print.job: job_id must be 1-64 printable ASCII characters")
	case strings.HasPrefix(b.JobID, jobOrderPrefix) || strings.HasPrefix(b.JobID, jobReprintPrefix):
		return a.badRequest(tx, m, "print.job: job_id prefixes %q and %q are the device's own", jobOrderPrefix, jobReprintPrefix)
	case b.Copies < 0 || b.Copies > 5:
		return a.badRequest(tx, m, "print.job: copies must be 0-5")
	case b.Doc == "":
		return a.badRequest(tx, m, "print.job: doc is empty")
	case len(b.Doc) > MaxPrintDoc:
		return a.badRequest(tx, m, "print.job: doc is longer than %d bytes", MaxPrintDoc)
	}
	if b.Copies == 0 {
		b.Copies = 1
	}
	var prev printRecord
	dup, err := tx.Get(journal.Print, b.JobID, &prev)
	if err != nil {
		return nil, nil, err
	}
	if dup {
		a.log.Info("print.job duplicate job_id, not printed again", "job_id", b.JobID, "jti", m.ID)
		st := prev.Result
		if !prev.Done {
			st = PrintQueued
		}
		ans, err := a.emit(tx, wire.TypePrintResult, m.ID, printResult{JobID: b.JobID, Status: st, Copies: prev.Copies, Printed: prev.Printed, Duplicate: true})
		return &ans, nil, err
	}
	if a.printer == nil {
		ans, err := a.emit(tx, wire.TypePrintResult, m.ID, printResult{JobID: b.JobID, Status: PrintFailed, Copies: b.Copies, Error: "this device has no printer"})
		return &ans, nil, err
	}
	rec := printRecord{JobID: b.JobID, Jti: m.ID, Ref: m.ID, Doc: b.Doc, Copies: b.Copies}
	if err := a.queuePrint(tx, &rec); err != nil {
		return nil, nil, err
	}
	return nil, a.pq.kick, nil
}

// queuePrint stores a new job at the end of the queue, within tx.
func (a *Agent) queuePrint(tx *journal.Tx, rec *printRecord) error {
	seq, err := tx.NextSequence(journal.Print)
	if err != nil {
		return err
	}
	rec.Seq, rec.Queued = seq, a.now().Unix()
	return filePrint(tx, *rec)
}

// Reprint queues an explicit reprint of an order's receipt, marked 重打印,
// as a job of its own (the original job is not touched). It returns the
// new job's id. The local API's POST /v1/orders/{no}/reprint calls it.
func (a *Agent) Reprint(orderID string) (string, error) {
	if a.printer == nil {
		return "", errors.New("this device has no printer")
	}
	var id string
	err := a.j.Update(func(tx *journal.Tx) error {
		var orig printRecord
		ok, err := tx.Get(journal.Print, jobOrderPrefix+orderID, &orig)
		if err != nil {
			return err
		}
		if !ok || orig.Receipt == nil {
			var n notifyRecord
			found, err := tx.Get(journal.Notify, orderID, &n)
			if err != nil {
				return err
			}
			if !found {
				return fmt.Errorf("no receipt known for order %q", orderID)
			}
			r := a.receiptOf(n.Body, time.Unix(n.At, 0))
			orig.Receipt = &r
		}
		r := *orig.Receipt
		r.Reprint = true
		n, err := tx.NextSequence(journal.Print)
		if err != nil {
			return err
		}
		id = jobReprintPrefix + orderID + ":" + strconv.FormatUint(n, 10)
		return a.queuePrint(tx, &printRecord{JobID: id, OrderID: orderID, Receipt: &r, Copies: 1, Reprint: true})
	})
	if err != nil {
		return "", err
	}
	a.pq.kick()
	return id, nil
}

// receiptOf is the receipt of a notification. A refund's or deposit
// operation's receipt names the order it belongs to as 订单号 and its own
// number apart.
func (a *Agent) receiptOf(b wire.NotifyPayment, at time.Time) printer.Receipt {
	r := printer.Receipt{
		Kind: b.Kind, Store: a.cfg.Store.Name, Merchant: a.cfg.Store.Merchant, Device: a.cfg.DeviceID,
		OrderID: b.OrderID, Desc: b.Desc, Staff: b.Staff, TransactionID: b.TransactionID,
		Wallet: strings.ToLower(b.Wallet), Amount: b.Amount, Time: at,
	}
	if b.OutTradeNo != "" && b.OutTradeNo != b.OrderID {
		switch b.Kind {
		case printer.KindRefund:
			r.OrderID, r.RefundNo = b.OutTradeNo, b.OrderID
		case printer.KindConsume, printer.KindUnfreeze:
			r.OrderID, r.RequestNo = b.OutTradeNo, b.OrderID
		}
	}
	return r
}

// staffName is how a receipt names a staff member: their name on the
// roster or the open shift, else their id.
func (a *Agent) staffName(tx *journal.Tx, id string) string {
	if id == "" {
		return ""
	}
	if r, err := loadRoster(tx); err == nil {
		if s, ok := r.find(id); ok && s.Name != "" {
			return s.Name
		}
	}
	var sh ShiftRecord
	if ok, _ := tx.Get(journal.Shifts, shiftCurrent, &sh); ok && sh.Staff.ID == id && sh.Staff.Name != "" {
		return sh.Staff.Name
	}
	return id
}

// queueReceipt and waitReceipt are notify.payment's print step: the
// receipt goes through the durable print queue as job "order:ORDER_ID",
// queued in the same transaction that marks the step started, so a dead
// printer or a crash loses nothing and the order is printed once.
// queueReceipt queues it (once); runNotify calls it before the
// announcement, so the receipt prints while the words play. waitReceipt
// waits until the job is done (true) or the printer reports a fault (false:
// the job stays queued, prints when the fault clears, and its print.result
// follows with the notification's jti as ref).
func (a *Agent) queueReceipt(r *notifyRecord) error {
	err := a.j.Update(func(tx *journal.Tx) error {
		n := *r
		if err := a.queueReceiptIn(tx, &n); err != nil {
			return err
		}
		*r = n
		return putNotify(tx, n)
	})
	if err == nil {
		a.pq.kick()
	}
	return err
}

// queueReceiptIn queues r's receipt within tx (once) and marks r's print
// step started; the caller files r in the same transaction and kicks the
// print worker after the commit. A notification marked started has its job
// already, unless a build before the print queue started it: that one is
// redone marked 重打印.
func (a *Agent) queueReceiptIn(tx *journal.Tx, r *notifyRecord) error {
	id := jobOrderPrefix + r.Body.OrderID
	var prev printRecord
	ok, err := tx.Get(journal.Print, id, &prev)
	if err != nil || ok {
		return err
	}
	rc := a.receiptOf(r.Body, time.Unix(r.At, 0))
	rec := printRecord{JobID: id, Ref: r.Jti, OrderID: r.Body.OrderID, Receipt: &rc,
		Copies: max(r.Body.Copies, 1), Reprint: r.PrintStarted}
	idle, err := a.printIdle(tx)
	if err != nil {
		return err
	}
	if idle {
		// It prints as soon as this commits: marked begun here rather
		// than in a commit of its own (fresh: no reprint for this process).
		rec.Started = true
		tx.OnCommit(func() { a.pq.begun.add(id) })
	}
	if err := a.queuePrint(tx, &rec); err != nil {
		return err
	}
	r.PrintStarted = true
	return nil
}

// printIdle says, within tx, whether a job queued now would be printed at
// once: the printer ready, nothing printing, nothing queued.
func (a *Agent) printIdle(tx *journal.Tx) (bool, error) {
	if a.pq.busy.Load() || a.stateLocked().Printer != PrinterOK {
		return false, nil
	}
	empty := true
	err := tx.Seek(journal.PrintQueue, "", func(string, []byte) (bool, error) { empty = false; return false, nil })
	return empty, err
}

// waitReceipt waits for job id to be printed (true) or for a printer
// fault (false, the job kept). A receipt printed while it waits is handed
// to it (handed non-nil): the caller marks it done in its own commit, then
// calls a.pq.unhand.
func (a *Agent) waitReceipt(ctx context.Context, id string) (printed bool, handed *printRecord, err error) {
	if job, ok := a.pq.handedJob(id); ok {
		return true, &job, nil // handed before, its mark not yet committed
	}
	ch := a.pq.await(id)
	defer func() {
		if job := a.pq.unawait(id, ch); job != nil && handed == nil {
			// Handed as this wait ended without it: marked done here.
			if ferr := a.finishPrint(*job, PrintDone); ferr == nil {
				a.pq.unhand(id)
			} else {
				a.storageFault(ferr)
			}
		}
	}()
	for {
		changed := a.pq.changes()
		select {
		case job := <-ch:
			return true, &job, nil
		default:
		}
		var rec printRecord
		var ok bool
		err := a.j.View(func(tx *journal.Tx) error {
			var err error
			ok, err = tx.Get(journal.Print, id, &rec)
			return err
		})
		if err != nil {
			return false, nil, err
		}
		if !ok {
			return false, nil, fmt.Errorf("print job %s missing", id)
		}
		if rec.Done {
			return rec.Result == PrintDone, nil, nil
		}
		if st := a.State().Printer; st != PrinterOK || rec.Faulted {
			// Queued: printed when the printer is back, and its
			// print.result then tells the platform, since notify.done
			// says printed:false.
			err := a.j.Update(func(tx *journal.Tx) error {
				var cur printRecord
				if ok, err := tx.Get(journal.Print, id, &cur); err != nil || !ok || cur.Done {
					return err
				}
				cur.Faulted = true
				return tx.Put(journal.Print, id, cur)
			})
			return false, nil, err
		}
		select {
		case job := <-ch:
			return true, &job, nil
		case <-changed:
		case <-ctx.Done():
			return false, nil, ctx.Err()
		}
	}
}

// nextPrint returns the oldest job not done: the first of the queue index
// (an entry whose job is gone or done is dropped on the way).
func (a *Agent) nextPrint() (printRecord, bool, error) {
	var job printRecord
	var found bool
	var stale []string
	err := a.j.View(func(tx *journal.Tx) error {
		return tx.Seek(journal.PrintQueue, "", func(k string, v []byte) (bool, error) {
			var id string
			if err := json.Unmarshal(v, &id); err != nil {
				stale = append(stale, k)
				return true, nil
			}
			if _, handed := a.pq.handedJob(id); handed {
				return true, nil // printed; its notification marks it done
			}
			ok, err := tx.Get(journal.Print, id, &job)
			if err != nil || !ok || job.Done {
				stale = append(stale, k)
				return err == nil, err
			}
			found = true
			return false, nil
		})
	})
	if err == nil && len(stale) > 0 {
		err = a.j.Update(func(tx *journal.Tx) error {
			for _, k := range stale {
				if err := tx.Delete(journal.PrintQueue, k); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil || !found {
		return printRecord{}, false, err
	}
	return job, true, nil
}

// printWorker owns the printer: it prints queued jobs oldest first, one at
// a time, checks the printer's status before each job and on a timer, and
// holds the queue while the printer cannot print.
func (a *Agent) printWorker(ctx context.Context) {
	if a.printer == nil {
		return
	}
	if n, err := a.j.Prune(journal.Print, a.now().Add(-NotifyTTL)); err != nil {
		a.log.Error("prune print jobs", "err", err)
	} else if n > 0 {
		a.log.Info("pruned print jobs", "count", n)
	}
	t := time.NewTicker(a.pq.poll)
	defer t.Stop()
	for ctx.Err() == nil {
		job, ok, err := a.nextPrint()
		if err != nil {
			a.log.Error("print queue", "err", err)
		}
		if ok {
			a.flushHanded()
			a.pq.busy.Store(true)
			err = a.runPrint(ctx, job)
			a.pq.busy.Store(false)
			if err == nil {
				continue
			}
			if ctx.Err() != nil {
				return
			}
			a.log.Warn("print job waiting", "job_id", job.JobID, "reason", err)
		} else {
			// Idle: keep the state true on the timer.
			select {
			case <-ctx.Done():
				return
			case <-a.pq.wake:
				continue
			case <-t.C:
				a.checkPrinter(ctx, nil)
				continue
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-a.pq.wake:
		}
	}
}

// errNotReady says the printer cannot print now; the job waits.
var errNotReady = errors.New("printer not ready")

// checkPrinter asks the printer for its status (when printer.status is
// query), publishes it in the state, and reports a change to job (if any)
// as a print.result. It returns the printer state.
func (a *Agent) checkPrinter(ctx context.Context, job *printRecord) string {
	sp, ok := a.printer.(StatusPrinter)
	if !a.pq.query || !ok {
		return PrinterOK
	}
	qctx, cancel := context.WithTimeout(ctx, statusWait)
	st, err := sp.Status(qctx)
	waited := qctx.Err() != nil
	cancel()
	state := PrinterOK
	switch {
	case ctx.Err() != nil:
		return a.State().Printer
	case err != nil && waited:
		// The query could not be sent in time (a job held mid-image):
		// nothing new is known.
		return a.State().Printer
	case err != nil:
		state = PrinterOffline
	case st.PaperOut:
		state = PrinterPaperOut
	case st.CoverOpen:
		state = PrinterCoverOpen
	case st.Offline:
		state = PrinterOffline
	}
	a.setPrinterState(state, err)
	if job != nil {
		a.reportJob(job, state)
	}
	return state
}

func (a *Agent) setPrinterState(state string, err error) {
	if a.State().Printer == state {
		return
	}
	if err != nil {
		a.log.Warn("printer state", "state", state, "err", err)
	} else {
		a.log.Info("printer state", "state", state)
	}
	a.updateState(func(s *State) { s.Printer = state })
	a.pq.broadcast()
}

// reportJob sends print.result {status} for a job whose printer state
// changed while it waits: once per change, not on every poll.
func (a *Agent) reportJob(job *printRecord, state string) {
	status := state
	if state == PrinterOK {
		status = "" // back to printing: the next report is its end
	}
	if job.Status == status {
		return
	}
	job.Status = status
	if status != "" {
		job.Faulted = true
	}
	err := a.j.Update(func(tx *journal.Tx) error {
		var cur printRecord
		if ok, err := tx.Get(journal.Print, job.JobID, &cur); err != nil || !ok || cur.Done {
			return err
		}
		cur.Status, cur.Faulted = job.Status, job.Faulted
		if err := tx.Put(journal.Print, job.JobID, cur); err != nil {
			return err
		}
		if status == "" {
			return nil
		}
		_, err := a.emit(tx, wire.TypePrintResult, job.Ref, printResult{JobID: job.JobID, Status: status, OrderID: job.OrderID, Copies: job.Copies, Printed: job.Printed})
		return err
	})
	if err != nil {
		a.log.Error("print job status not journaled", "job_id", job.JobID, "err", err)
		return
	}
	a.link.Kick()
	a.pq.broadcast()
}

// runPrint prints the copies of job not yet printed. It returns nil when
// the job is done, or why it must wait.
func (a *Agent) runPrint(ctx context.Context, job printRecord) error {
	for job.Printed < job.Copies {
		if st := a.checkPrinter(ctx, &job); st != PrinterOK {
			return fmt.Errorf("%w: %s", errNotReady, st)
		}
		// Marked begun ahead by this process (queueReceiptIn): no
		// replay, and no commit needed for the mark.
		ahead := job.Started && a.pq.begun.take(job.JobID)
		reprint := (job.Started && !ahead) || job.Reprint
		if !ahead {
			job.Started = true
			if err := a.savePrint(job); err != nil {
				return err
			}
		}
		werr := a.printWatched(ctx, &job, a.render(job, reprint))
		if ctx.Err() != nil {
			return ctx.Err() // Started stays: redone marked 重打印 after a restart
		}
		if werr != nil {
			// Part of the copy may be on paper: it is redone marked 重打印.
			a.setPrinterState(PrinterOffline, werr)
			a.reportJob(&job, PrinterOffline)
			return werr
		}
		if !a.pq.query {
			a.setPrinterState(PrinterOK, nil) // no back channel: a write that went through is all we know
		}
		// The printer has the bytes. If it stopped (paper, cover) it keeps
		// them and prints them when the fault clears: wait for that, and do
		// not send them again. If it stopped answering, it may have lost
		// power and them with it: the copy is redone marked 重打印.
		for {
			st := a.checkPrinter(ctx, &job)
			if st == PrinterOK {
				break
			}
			if st == PrinterOffline {
				return fmt.Errorf("%w: offline after the job was sent", errNotReady)
			}
			if err := a.waitPoll(ctx); err != nil {
				return err
			}
		}
		job.Printed++
		job.Started = false
		if job.Printed < job.Copies {
			if err := a.savePrint(job); err != nil {
				return err
			}
		}
	}
	if job.Jti == "" && !job.Faulted {
		// A receipt whose notification waits: marked done in its
		// final commit. No print.result is owed for it.
		done := job
		done.finish(PrintDone, a.now())
		if a.pq.handOff(done) {
			a.log.Info("printed", "job_id", job.JobID, "copies", job.Printed)
			return nil
		}
	}
	return a.finishPrint(job, PrintDone)
}

// flushHanded marks done the receipts printed and handed whose
// notification has not committed yet, before the worker starts another
// job: a crash then finds at most one receipt printed and not marked done
// (redone as 重打印), as before receipts were handed. It costs a commit
// only when the printer is ahead of the speaker.
func (a *Agent) flushHanded() {
	jobs := a.pq.handedJobs()
	if len(jobs) == 0 {
		return
	}
	err := a.j.Update(func(tx *journal.Tx) error {
		for i := range jobs {
			if err := putPrint(tx, &jobs[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		a.storageFault(err)
		return
	}
	for _, job := range jobs {
		a.pq.unhand(job.JobID)
	}
}

// finish marks job done with result at now.
func (job *printRecord) finish(result string, now time.Time) {
	job.Done, job.Result, job.Started, job.Status = true, result, false, ""
	job.At = now.Unix()
}

// printWatched runs Print, asking for the status whenever the printer holds
// the job with XOFF, so a stall mid-job shows as paper_out in the state and
// in a print.result while the job waits.
func (a *Agent) printWatched(ctx context.Context, job *printRecord, b []byte) error {
	done := make(chan error, 1)
	go func() { done <- a.printer.Print(ctx, b) }()
	p, ok := a.printer.(pauser)
	t := time.NewTicker(a.pq.poll)
	defer t.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-t.C:
			if ok && p.Paused() {
				a.checkPrinter(ctx, job)
			}
		}
	}
}

func (a *Agent) waitPoll(ctx context.Context) error {
	t := time.NewTimer(a.pq.poll)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// render lays out and encodes one copy of job.
func (a *Agent) render(job printRecord, reprint bool) []byte {
	p := a.pq.profile
	var doc string
	if job.Receipt != nil {
		r := *job.Receipt
		r.Reprint = r.Reprint || reprint
		if job.Copies > 1 {
			r.Copy, r.Copies = job.Printed+1, job.Copies
		}
		doc = r.Markup(p.Columns)
	} else {
		doc = job.Doc
		if reprint {
			doc = "<C>** 重打印 **</C><BR>" + doc
		}
	}
	return printer.EncodeWith(doc, p, printer.Options{Logo: a.pq.logo})
}

// savePrint stores the worker's copy of job, keeping a Faulted mark that
// printNotify may have set meanwhile.
func (a *Agent) savePrint(job printRecord) error {
	return a.j.Update(func(tx *journal.Tx) error { return putPrint(tx, &job) })
}

func putPrint(tx *journal.Tx, job *printRecord) error {
	var cur printRecord
	if _, err := tx.Get(journal.Print, job.JobID, &cur); err != nil {
		return err
	}
	job.Faulted = job.Faulted || cur.Faulted
	return filePrint(tx, *job)
}

// finishPrint marks job done and sends its print.result: the answer of a
// print.job (recorded for redelivery), or for a receipt only when a fault
// was reported for it before.
func (a *Agent) finishPrint(job printRecord, result string) error {
	job.finish(result, a.now())
	err := a.j.Update(func(tx *journal.Tx) error {
		if err := putPrint(tx, &job); err != nil {
			return err
		}
		if result == PrintDone {
			if err := a.beginNextPrint(tx, job.Seq); err != nil {
				return err
			}
		}
		if job.Jti == "" && !job.Faulted {
			return nil
		}
		ans, err := a.emit(tx, wire.TypePrintResult, job.Ref, printResult{JobID: job.JobID, Status: result, OrderID: job.OrderID, Copies: job.Copies, Printed: job.Printed})
		if err != nil {
			return err
		}
		if job.Jti != "" {
			return finish(tx, job.Jti, ans)
		}
		return nil
	})
	if err != nil {
		return err
	}
	a.log.Info("printed", "job_id", job.JobID, "copies", job.Printed)
	a.link.Kick()
	a.pq.broadcast()
	return nil
}

// beginNextPrint marks the job queued after seq begun (Started), in the
// commit that finishes the one before: the worker prints it next, at once,
// so the mark costs no commit of its own (fresh: no reprint for this
// process).
func (a *Agent) beginNextPrint(tx *journal.Tx, seq uint64) error {
	if a.stateLocked().Printer != PrinterOK {
		return nil
	}
	return tx.Seek(journal.PrintQueue, seqKey(seq+1), func(_ string, v []byte) (bool, error) {
		var id string
		if json.Unmarshal(v, &id) != nil {
			return true, nil
		}
		if _, handed := a.pq.handedJob(id); handed {
			return true, nil
		}
		var job printRecord
		if ok, err := tx.Get(journal.Print, id, &job); err != nil || !ok || job.Done {
			return true, nil // dropped by nextPrint on the way
		}
		if job.Started {
			return false, nil
		}
		job.Started = true
		tx.OnCommit(func() { a.pq.begun.add(id) })
		return false, filePrint(tx, job)
	})
}

// queueDoc queues markup (a shift handover slip, a transaction summary:
// printer.ShiftSummary.Markup, printer.TransactionSummary.Markup) as a
// print job within tx, once per jobID; ref is the command its events
// answer. The caller calls a.pq.kick after the commit.
func (a *Agent) queueDoc(tx *journal.Tx, jobID, ref, markup string) error {
	var prev printRecord
	if ok, err := tx.Get(journal.Print, jobID, &prev); err != nil || ok {
		return err
	}
	return a.queuePrint(tx, &printRecord{JobID: jobID, Ref: ref, Doc: markup, Copies: 1})
}
