package device

import (
	"context"
	"fmt"
	"sync"
	"time"
	"unicode"

	"github.com/posagent/posagent/device/printq"
	"github.com/posagent/posagent/wire"

	"github.com/posagent/posagent/audio"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
)

// notifyRecord is one notification in the journal, kept 7 days by order id.
// Each step is marked started before its effect and done after, so after
// a crash a step that may have half-happened is redone marked as a replay
// (补播 / 重打印) rather than silently repeated or lost.
type notifyRecord struct {
	At              int64              `json:"at"`
	Seq             uint64             `json:"seq"`
	Jti             string             `json:"jti"`
	Body            wire.NotifyPayment `json:"body"`
	AnnounceStarted bool               `json:"announce_started,omitempty"`
	Announced       bool               `json:"announced,omitempty"`
	Said            string             `json:"said,omitempty"`
	PrintStarted    bool               `json:"print_started,omitempty"`
	Printed         bool               `json:"printed,omitempty"`
	Done            bool               `json:"done,omitempty"`
	// AnnounceFails counts announcements that failed (MaxAnnounceTries).
	AnnounceFails int `json:"announce_fails,omitempty"`
}

// MaxAnnounceTries is how many times a notification's announcement is
// tried (once per sweep) before it is answered as not announced: a failure
// is not an announcement, but a speaker that never works must not keep
// the notification from its answer for ever.
const MaxAnnounceTries = 5

// MaxAmount is the largest amount accepted, in fen (999,999,999.99 yuan).
const MaxAmount = 99_999_999_999

var kinds = map[string]bool{"pay": true, "refund": true, "deposit": true, "consume": true, "unfreeze": true}

// validID accepts the ids that come from outside and become journal keys
// and file names: 1-64 printable ASCII characters, no spaces.
func validID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if r > unicode.MaxASCII || !unicode.IsPrint(r) || r == ' ' {
			return false
		}
	}
	return true
}

func (a *Agent) acceptNotify(tx *journal.Tx, m mqtt.Message) (*mqtt.Message, func(), error) {
	var b wire.NotifyPayment
	if err := decodeBody(m.Body, &b); err != nil {
		return a.badRequest(tx, m, "notify.payment: %v", err)
	}
	switch {
	case !validID(b.OrderID):
		return a.badRequest(tx, m, "notify.payment: order_id must be 1-64 printable ASCII characters")
	case b.Amount <= 0 || b.Amount > MaxAmount:
		return a.badRequest(tx, m, "notify.payment: amount must be 1..%d fen", int64(MaxAmount))
	case len(b.Wallet) > 32:
		return a.badRequest(tx, m, "notify.payment: wallet too long")
	case b.Copies < 0 || b.Copies > 5:
		return a.badRequest(tx, m, "notify.payment: copies must be 0-5")
	case b.OutTradeNo != "" && !validID(b.OutTradeNo), b.TransactionID != "" && !validID(b.TransactionID):
		return a.badRequest(tx, m, "notify.payment: out_trade_no and transaction_id must be 1-64 printable ASCII characters")
	case len(b.Desc) > 128 || len(b.Staff) > 64:
		return a.badRequest(tx, m, "notify.payment: desc must be at most 128 bytes, staff 64")
	}
	if b.Kind == "" {
		b.Kind = "pay"
	}
	if !kinds[b.Kind] {
		return a.badRequest(tx, m, "notify.payment: kind %q: must be pay, refund, deposit, consume or unfreeze", b.Kind)
	}
	if b.Print && b.Copies == 0 {
		b.Copies = 1
	}
	var prev notifyRecord
	dup, err := tx.Get(journal.Notify, b.OrderID, &prev)
	if err != nil {
		return nil, nil, err
	}
	if dup {
		a.log.Info("notify.payment duplicate order, not announced again", "order_id", b.OrderID, "jti", m.ID)
		ans, err := a.emit(tx, wire.TypeNotifyDone, m.ID, wire.NotifyDone{OrderID: b.OrderID, Duplicate: true})
		return &ans, nil, err
	}
	seq, err := tx.NextSequence(journal.Notify)
	if err != nil {
		return nil, nil, err
	}
	rec := notifyRecord{At: a.now().Unix(), Seq: seq, Jti: m.ID, Body: b}
	if err := a.oweNotify(tx, &rec); err != nil {
		return nil, nil, err
	}
	return nil, func() {
		a.kickNotify()
		if rec.PrintStarted {
			a.pq.Kick()
		}
	}, nil
}

