// Package printq is the durable print queue and the worker that alone talks
// to the printer: print.job's jobs, notify.payment's receipts (job
// "order:ORDER_ID"), reprints and the shift and transaction slips.
//
// Invariants:
//   - a job is in the journal (bucket Print, and the PrintQueue index while
//     not done) before anything of it is printed, so a dead printer or a
//     crash loses nothing;
//   - a copy is marked Started before its bytes go out and counted in
//     Printed once the printer has them: a copy cut off (a crash, a write
//     error, a printer that lost power holding it) is redone once marked
//     重打印, and a copy done is never sent again;
//   - jobs print one at a time, oldest first, and only while the printer
//     says it can (DLE EOT when printer.status is query);
//   - a print.job is answered once, by the print.result of its end; a fault
//     while a job waits is reported once per change.
package printq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/device/exchange"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/printer"
	"github.com/posagent/posagent/wire"
)

// Printer prints one job of ESC/POS bytes.
type Printer interface {
	Print(ctx context.Context, job []byte) error
}

// StatusPrinter is a Printer that can say why it cannot print (DLE EOT).
// The worker asks before each job and on a timer when printer.status is
// query; a Printer without it is taken as always ready.
type StatusPrinter interface {
	Printer
	Status(ctx context.Context) (printer.Status, error)
}

// pauser is a Printer that can tell that it holds a job with XOFF, so the
// worker knows to ask for the status while Print is still running.
type pauser interface{ Paused() bool }

// Printer states in the device's state and print.result statuses. ok,
// paper_out, offline and none are protocol §1's; cover_open is this
// agent's.
const (
	OK        = "ok"
	PaperOut  = "paper_out"
	CoverOpen = "cover_open"
	Offline   = "offline"
	None      = "none"
)

// print.result statuses (protocol §3) and this agent's "queued", for a
// duplicate job_id still waiting.
const (
	Done   = "done"
	Failed = "failed"
	Queued = "queued"
)

// Job id prefixes the agent uses for its own jobs; print.job may not use
// them, so a platform job can never be taken for a receipt or skip one.
const (
	OrderPrefix   = "order:"   // the receipt of notify.payment order_id
	ReprintPrefix = "reprint:" // an explicit reprint
)

// DefaultPoll is how often the worker asks the printer for its status
// while idle or waiting for a fault to clear.
const DefaultPoll = 5 * time.Second

// MaxDoc bounds print.job's doc: a long receipt is a few KiB, and the
// whole signed command must stay under mqtt.MaxTokenSize.
const MaxDoc = 32 << 10

// statusWait bounds one status check, queries and waiting for the line
// included (a DLE EOT query has boards' StatusTimeout to be answered).
const statusWait = 5 * time.Second

