// Package notify is notify.payment, the cloud speaker's 收款: each
// notification (from the platform, or owed by a payment, refund or deposit
// operation of this device) is announced and its receipt printed, then
// answered with notify.done.
//
// Invariants:
//   - a notification is journaled (bucket Notify, and the NotifyQueue index
//     while owed) before anything of it happens, and it is carried to its
//     end in arrival order, one at a time: announcements never overlap;
//   - each step is marked started before its effect and done after, so a
//     step a crash cut off is redone marked as a replay (补播, 重打印), never
//     silently repeated or lost; an order is announced and printed once,
//     whatever number of times it is notified;
//   - a notification costs two commits when nothing is ahead of it: the
//     one that accepts it (its receipt queued, its announcement marked
//     begun) and the one that answers it;
//   - an announcement that fails is tried again (once per Sweep) up to
//     MaxTries times, then answered announced:false: a failure is never
//     reported as said.
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/posagent/posagent/audio"
	"github.com/posagent/posagent/device/exchange"
	"github.com/posagent/posagent/device/orders"
	"github.com/posagent/posagent/device/printq"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/printer"
	"github.com/posagent/posagent/wire"
)

// Record is one notification in the journal, kept 7 days by order id.
type Record struct {
	At              int64              `json:"at"`
	Seq             uint64             `json:"seq"`
	Jti             string             `json:"jti"` // "": owed by a flow of this device, no command to answer
	Body            wire.NotifyPayment `json:"body"`
	AnnounceStarted bool               `json:"announce_started,omitempty"`
	Announced       bool               `json:"announced,omitempty"`
	Said            string             `json:"said,omitempty"`
	PrintStarted    bool               `json:"print_started,omitempty"`
	Printed         bool               `json:"printed,omitempty"`
	Done            bool               `json:"done,omitempty"`
	// AnnounceFails counts announcements that failed (MaxTries).
	AnnounceFails int `json:"announce_fails,omitempty"`
}

// Open: not done, so resumed at start and looked for by the sweep
// (journal.Opener).
func (r Record) Open() bool { return !r.Done }

// MaxTries is how many times a notification's announcement is tried (once
// per sweep) before it is answered as not announced: a failure is not an
// announcement, but a speaker that never works must not keep the
// notification from its answer for ever.
const MaxTries = 5

// Sweep is how often a notification left owed (its announcement failed)
// is tried again when nothing new comes.
const Sweep = 30 * time.Second

var kinds = map[string]bool{printer.KindPay: true, printer.KindRefund: true, printer.KindDeposit: true,
	printer.KindConsume: true, printer.KindUnfreeze: true}

// Check says what is wrong with notify.payment b, or nil, and fills its
// defaults (kind pay; one copy when it prints).
func Check(b *wire.NotifyPayment) error {
	switch {
	case !wire.ValidID(b.OrderID):
		return errors.New("order_id must be 1-64 printable ASCII characters")
	case b.Amount <= 0 || b.Amount > orders.MaxAmount:
		return fmt.Errorf("amount must be 1..%d fen", int64(orders.MaxAmount))
	case len(b.Wallet) > 32:
		return errors.New("wallet too long")
	case b.Copies < 0 || b.Copies > 5:
		return errors.New("copies must be 0-5")
	case b.OutTradeNo != "" && !wire.ValidID(b.OutTradeNo), b.TransactionID != "" && !wire.ValidID(b.TransactionID):
		return errors.New("out_trade_no and transaction_id must be 1-64 printable ASCII characters")
	case len(b.Desc) > 128 || len(b.Staff) > 64:
		return errors.New("desc must be at most 128 bytes, staff 64")
	}
	if b.Kind == "" {
		b.Kind = printer.KindPay
	}
	if !kinds[b.Kind] {
		return fmt.Errorf("kind %q: must be pay, refund, deposit, consume or unfreeze", b.Kind)
	}
	if b.Print && b.Copies == 0 {
		b.Copies = 1
	}
	return nil
}