// oweNotify files a new notification with its effects' bookkeeping in the
// same transaction, so that a notification costs two commits, this one
// and the one that answers it: the receipt's print job is queued here,
// and the announcement is marked begun here when nothing is ahead of it
// (it starts as soon as this commits). Marked begun, a notification cut
// off by a crash is said again as 补播 after the restart, never silently
// twice; fresh tells the worker of this process that the mark is its own
// and no replay.
func (a *Agent) oweNotify(tx *journal.Tx, r *notifyRecord) error {
	if r.Body.Print && a.printer != nil {
		if err := a.queueReceiptIn(tx, r); err != nil {
			return err
		}
	}
	if a.notifyBusy.Load() {
		return putNotify(tx, *r)
	}
	ahead := false
	if err := tx.Seek(journal.NotifyQueue, "", func(string, []byte) (bool, error) { ahead = true; return false, nil }); err != nil {
		return err
	}
	if !ahead {
		// The worker takes it at once.
		id := r.Body.OrderID
		if a.speech != nil {
			r.AnnounceStarted = true
			tx.OnCommit(func() { a.freshSay.add(id) })
		}
		if r.PrintStarted {
			// Its receipt, once printed, waits for its final commit
			// (only the next one's: a burst's receipts printed ahead
			// are marked done as they print).
			tx.OnCommit(func() { a.pq.Await(printq.OrderPrefix + id) })
		}
	}
	return putNotify(tx, *r)
}

// fresh holds the ids whose begun mark (a notification's AnnounceStarted,
// a receipt's Started) this process wrote ahead of the effect, in a commit
// it had to make anyway: begun but fresh is no replay. After a restart it
// is empty, so begun is taken as maybe heard or printed, as before.
type fresh struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (f *fresh) add(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ids == nil {
		f.ids = map[string]bool{}
	}
	f.ids[id] = true
}

// said holds, by order id, the words of announcements said whose final
// commit failed (a full disk): the retry records them instead of saying
// them again.
type saidWords struct {
	mu    sync.Mutex
	words map[string]string
}

func (s *saidWords) put(id, words string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.words == nil {
		s.words = map[string]string{}
	}
	s.words[id] = words
}

func (s *saidWords) get(id string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.words[id]
	return w, ok
}

func (s *saidWords) drop(id string) {
	s.mu.Lock()
	delete(s.words, id)
	s.mu.Unlock()
}

// take says whether id was fresh, and forgets it.
func (f *fresh) take(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	ok := f.ids[id]
	delete(f.ids, id)
	return ok
}

// kickNotify tells the worker a notification is owed. The journal is the
// queue (putNotify files each owed notification under its arrival): a
// burst of any size waits there, in order, never in a channel that could
// overflow.
func (a *Agent) kickNotify() {
	select {
	case a.notifyKick <- struct{}{}:
	default: // a kick is pending: the worker reads the queue to its end
	}
}

// putNotify writes a notification and keeps it in the queue, under its
// arrival (Seq), while it is not done.
func putNotify(tx *journal.Tx, r notifyRecord) error {
	if err := tx.Put(journal.Notify, r.Body.OrderID, r); err != nil {
		return err
	}
	if r.Done {
		return tx.Delete(journal.NotifyQueue, journal.SeqKey(r.Seq))
	}
	return tx.PutRaw(journal.NotifyQueue, journal.SeqKey(r.Seq), []byte(r.Body.OrderID))
}