// Job is one print job in the journal (bucket Print), keyed by job id.
type Job struct {
	At      int64            `json:"at"` // set when done: pruned Keep later; first and always written, so the journal reads it without decoding the job
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

// jobState is what of a Job its waits and saves read: decoding only these
// leaves the receipt, most of the record, unread.
type jobState struct {
	Faulted bool   `json:"faulted,omitempty"`
	Done    bool   `json:"done,omitempty"`
	Result  string `json:"result,omitempty"`
}

// finish marks job done with result at now.
func (job *Job) finish(result string, now time.Time) {
	job.Done, job.Result, job.Started, job.Status = true, result, false, ""
	job.At = now.Unix()
}

// File writes a job and keeps it in the queue index while not done.
func File(tx *journal.Tx, job Job) error {
	if err := tx.Put(journal.Print, job.JobID, job); err != nil {
		return err
	}
	if job.Done {
		return tx.Delete(journal.PrintQueue, journal.SeqKey(job.Seq))
	}
	return tx.Put(journal.PrintQueue, journal.SeqKey(job.Seq), job.JobID)
}

// Host is what the queue needs of the device that runs it.
type Host struct {
	Journal *journal.Journal
	Now     func() time.Time
	Log     *slog.Logger
	exchange.Events
	// Fault is told of a commit that failed outside a caller's reach (a
	// full or damaged disk).
	Fault func(error) bool
	// Changed is told of the printer's new state.
	Changed func(state string)
}

// Queue is the print worker's state: it alone talks to the printer.
type Queue struct {
	Host
	// Poll is the status interval (DefaultPoll); Keep how long done jobs
	// stay in the journal.
	Poll time.Duration
	Keep time.Duration

	printer Printer // nil: no printer
	query   bool    // printer.status is query
	profile printer.Profile
	logo    *printer.Bitmap
	state   atomic.Value // string: the printer's state

	wake chan struct{} // a job was queued

	mu      sync.Mutex
	changed chan struct{} // closed (and replaced) on every job or printer change
	// waiting are the notifications waiting for their receipt, by job id;
	// handed the receipts printed and handed to them, to be marked done in
	// the notification's final commit (a commit of their own saved). The
	// worker passes over a handed job; after a crash it is redone marked
	// 重打印, as a job printed but not yet marked done always was.
	waiting map[string]chan Job
	handed  map[string]Job
	// begun are the jobs marked Started ahead by this process, in a
	// commit it made anyway (QueueReceipt, beginNext): begun but fresh is
	// no reprint. After a restart it is empty.
	begun map[string]bool
	// laid are receipts laid out ahead (lay), by job id: the bytes of a
	// receipt's first copy, made while the commit that queues it syncs.
	laid map[string]*laidOut
	// next is a receipt filed into the empty queue of an idle printer
	// (QueueReceipt), as filed: the worker prints it next, without
	// reading the queue for it (take).
	next *Job
	// taken is the Seq of the last job the worker took (its own), so that
	// a next it took from the queue meanwhile is not taken again.
	taken uint64

	busy atomic.Bool // a job is being printed
}

// laidOut is a receipt being laid out ahead; b is set once done closes.
type laidOut struct {
	done chan struct{}
	b    []byte
}

// maxLaid bounds the receipts laid out ahead and not yet printed.
const maxLaid = 4

// New makes the queue of p (nil: a device without a printer) laid out for
// cfg's paper, model and logo; a profile or logo that cannot be had is
// logged and done without.
func New(h Host, p Printer, cfg config.Printer) *Queue {
	q := &Queue{
		Host:    h,
		Poll:    DefaultPoll,
		printer: p,
		query:   cfg.Status == "query",
		wake:    make(chan struct{}, 1),
		changed: make(chan struct{}),
		waiting: map[string]chan Job{},
		handed:  map[string]Job{},
		begun:   map[string]bool{},
		laid:    map[string]*laidOut{},
	}
	q.state.Store(None)
	if p != nil {
		q.state.Store(OK)
	}
	prof, err := printer.Lookup(cfg.Model, cfg.PaperMM)
	if err != nil {
		q.Log.Error("printer profile, using the generic one for the paper", "err", err)
		prof = printer.ForPaper(cfg.PaperMM)
	}
	q.profile = prof
	if path := cfg.Logo; path != "" {
		if logo, err := loadLogo(path, prof.Dots); err != nil {
			q.Log.Error("printer.logo not loaded: receipts print without it", "path", path, "err", err)
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

// Profile is the printer profile receipts are laid out for.
func (q *Queue) Profile() printer.Profile { return q.profile }

// HasPrinter says whether the device has a printer.
func (q *Queue) HasPrinter() bool { return q.printer != nil }

// State is the printer's state: OK, PaperOut, CoverOpen, Offline or None.
func (q *Queue) State() string { return q.state.Load().(string) }

// Kick wakes the worker after a commit that queued a job.
func (q *Queue) Kick() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *Queue) broadcast() {
	q.mu.Lock()
	close(q.changed)
	q.changed = make(chan struct{})
	q.mu.Unlock()
}

func (q *Queue) changes() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.changed
}

func (q *Queue) addBegun(id string) {
	q.mu.Lock()
	q.begun[id] = true
	q.mu.Unlock()
}

func (q *Queue) takeBegun(id string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	ok := q.begun[id]
	delete(q.begun, id)
	return ok
}

// Get reads job id within tx.
func Get(tx *journal.Tx, id string) (Job, bool, error) {
	var job Job
	ok, err := tx.Get(journal.Print, id, &job)
	return job, ok, err
}

// Accept queues print.job b, command jti, within tx. It returns the answer
// owed at once: a duplicate job_id's state (not printed again), or a
// failure on a device with no printer; nil when queued, answered by the
// print.result of its end. The caller checks b (CheckJob) and kicks the
// queue after the commit.
func (q *Queue) Accept(tx *journal.Tx, jti string, b wire.PrintJob) (*wire.PrintResult, error) {
	if b.Copies == 0 {
		b.Copies = 1
	}
	prev, dup, err := Get(tx, b.JobID)
	if err != nil {
		return nil, err
	}
	if dup {
		q.Log.Info("print.job duplicate job_id, not printed again", "job_id", b.JobID, "jti", jti)
		st := prev.Result
		if !prev.Done {
			st = Queued
		}
		return &wire.PrintResult{JobID: b.JobID, Status: st, Copies: prev.Copies, Printed: prev.Printed, Duplicate: true}, nil
	}
	if q.printer == nil {
		return &wire.PrintResult{JobID: b.JobID, Status: Failed, Copies: b.Copies, Error: "this device has no printer"}, nil
	}
	return nil, q.Add(tx, &Job{JobID: b.JobID, Jti: jti, Ref: jti, Doc: b.Doc, Copies: b.Copies})
}

// CheckJob says what is wrong with print.job b's fields other than its
// job_id's characters, or nil.
func CheckJob(b wire.PrintJob) error {
	switch {
	case strings.HasPrefix(b.JobID, OrderPrefix) || strings.HasPrefix(b.JobID, ReprintPrefix):
		return fmt.Errorf("job_id prefixes %q and %q are the device's own", OrderPrefix, ReprintPrefix)
	case b.Copies < 0 || b.Copies > 5:
		return errors.New("copies must be 0-5")
	case b.Doc == "":
		return errors.New("doc is empty")
	case len(b.Doc) > MaxDoc:
		return fmt.Errorf("doc is longer than %d bytes", MaxDoc)
	}
	return nil
}

// Add stores a new job at the end of the queue, within tx.
func (q *Queue) Add(tx *journal.Tx, job *Job) error {
	seq, err := tx.NextSequence(journal.Print)
	if err != nil {
		return err
	}
	job.Seq, job.Queued = seq, q.Now().Unix()
	return File(tx, *job)
}

// AddDoc queues markup (a shift handover slip, a transaction summary) as
// a job within tx, once per jobID; ref is the command its events answer.
// The caller kicks the queue after the commit.
func (q *Queue) AddDoc(tx *journal.Tx, jobID, ref, markup string) error {
	if _, ok, err := Get(tx, jobID); err != nil || ok {
		return err
	}
	return q.Add(tx, &Job{JobID: jobID, Ref: ref, Doc: markup, Copies: 1})
}

// AddReprint queues, within tx, a reprint of order orderID's receipt r
// marked 重打印, as a job of its own, and returns the job's id.
func (q *Queue) AddReprint(tx *journal.Tx, orderID string, r printer.Receipt) (string, error) {
	if q.printer == nil {
		return "", errors.New("this device has no printer")
	}
	r.Reprint = true
	n, err := tx.NextSequence(journal.Print)
	if err != nil {
		return "", err
	}
	id := ReprintPrefix + orderID + ":" + strconv.FormatUint(n, 10)
	return id, q.Add(tx, &Job{JobID: id, OrderID: orderID, Receipt: &r, Copies: 1, Reprint: true})
}

// QueueReceipt queues, within tx and once, the receipt r of notification
// orderID (its events' ref) as job OrderPrefix+orderID. reprint marks it
// 重打印 (a notification whose print step a build before the queue
// started). It says whether it queued the receipt (false: queued before).
// The caller kicks the queue after the commit.
//
// A receipt that would print at once (printer ready, nothing printing or
// queued) is marked begun here rather than in a commit of its own.
func (q *Queue) QueueReceipt(tx *journal.Tx, orderID, ref string, r printer.Receipt, copies int, reprint bool) (bool, error) {
	id := OrderPrefix + orderID
	if _, ok, err := Get(tx, id); err != nil || ok {
		return false, err
	}
	job := Job{JobID: id, Ref: ref, OrderID: orderID, Receipt: &r, Copies: max(copies, 1), Reprint: reprint}
	idle, err := q.idle(tx)
	if err != nil {
		return false, err
	}
	if idle {
		job.Started = true
		tx.OnCommit(func() { q.addBegun(id) })
		q.lay(tx, job)
	}
	if err := q.Add(tx, &job); err != nil {
		return false, err
	}
	if idle {
		// The worker's next job, as this commit files it.
		tx.OnCommit(func() {
			q.mu.Lock()
			q.next = &job
			q.mu.Unlock()
		})
	}
	return true, nil
}

// take is the job the worker prints next: the receipt filed for it into
// the empty queue (next), or else the first of the queue (Next). No other
// writer changes a queued receipt's record but a fault's mark (Wait,
// which drops next), and the worker's writes merge that mark (put).
func (q *Queue) take() (Job, bool, error) {
	q.mu.Lock()
	next := q.next
	q.next = nil
	q.mu.Unlock()
	if next != nil && next.Seq > q.taken {
		q.taken = next.Seq
		return *next, true, nil
	}
	job, ok, err := q.Next()
	if ok {
		q.taken = max(q.taken, job.Seq)
	}
	return job, ok, err
}

// dropNext forgets next when it is job id: its record changed.
func (q *Queue) dropNext(id string) {
	q.mu.Lock()
	if q.next != nil && q.next.JobID == id {
		q.next = nil
	}
	q.mu.Unlock()
}

// lay lays out the first copy of job, which prints at once, while tx's
// commit syncs; print takes it (laidCopy). The layout is there for print
// only once tx has committed: a queuing that failed leaves none, so the
// layout print finds is the committed job's (a retry queued behind other
// jobs is laid out as it prints).
func (q *Queue) lay(tx *journal.Tx, job Job) {
	l := &laidOut{done: make(chan struct{})}
	go func() {
		l.b = q.render(job, false)
		close(l.done)
	}()
	tx.OnCommit(func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		if len(q.laid) >= maxLaid {
			clear(q.laid) // ones a printer fault holds: laid out as they print
		}
		q.laid[job.JobID] = l
	})
}

// laidCopy is the bytes lay made for job's next copy, or nil: only its
// first copy, printed without the 重打印 mark, was laid out.
func (q *Queue) laidCopy(job Job, reprint bool) []byte {
	q.mu.Lock()
	l := q.laid[job.JobID]
	delete(q.laid, job.JobID)
	q.mu.Unlock()
	if l == nil || reprint || job.Printed != 0 {
		return nil
	}
	<-l.done
	return l.b
}

// idle says, within tx, whether a job queued now would be printed at once:
// the printer ready, nothing printing, nothing queued.
func (q *Queue) idle(tx *journal.Tx) (bool, error) {
	if q.busy.Load() || q.State() != OK {
		return false, nil
	}
	empty := true
	err := tx.Seek(journal.PrintQueue, "", func(string, []byte) (bool, error) { empty = false; return false, nil })
	return empty, err
}

// Await registers a notification that will wait for job id (at its
// accept commit, so a receipt printed before the notification's turn is
// handed to it rather than marked done in a commit of its own).
func (q *Queue) Await(id string) { q.await(id) }

// await registers a wait for job id (once: a second call returns the
// first one's channel), or returns the job already handed for it: one look
// under the lock, so that a hand-off that takes the channel registered at
// accept cannot fall between the two and leave the wait on a channel
// nobody sends on (and the job skipped by the worker as handed).
func (q *Queue) await(id string) (chan Job, *Job) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if job, ok := q.handed[id]; ok {
		return nil, &job
	}
	ch := q.waiting[id]
	if ch == nil {
		ch = make(chan Job, 1)
		q.waiting[id] = ch
	}
	return ch, nil
}