// Put writes a notification and keeps it in the queue, under its arrival
// (Seq), while it is not done.
func Put(tx *journal.Tx, r Record) error {
	if err := tx.Put(journal.Notify, r.Body.OrderID, r); err != nil {
		return err
	}
	if r.Done {
		return tx.Delete(journal.NotifyQueue, journal.SeqKey(r.Seq))
	}
	return tx.PutRaw(journal.NotifyQueue, journal.SeqKey(r.Seq), []byte(r.Body.OrderID))
}

// Get reads the notification of order id within tx.
func Get(tx *journal.Tx, id string) (Record, bool, error) {
	var r Record
	ok, err := tx.Get(journal.Notify, id, &r)
	return r, ok, err
}

// Speaker says an announcement (audio.Player). Prepare renders words
// ahead of their turn (nothing is said): a notification's words render
// while the commit that files it syncs, so its announcement starts the
// moment it may.
type Speaker interface {
	Say(ctx context.Context, r audio.Request) (audio.Result, error)
	Prepare(text string)
}

// Host is what the notifications need of the device that runs them.
type Host struct {
	Journal *journal.Journal
	Now     func() time.Time
	Log     *slog.Logger
	exchange.Events
	// Fault is told of a commit that failed (a full or damaged disk): true
	// when it was the storage's fault.
	Fault func(error) bool
	// Unreadable is told of a journal record that did not decode.
	Unreadable func(bucket, key string, err error)
	// Said files, in the final commit, an announcement said (what the
	// function key repeats).
	Said func(tx *journal.Tx, r audio.Record) error
	// Receipt lays out the receipt of notification b that arrived at at.
	Receipt func(b wire.NotifyPayment, at time.Time) printer.Receipt
}

// Worker carries the notifications, one at a time, in arrival order.
type Worker struct {
	Host
	speaker Speaker       // nil: no speaker
	print   *printq.Queue // its receipts; one with no printer prints none
	words   audio.Options // how amounts are read

	kick chan struct{} // a notification is owed: the worker reads the queue
	busy atomic.Bool   // the worker is carrying a notification

	mu sync.Mutex
	// fresh are the notifications whose AnnounceStarted this process
	// wrote ahead of the announcement, in a commit it had to make anyway:
	// begun but fresh is no replay. After a restart it is empty, so begun
	// is taken as maybe heard, 补播.
	fresh map[string]bool
	// unsaved holds, by order id, the words of announcements said whose
	// final commit failed (a full disk): the retry records them instead
	// of saying them again.
	unsaved map[string]string
}

// New makes the worker of speaker s (nil: a device without one) and
// receipt queue q, reading amounts by words.
func New(h Host, s Speaker, q *printq.Queue, words audio.Options) *Worker {
	return &Worker{Host: h, speaker: s, print: q, words: words, kick: make(chan struct{}, 1),
		fresh: map[string]bool{}, unsaved: map[string]string{}}
}

func (w *Worker) printing() bool { return w.print != nil && w.print.HasPrinter() }

// Kick tells the worker a notification is owed (after the commit that
// filed it). The journal is the queue: a burst of any size waits there, in
// order, never in a channel that could overflow.
func (w *Worker) Kick() {
	select {
	case w.kick <- struct{}{}:
	default: // a kick is pending: the worker reads the queue to its end
	}
}

func (w *Worker) addFresh(id string) {
	w.mu.Lock()
	w.fresh[id] = true
	w.mu.Unlock()
}

func (w *Worker) takeFresh(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	ok := w.fresh[id]
	delete(w.fresh, id)
	return ok
}