// nextNotify is the first owed notification that arrived after seq after:
// its order_id and Seq. An entry whose record has gone (pruned) or is done
// is dropped from the queue on the way.
func (a *Agent) nextNotify(after uint64) (id string, seq uint64, ok bool, err error) {
	var stale []string
	err = a.j.View(func(tx *journal.Tx) error {
		return tx.Seek(journal.NotifyQueue, journal.SeqKey(after+1), func(k string, v []byte) (bool, error) {
			var r notifyRecord
			found, err := tx.Get(journal.Notify, string(v), &r)
			if err != nil {
				a.badRecords.Add(1)
				a.log.Warn("journal record unreadable: skipped", "bucket", journal.Notify, "key", clip(string(v), 64), "err", err)
			}
			if err != nil || !found || r.Done || journal.SeqKey(r.Seq) != k {
				stale = append(stale, k)
				return true, nil
			}
			id, seq, ok = r.Body.OrderID, r.Seq, true
			return false, nil
		})
	})
	if len(stale) > 0 && err == nil {
		a.j.Update(func(tx *journal.Tx) error {
			for _, k := range stale {
				if err := tx.Delete(journal.NotifyQueue, k); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return id, seq, ok, err
}

// resume has the worker read the queue from its start (at start, after
// storage came back): every notification owed, in arrival order.
func (a *Agent) resume() error {
	a.kickNotify()
	return nil
}

// NotifySweep is how often a notification left owed (its announcement
// failed) is tried again when nothing new comes.
const NotifySweep = 30 * time.Second

// notifyWorker runs notifications one at a time, in arrival order, from
// the journal's queue: announcements must not overlap, and a receipt
// printer takes one job at a time. One left owed (a failed announcement)
// is passed over until the queue's end, then tried again from the start,
// in order, at the next kick or sweep.
func (a *Agent) notifyWorker(ctx context.Context) {
	sweep := time.NewTicker(NotifySweep)
	defer sweep.Stop()
	var after uint64
	for {
		id, seq, ok, err := a.nextNotify(after)
		if err != nil {
			a.log.Error("notification queue", "err", err)
		}
		if ok {
			after = seq
			if err := a.runNotify(ctx, id); err != nil && ctx.Err() == nil {
				a.log.Error("notification failed", "order_id", id, "err", err)
			}
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
		case <-a.notifyKick:
		}
	}
}

func (a *Agent) loadNotify(id string) (notifyRecord, error) {
	var r notifyRecord
	err := a.j.View(func(tx *journal.Tx) error {
		ok, err := tx.Get(journal.Notify, id, &r)
		if err == nil && !ok {
			err = fmt.Errorf("no notification %q", id)
		}
		return err
	})
	return r, err
}

func (a *Agent) saveNotify(r notifyRecord) error {
	return a.j.Update(func(tx *journal.Tx) error { return putNotify(tx, r) })
}

// runNotify carries one notification to its answer. Its announcement is
// marked begun (AnnounceStarted) before it plays, in the accept commit or
// the previous notification's final one when it could be, else in one of
// its own; said more than a minute after the notice arrived, or begun
// before a restart, it is marked 补播, and Said tells the platform so. Its
// receipt prints meanwhile (queued at accept). The final commit records
// it all at once: said (journal.Speech, for the function key), printed,
// done, the answer, and the next notification's begun mark.
func (a *Agent) runNotify(ctx context.Context, id string) error {
	a.notifyBusy.Store(true)
	defer a.notifyBusy.Store(false)
	r, err := a.loadNotify(id)
	if err != nil || r.Done {
		return err
	}
	b := r.Body
	var said *audio.Record
	if words, ok := a.saidUnsaved.get(id); ok {
		// Said before, its final commit refused (a full disk): said once
		// is enough, it is recorded now.
		r.AnnounceStarted, r.Announced, r.Said = true, true, words
		said = &audio.Record{ID: "notify/" + id, Name: id, Text: words, Since: time.Unix(r.At, 0), Done: true, Said: words}
	}
	printing := b.Print && a.printer != nil && !r.Printed
	if printing && !r.PrintStarted {
		// Accepted by a build that queued the receipt here.
		if err := a.queueReceipt(&r); err != nil {
			a.storageFault(err)
			return err
		}
	}
	var handed *printq.Job // the receipt, printed: marked done below
	if a.speech != nil && !r.Announced {
		text := audio.Announcement(b.Kind, b.Wallet, b.Amount, a.audioOptions())
		again := r.AnnounceStarted && !a.freshSay.take(b.OrderID)
		if !r.AnnounceStarted {
			r.AnnounceStarted = true
			if err := a.saveNotify(r); err != nil {
				a.storageFault(err)
				return err
			}
		}
		key, since := "notify/"+b.OrderID, time.Unix(r.At, 0)
		res, err := a.speech.Say(ctx, audio.Request{ID: key, Name: b.OrderID, Class: audio.Announce, Text: text, Since: since, Again: again, Kept: true})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err() // interrupted: still owed, resumed after restart
			}
			r.AnnounceFails++
			a.log.Error("announcement failed", "order_id", b.OrderID, "err", err, "tries", r.AnnounceFails)
			if a.storageFault(err) || r.AnnounceFails < MaxAnnounceTries {
				// Still owed: not said is not announced. The sweep (or the
				// storage coming back) tries again.
				if err := a.saveNotify(r); err != nil {
					a.storageFault(err)
				}
				return nil
			}
		} else {
			r.Announced, r.Said = true, res.Said
			if !res.Duplicate {
				said = &audio.Record{ID: key, Name: b.OrderID, Text: text, Since: since, Done: true, Said: res.Said}
			}
			a.log.Info("announced", "order_id", b.OrderID, "said", r.Said, "replay", res.Replay, "already", res.Duplicate)
		}
	}
	if printing {
		// Through the durable print queue (device/printq): printed
		// once, or kept until the printer can print it.
		var err error
		r.Printed, handed, err = a.pq.Wait(ctx, printq.OrderPrefix+b.OrderID)
		if err != nil {
			a.storageFault(err)
			return err
		}
	}
	r.Done = true
	err = a.j.Update(func(tx *journal.Tx) error {
		if err := putNotify(tx, r); err != nil {
			return err
		}
		if said != nil {
			if err := putSpeech(tx, *said); err != nil {
				return err
			}
		}
		if handed != nil {
			if err := a.pq.MarkHanded(tx, *handed); err != nil {
				return err
			}
		}
		if err := a.beginNext(tx, r.Seq); err != nil {
			return err
		}
		if r.Jti == "" {
			return nil // completed a flow of this device (a payment, a refund): no command to answer
		}
		ans, err := a.emit(tx, wire.TypeNotifyDone, r.Jti, wire.NotifyDone{
			OrderID: b.OrderID, Announced: r.Announced, Printed: r.Printed, Said: r.Said,
		})
		if err != nil {
			return err
		}
		return finish(tx, r.Jti, ans)
	})
	if err == nil {
		a.saidUnsaved.drop(b.OrderID)
		a.link.Kick()
	} else {
		if r.Announced {
			a.saidUnsaved.put(b.OrderID, r.Said)
		}
		a.storageFault(err)
	}
	return err
}

// beginNext marks the announcement of the notification owed after seq
// begun, in the commit that finishes the one before: the worker takes it
// next, at once, so it needs no commit of its own for the mark.
func (a *Agent) beginNext(tx *journal.Tx, seq uint64) error {
	if a.speech == nil {
		return nil
	}
	return tx.Seek(journal.NotifyQueue, journal.SeqKey(seq+1), func(_ string, v []byte) (bool, error) {
		var n notifyRecord
		if ok, err := tx.Get(journal.Notify, string(v), &n); err != nil || !ok || n.Done {
			return true, nil // dropped by nextNotify on the way
		}
		if n.AnnounceStarted || n.Announced {
			return false, nil
		}
		n.AnnounceStarted = true
		id := n.Body.OrderID
		tx.OnCommit(func() { a.freshSay.add(id) })
		return false, putNotify(tx, n)
	})
}

// audioOptions are the reading rules of the device's language.
func (a *Agent) audioOptions() audio.Options {
	_, opt, _ := audio.VoiceFor(a.cfg.Audio.Language)
	return opt
}

// Open: not done, so resumed at start and looked for by the sweep
// (journal.Opener).
func (r notifyRecord) Open() bool { return !r.Done }