// unawait ends a wait; a job handed meanwhile is returned, to be marked
// done by the caller.
func (q *Queue) unawait(id string, ch chan Job) *Job {
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
func (q *Queue) handOff(job Job) bool {
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

func (q *Queue) handedJob(id string) (Job, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	job, ok := q.handed[id]
	return job, ok
}

func (q *Queue) handedJobs() []Job {
	q.mu.Lock()
	defer q.mu.Unlock()
	var jobs []Job
	for _, job := range q.handed {
		jobs = append(jobs, job)
	}
	return jobs
}

// unhand forgets a handed job once its done mark is committed.
func (q *Queue) unhand(id string) {
	q.mu.Lock()
	delete(q.handed, id)
	q.mu.Unlock()
	q.broadcast()
}

// MarkHanded files, within tx, the done mark of a receipt Wait handed the
// caller (the notification's final commit).
func (q *Queue) MarkHanded(tx *journal.Tx, job Job) error {
	if err := put(tx, &job); err != nil {
		return err
	}
	id := job.JobID
	tx.OnCommit(func() { q.unhand(id) })
	return nil
}

// Wait waits for job id to be printed (true) or for a printer fault
// (false: the job stays queued, prints when the fault clears, and its
// print.result follows). A receipt printed while it waits is handed to it
// (handed non-nil): the caller marks it done in its own commit with
// MarkHanded.
func (q *Queue) Wait(ctx context.Context, id string) (printed bool, handed *Job, err error) {
	ch, job := q.await(id)
	if job != nil {
		return true, job, nil // handed before, its mark not yet committed
	}
	// The print worker, woken for this job, may be waiting for a core to
	// run on: this one is about to be free, so it goes first.
	runtime.Gosched()
	defer func() {
		if job := q.unawait(id, ch); job != nil && handed == nil {
			// Handed as this wait ended without it: marked done here.
			if ferr := q.finishJob(*job, Done); ferr == nil {
				q.unhand(id)
			} else {
				q.Fault(ferr)
			}
		}
	}()
	for {
		changed := q.changes()
		select {
		case job := <-ch:
			return true, &job, nil
		default:
		}
		var rec jobState
		var ok bool
		err := q.Journal.View(func(tx *journal.Tx) error {
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
			return rec.Result == Done, nil, nil
		}
		if q.State() != OK || rec.Faulted {
			// Queued: printed when the printer is back, and its
			// print.result then tells the platform, since notify.done
			// says printed:false.
			q.dropNext(id)
			err := q.Journal.Update(func(tx *journal.Tx) error {
				cur, ok, err := Get(tx, id)
				if err != nil || !ok || cur.Done {
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

// Next returns the oldest job not done: the first of the queue index (an
// entry whose job is gone or done is dropped on the way).
func (q *Queue) Next() (Job, bool, error) {
	var job Job
	var found bool
	var stale []string
	err := q.Journal.View(func(tx *journal.Tx) error {
		return tx.Seek(journal.PrintQueue, "", func(k string, v []byte) (bool, error) {
			var id string
			if err := json.Unmarshal(v, &id); err != nil {
				stale = append(stale, k)
				return true, nil
			}
			if _, handed := q.handedJob(id); handed {
				return true, nil // printed; its notification marks it done
			}
			var ok bool
			var err error
			job, ok, err = Get(tx, id)
			if err != nil || !ok || job.Done {
				stale = append(stale, k)
				return err == nil, err
			}
			found = true
			return false, nil
		})
	})
	if err == nil && len(stale) > 0 {
		err = q.Journal.Update(func(tx *journal.Tx) error {
			for _, k := range stale {
				if err := tx.Delete(journal.PrintQueue, k); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil || !found {
		return Job{}, false, err
	}
	return job, true, nil
}

// Run is the worker: it prints queued jobs oldest first, one at a time,
// checks the printer's status before each job and on a timer, and holds
// the queue while the printer cannot print. It returns when ctx ends (at
// once on a device without a printer).
func (q *Queue) Run(ctx context.Context) {
	if q.printer == nil {
		return
	}
	if q.Keep > 0 {
		if n, err := q.Journal.Prune(journal.Print, q.Now().Add(-q.Keep)); err != nil {
			q.Log.Error("prune print jobs", "err", err)
		} else if n > 0 {
			q.Log.Info("pruned print jobs", "count", n)
		}
	}
	t := time.NewTicker(q.Poll)
	defer t.Stop()
	for ctx.Err() == nil {
		job, ok, err := q.take()
		if err != nil {
			q.Log.Error("print queue", "err", err)
		}
		if ok {
			q.flushHanded()
			q.busy.Store(true)
			err = q.print(ctx, job)
			q.busy.Store(false)
			if err == nil {
				continue
			}
			if ctx.Err() != nil {
				return
			}
			q.Log.Warn("print job waiting", "job_id", job.JobID, "reason", err)
		} else {
			// Idle: keep the state true on the timer.
			select {
			case <-ctx.Done():
				return
			case <-q.wake:
				continue
			case <-t.C:
				q.check(ctx, nil)
				continue
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-q.wake:
		}
	}
}

// errNotReady says the printer cannot print now; the job waits.
var errNotReady = errors.New("printer not ready")

// check asks the printer for its status (when printer.status is query),
// publishes it, and reports a change to job (if any) as a print.result.
// It returns the printer state.
func (q *Queue) check(ctx context.Context, job *Job) string {
	sp, ok := q.printer.(StatusPrinter)
	if !q.query || !ok {
		return OK
	}
	qctx, cancel := context.WithTimeout(ctx, statusWait)
	st, err := sp.Status(qctx)
	waited := qctx.Err() != nil
	cancel()
	state := OK
	switch {
	case ctx.Err() != nil:
		return q.State()
	case err != nil && waited:
		// The query could not be sent in time (a job held mid-image):
		// nothing new is known.
		return q.State()
	case err != nil:
		state = Offline
	case st.PaperOut:
		state = PaperOut
	case st.CoverOpen:
		state = CoverOpen
	case st.Offline:
		state = Offline
	}
	q.setState(state, err)
	if job != nil {
		q.report(job, state)
	}
	return state
}

func (q *Queue) setState(state string, err error) {
	if q.State() == state {
		return
	}
	if err != nil {
		q.Log.Warn("printer state", "state", state, "err", err)
	} else {
		q.Log.Info("printer state", "state", state)
	}
	q.state.Store(state)
	q.Changed(state)
	q.broadcast()
}

// report sends print.result {status} for a job whose printer state
// changed while it waits: once per change, not on every poll.
func (q *Queue) report(job *Job, state string) {
	status := state
	if state == OK {
		status = "" // back to printing: the next report is its end
	}
	if job.Status == status {
		return
	}
	job.Status = status
	if status != "" {
		job.Faulted = true
	}
	err := q.Journal.Update(func(tx *journal.Tx) error {
		cur, ok, err := Get(tx, job.JobID)
		if err != nil || !ok || cur.Done {
			return err
		}
		cur.Status, cur.Faulted = job.Status, job.Faulted
		if err := tx.Put(journal.Print, job.JobID, cur); err != nil {
			return err
		}
		if status == "" {
			return nil
		}
		_, err = q.Emit(tx, wire.TypePrintResult, job.Ref, wire.PrintResult{JobID: job.JobID, Status: status, OrderID: job.OrderID, Copies: job.Copies, Printed: job.Printed})
		return err
	})
	if err != nil {
		q.Log.Error("print job status not journaled", "job_id", job.JobID, "err", err)
		return
	}
	q.Flush()
	q.broadcast()
}

// print prints the copies of job not yet printed. It returns nil when the
// job is done, or why it must wait.
func (q *Queue) print(ctx context.Context, job Job) error {
	for job.Printed < job.Copies {
		if st := q.check(ctx, &job); st != OK {
			return fmt.Errorf("%w: %s", errNotReady, st)
		}
		// Marked begun ahead by this process: no replay, and no commit
		// needed for the mark.
		ahead := job.Started && q.takeBegun(job.JobID)
		reprint := (job.Started && !ahead) || job.Reprint
		if !ahead {
			job.Started = true
			if err := q.save(job); err != nil {
				return err
			}
		}
		b := q.laidCopy(job, reprint)
		if b == nil {
			b = q.render(job, reprint)
		}
		werr := q.printWatched(ctx, &job, b)
		if ctx.Err() != nil {
			return ctx.Err() // Started stays: redone marked 重打印 after a restart
		}
		if werr != nil {
			// Part of the copy may be on paper: it is redone marked 重打印.
			q.setState(Offline, werr)
			q.report(&job, Offline)
			return werr
		}
		if !q.query {
			q.setState(OK, nil) // no back channel: a write that went through is all we know
		}
		// The printer has the bytes. If it stopped (paper, cover) it keeps
		// them and prints them when the fault clears: wait for that, and do
		// not send them again. If it stopped answering, it may have lost
		// power and them with it: the copy is redone marked 重打印.
		for {
			st := q.check(ctx, &job)
			if st == OK {
				break
			}
			if st == Offline {
				return fmt.Errorf("%w: offline after the job was sent", errNotReady)
			}
			if err := q.waitPoll(ctx); err != nil {
				return err
			}
		}
		job.Printed++
		job.Started = false
		if job.Printed < job.Copies {
			if err := q.save(job); err != nil {
				return err
			}
		}
	}
	if job.Jti == "" && !job.Faulted {
		// A receipt whose notification waits: marked done in its
		// final commit. No print.result is owed for it.
		done := job
		done.finish(Done, q.Now())
		if q.handOff(done) {
			q.Log.Info("printed", "job_id", job.JobID, "copies", job.Printed)
			return nil
		}
	}
	return q.finishJob(job, Done)
}

// flushHanded marks done the receipts printed and handed whose
// notification has not committed yet, before the worker starts another
// job: a crash then finds at most one receipt printed and not marked done
// (redone as 重打印), as before receipts were handed. It costs a commit
// only when the printer is ahead of the speaker.
func (q *Queue) flushHanded() {
	jobs := q.handedJobs()
	if len(jobs) == 0 {
		return
	}
	err := q.Journal.Update(func(tx *journal.Tx) error {
		for i := range jobs {
			if err := put(tx, &jobs[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		q.Fault(err)
		return
	}
	for _, job := range jobs {
		q.unhand(job.JobID)
	}
}

// printWatched runs Print, asking for the status every Poll while the
// printer holds the job with XOFF, so a stall mid-job shows as paper_out in
// the state and in a print.result while the job waits. Print runs on the
// worker's goroutine and the watch on a timer's: the worker goes on as
// soon as Print returns, with no goroutine to wake on a receipt's path.
func (q *Queue) printWatched(ctx context.Context, job *Job, b []byte) error {
	p, ok := q.printer.(pauser)
	if !ok {
		return q.printer.Print(ctx, b) // it cannot be held: nothing to watch
	}
	w := &watch{}
	w.mu.Lock()
	w.t = time.AfterFunc(q.Poll, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.over {
			return
		}
		if p.Paused() {
			q.check(ctx, job)
		}
		w.t.Reset(q.Poll)
	})
	w.mu.Unlock()
	err := q.printer.Print(ctx, b)
	w.mu.Lock()
	w.over = true // a check under way has ended: job is the worker's again
	w.t.Stop()
	w.mu.Unlock()
	return err
}

// watch is printWatched's timer; over once Print has returned.
type watch struct {
	mu   sync.Mutex
	t    *time.Timer
	over bool
}

func (q *Queue) waitPoll(ctx context.Context) error {
	t := time.NewTimer(q.Poll)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// render lays out and encodes one copy of job.
func (q *Queue) render(job Job, reprint bool) []byte {
	p := q.profile
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
	return printer.EncodeWith(doc, p, printer.Options{Logo: q.logo})
}

// save stores the worker's copy of job, keeping a Faulted mark that Wait
// may have set meanwhile.
func (q *Queue) save(job Job) error {
	return q.Journal.Update(func(tx *journal.Tx) error { return put(tx, &job) })
}

func put(tx *journal.Tx, job *Job) error {
	var cur jobState
	if _, err := tx.Get(journal.Print, job.JobID, &cur); err != nil {
		return err
	}
	job.Faulted = job.Faulted || cur.Faulted
	return File(tx, *job)
}

// finishJob marks job done and sends its print.result: the answer of a
// print.job (recorded for redelivery), or for a receipt only when a fault
// was reported for it before.
func (q *Queue) finishJob(job Job, result string) error {
	job.finish(result, q.Now())
	err := q.Journal.Update(func(tx *journal.Tx) error {
		if err := put(tx, &job); err != nil {
			return err
		}
		if result == Done {
			if err := q.beginNext(tx, job.Seq); err != nil {
				return err
			}
		}
		if job.Jti == "" && !job.Faulted {
			return nil
		}
		ans, err := q.Emit(tx, wire.TypePrintResult, job.Ref, wire.PrintResult{JobID: job.JobID, Status: result, OrderID: job.OrderID, Copies: job.Copies, Printed: job.Printed})
		if err != nil {
			return err
		}
		if job.Jti != "" {
			return q.Answered(tx, job.Jti, ans)
		}
		return nil
	})
	if err != nil {
		return err
	}
	q.Log.Info("printed", "job_id", job.JobID, "copies", job.Printed)
	q.Flush()
	q.broadcast()
	return nil
}

// beginNext marks the job queued after seq begun (Started), in the commit
// that finishes the one before: the worker prints it next, at once, so the
// mark costs no commit of its own (fresh: no reprint for this process).
func (q *Queue) beginNext(tx *journal.Tx, seq uint64) error {
	if q.State() != OK {
		return nil
	}
	return tx.Seek(journal.PrintQueue, journal.SeqKey(seq+1), func(_ string, v []byte) (bool, error) {
		var id string
		if json.Unmarshal(v, &id) != nil {
			return true, nil
		}
		if _, handed := q.handedJob(id); handed {
			return true, nil
		}
		job, ok, err := Get(tx, id)
		if err != nil || !ok || job.Done {
			return true, nil // dropped by Next on the way
		}
		if job.Started {
			return false, nil
		}
		job.Started = true
		tx.OnCommit(func() { q.addBegun(id) })
		return false, File(tx, job)
	})
}