// Accept files notify.payment b (checked by Check), command jti, within
// tx. It returns the answer owed at once for an order notified before (a
// duplicate: not announced again), or the func to call after the commit.
func (w *Worker) Accept(tx *journal.Tx, jti string, b wire.NotifyPayment) (*wire.NotifyDone, func(), error) {
	_, dup, err := Get(tx, b.OrderID)
	if err != nil {
		return nil, nil, err
	}
	if dup {
		w.Log.Info("notify.payment duplicate order, not announced again", "order_id", b.OrderID, "jti", jti)
		return &wire.NotifyDone{OrderID: b.OrderID, Duplicate: true}, nil, nil
	}
	seq, err := tx.NextSequence(journal.Notify)
	if err != nil {
		return nil, nil, err
	}
	w.prepare(b)
	rec := Record{At: w.Now().Unix(), Seq: seq, Jti: jti, Body: b}
	if err := w.owe(tx, &rec); err != nil {
		return nil, nil, err
	}
	if rec.PrintStarted {
		// The print worker is woken at the commit, ahead of the PUBACK and
		// of this worker (run, after the PUBACK): the receipt's branch is
		// the longer one, so it takes the other core first, and this
		// worker the one it is woken from.
		tx.OnCommit(w.print.Kick)
	}
	return nil, w.Kick, nil
}

// Owe journals, in the transaction that makes an order paid (or a refund
// or deposit operation successful), the notification that announces and
// prints it, keyed by its number: it is done exactly once, after a crash
// too, and a notify.payment or 补单 for the same order is a duplicate of
// it. The caller kicks the worker once the flow has ended.
func (w *Worker) Owe(tx *journal.Tx, b wire.NotifyPayment) error {
	if _, ok, err := Get(tx, b.OrderID); err != nil || ok {
		return err
	}
	seq, err := tx.NextSequence(journal.Notify)
	if err != nil {
		return err
	}
	w.prepare(b)
	return Put(tx, Record{At: w.Now().Unix(), Seq: seq, Body: b})
}

// prepare has the speaker render b's words now, while the caller's commit
// syncs (the words are the same the worker asks for: carry).
func (w *Worker) prepare(b wire.NotifyPayment) {
	if w.speaker != nil {
		w.speaker.Prepare(audio.Announcement(b.Kind, b.Wallet, b.Amount, w.words))
	}
}

// owe files a new notification with its effects' bookkeeping in the same
// transaction, so that a notification costs two commits, this one and the
// one that answers it: the receipt's print job is queued here, and the
// announcement is marked begun here when nothing is ahead of it (it starts
// as soon as this commits).
func (w *Worker) owe(tx *journal.Tx, r *Record) error {
	if r.Body.Print && w.printing() {
		if err := w.queueReceipt(tx, r); err != nil {
			return err
		}
	}
	if w.busy.Load() {
		return Put(tx, *r)
	}
	ahead := false
	if err := tx.Seek(journal.NotifyQueue, "", func(string, []byte) (bool, error) { ahead = true; return false, nil }); err != nil {
		return err
	}
	if !ahead {
		// The worker takes it at once.
		id := r.Body.OrderID
		if w.speaker != nil {
			r.AnnounceStarted = true
			tx.OnCommit(func() { w.addFresh(id) })
		}
		if r.PrintStarted {
			// Its receipt, once printed, waits for its final commit
			// (only the next one's: a burst's receipts printed ahead
			// are marked done as they print).
			tx.OnCommit(func() { w.print.Await(printq.OrderPrefix + id) })
		}
	}
	return Put(tx, *r)
}

// queueReceipt queues r's receipt within tx (once) as job
// "order:ORDER_ID" and marks r's print step started; the caller files r in
// the same transaction and kicks the print queue after the commit. A
// notification marked started has its job already, unless a build before
// the print queue started it: that one is redone marked 重打印.
func (w *Worker) queueReceipt(tx *journal.Tx, r *Record) error {
	rc := w.Receipt(r.Body, time.Unix(r.At, 0))
	queued, err := w.print.QueueReceipt(tx, r.Body.OrderID, r.Jti, rc, r.Body.Copies, r.PrintStarted)
	if err != nil || !queued {
		return err
	}
	r.PrintStarted = true
	return nil
}

// next is the first owed notification that arrived after seq after, as
// read then (carry takes it from there). An entry whose record has gone
// (pruned) or is done is dropped from the queue on the way.
func (w *Worker) next(after uint64) (r Record, ok bool, err error) {
	var stale []string
	err = w.Journal.View(func(tx *journal.Tx) error {
		return tx.Seek(journal.NotifyQueue, journal.SeqKey(after+1), func(k string, v []byte) (bool, error) {
			rec, found, err := Get(tx, string(v))
			if err != nil {
				w.Unreadable(journal.Notify, string(v), err)
			}
			if err != nil || !found || rec.Done || journal.SeqKey(rec.Seq) != k {
				stale = append(stale, k)
				return true, nil
			}
			r, ok = rec, true
			return false, nil
		})
	})
	if len(stale) > 0 && err == nil {
		w.Journal.Update(func(tx *journal.Tx) error {
			for _, k := range stale {
				if err := tx.Delete(journal.NotifyQueue, k); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return r, ok, err
}

// Run carries notifications one at a time, in arrival order, from the
// journal's queue until ctx ends: announcements must not overlap, and a
// receipt printer takes one job at a time. One left owed (a failed
// announcement) is passed over until the queue's end, then tried again
// from the start, in order, at the next kick or sweep. Everything owed at
// start is carried first.
func (w *Worker) Run(ctx context.Context) {
	sweep := time.NewTicker(Sweep)
	defer sweep.Stop()
	var after uint64
	for {
		r, ok, err := w.next(after)
		if err != nil {
			w.Log.Error("notification queue", "err", err)
		}
		if ok {
			after = r.Seq
			if err := w.carry(ctx, r); err != nil && ctx.Err() == nil {
				w.Log.Error("notification failed", "order_id", r.Body.OrderID, "err", err)
			}
			// The final commit woke the link's sender: it sends the answer
			// before this worker reads the queue for the next one.
			runtime.Gosched()
			if ctx.Err() != nil {
				return
			}
			continue
		}
		after = 0
		select {
		case <-ctx.Done():
			return
		case <-sweep.C:
		case <-w.kick:
		}
	}
}

// Load reads the notification of order id.
func (w *Worker) Load(id string) (Record, error) {
	var r Record
	err := w.Journal.View(func(tx *journal.Tx) error {
		var ok bool
		var err error
		r, ok, err = Get(tx, id)
		if err == nil && !ok {
			err = fmt.Errorf("no notification %q", id)
		}
		return err
	})
	return r, err
}

func (w *Worker) save(r Record) error {
	return w.Journal.Update(func(tx *journal.Tx) error { return Put(tx, r) })
}

// carry takes one notification to its answer. Its announcement is marked
// begun (AnnounceStarted) before it plays, in the accept commit or the
// previous notification's final one when it could be, else in one of its
// own; said more than a minute after the notice arrived, or begun before a
// restart, it is marked 补播, and Said tells the platform so. Its receipt
// prints meanwhile (queued at accept). The final commit records it all at
// once: said (for the function key), printed, done, the answer, and the
// next notification's begun mark. r is the record as next read it: no
// other writer changes it while it is owed (a new notification files its
// own; one for the same order is a duplicate).
func (w *Worker) carry(ctx context.Context, r Record) error {
	w.busy.Store(true)
	defer w.busy.Store(false)
	id := r.Body.OrderID
	b := r.Body
	var said *audio.Record
	w.mu.Lock()
	words, unsaved := w.unsaved[id]
	w.mu.Unlock()
	if unsaved {
		// Said before, its final commit refused (a full disk): said once
		// is enough, it is recorded now.
		r.AnnounceStarted, r.Announced, r.Said = true, true, words
		said = &audio.Record{ID: "notify/" + id, Name: id, Text: words, Since: time.Unix(r.At, 0), Done: true, Said: words}
	}
	printing := b.Print && w.printing() && !r.Printed
	if printing && !r.PrintStarted {
		// Owed by a flow of this device, or accepted by a build that
		// queued the receipt here.
		err := w.Journal.Update(func(tx *journal.Tx) error {
			n := r
			if err := w.queueReceipt(tx, &n); err != nil {
				return err
			}
			r = n
			return Put(tx, n)
		})
		if err != nil {
			w.Fault(err)
			return err
		}
		w.print.Kick()
	}
	var handed *printq.Job // the receipt, printed: marked done below
	if w.speaker != nil && !r.Announced {
		text := audio.Announcement(b.Kind, b.Wallet, b.Amount, w.words)
		again := r.AnnounceStarted && !w.takeFresh(b.OrderID)
		if !r.AnnounceStarted {
			r.AnnounceStarted = true
			if err := w.save(r); err != nil {
				w.Fault(err)
				return err
			}
		}
		key, since := "notify/"+b.OrderID, time.Unix(r.At, 0)
		res, err := w.speaker.Say(ctx, audio.Request{ID: key, Name: b.OrderID, Class: audio.Announce, Text: text, Since: since, Again: again, Kept: true})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err() // interrupted: still owed, resumed after restart
			}
			r.AnnounceFails++
			w.Log.Error("announcement failed", "order_id", b.OrderID, "err", err, "tries", r.AnnounceFails)
			if w.Fault(err) || r.AnnounceFails < MaxTries {
				// Still owed: not said is not announced. The sweep (or the
				// storage coming back) tries again.
				if err := w.save(r); err != nil {
					w.Fault(err)
				}
				return nil
			}
		} else {
			r.Announced, r.Said = true, res.Said
			if !res.Duplicate {
				said = &audio.Record{ID: key, Name: b.OrderID, Text: text, Since: since, Done: true, Said: res.Said}
			}
			w.Log.Info("announced", "order_id", b.OrderID, "said", r.Said, "replay", res.Replay, "already", res.Duplicate)
		}
	}
	if printing {
		// Through the durable print queue: printed once, or kept until
		// the printer can print it.
		var err error
		r.Printed, handed, err = w.print.Wait(ctx, printq.OrderPrefix+b.OrderID)
		if err != nil {
			w.Fault(err)
			return err
		}
	}
	r.Done = true
	err := w.Journal.Update(func(tx *journal.Tx) error {
		if err := Put(tx, r); err != nil {
			return err
		}
		if said != nil {
			if err := w.Said(tx, *said); err != nil {
				return err
			}
		}
		if handed != nil {
			if err := w.print.MarkHanded(tx, *handed); err != nil {
				return err
			}
		}
		if err := w.beginNext(tx, r.Seq); err != nil {
			return err
		}
		if r.Jti == "" {
			return nil // completed a flow of this device (a payment, a refund): no command to answer
		}
		ans, err := w.Emit(tx, wire.TypeNotifyDone, r.Jti, wire.NotifyDone{
			OrderID: b.OrderID, Announced: r.Announced, Printed: r.Printed, Said: r.Said,
		})
		if err != nil {
			return err
		}
		return w.Answered(tx, r.Jti, ans)
	})
	w.mu.Lock()
	if err == nil {
		delete(w.unsaved, b.OrderID)
	} else if r.Announced {
		w.unsaved[b.OrderID] = r.Said
	}
	w.mu.Unlock()
	if err != nil {
		w.Fault(err)
		return err
	}
	w.Flush()
	return nil
}

// beginNext marks the announcement of the notification owed after seq
// begun, in the commit that finishes the one before: the worker takes it
// next, at once, so it needs no commit of its own for the mark.
func (w *Worker) beginNext(tx *journal.Tx, seq uint64) error {
	if w.speaker == nil {
		return nil
	}
	return tx.Seek(journal.NotifyQueue, journal.SeqKey(seq+1), func(_ string, v []byte) (bool, error) {
		n, ok, err := Get(tx, string(v))
		if err != nil || !ok || n.Done {
			return true, nil // dropped by next on the way
		}
		if n.AnnounceStarted || n.Announced {
			return false, nil
		}
		n.AnnounceStarted = true
		id := n.Body.OrderID
		tx.OnCommit(func() { w.addFresh(id) })
		return false, Put(tx, n)
	})
}
