// Package journal is the device's durable memory, kept in one bbolt file:
// the outbox of events not yet acknowledged by the broker, the command ids
// already seen with the answer sent, notifications done, and small settings.
//
// Invariant: every state change that matters is committed here before its
// effect leaves the process (an event is published, a receipt printed, an
// announcement played). On start the agent resumes from what is here.
//
// Values are JSON. Records that expire carry their time in an "at" field
// (Unix seconds) so Prune can drop them without knowing their type.
package journal

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Buckets. Each holds one kind of record.
const (
	Outbox = "outbox" // seq (8 bytes, big endian) → queued event
	Seen   = "seen"   // jti → SeenRecord
	Notify = "notify" // order_id → the notification's record
	Meta   = "meta"   // setting name → value

	Orders   = "orders"   // out_trade_no → payment attempt
	Refunds  = "refunds"  // out_refund_no → refund
	Deposits = "deposits" // out_request_no → deposit operation
	Shifts   = "shifts"   // shift id → shift
	Print    = "print"    // print job id → print job
	Speech   = "speech"   // announcement id → announcement owed or said

	// Indexes, so that no per-event work scans a whole bucket.
	PrintQueue      = "printq"            // seq (8 bytes) → id of a print job not done
	NotifyQueue     = "notifyq"           // seq (8 bytes) → order_id of a notification not done
	OrdersByTime    = "orders_by_time"    // created ms (8 bytes) + out_trade_no → ""
	RefundsByOrder  = "refunds_by_order"  // out_trade_no + "/" + out_refund_no → ""
	DepositsByOrder = "deposits_by_order" // out_trade_no + "/" + out_request_no → ""
	DepositsByTime  = "deposits_by_time"  // created ms (8 bytes) + out_trade_no of a deposit → ""
	// OpenOrders are the payments not finished (not terminal, or a
	// deposit still frozen): what a start resumes.
	OpenOrders = "open_orders" // out_trade_no → ""
	// DoneByTime files what a summary counts by the time it counts it:
	// a payment by its confirmation, a release, a refund and a deposit
	// operation by their success (summaries read a window of it).
	DoneByTime = "done_by_time" // ms (8 bytes) + kind letter + id → ""
	// Days holds what records past the retention were folded into.
	Days = "days" // YYYY-MM-DD (China time) → day summary
	// OpenRecords lists the records still open (see Opener) of every
	// bucket: what a start resumes and a sweep looks for, read without the
	// bucket's years of finished records.
	OpenRecords = "open" // bucket + "/" + key → ""
	// ByAt files the records of the buckets Prune clears (Prunable) by
	// their "at" time, so a prune reads only what goes.
	ByAt = "by_at" // bucket + "/" + at (Unix s, 8 bytes) + key → ""
)

// Opener is a record that can say whether it is still open (owed, pending,
// not final). Put keeps OpenRecords in step with it in the same
// transaction; Delete and Prune take the entry out with the record.
type Opener interface{ Open() bool }

var buckets = []string{Outbox, Seen, Notify, Meta, Orders, Refunds, Deposits, Shifts, Print, Speech, PrintQueue, NotifyQueue, OrdersByTime, RefundsByOrder, DepositsByOrder, DepositsByTime, OpenOrders, DoneByTime, Days, OpenRecords, ByAt}

// Journal is an open journal file. It is safe for concurrent use.
type Journal struct {
	db          *bolt.DB
	dir         string        // set by OpenDir: where Close leaves the clean mark
	commits     atomic.Uint64 // write transactions committed (Commits)
	commitNanos atomic.Int64  // and the time they took (CommitTime)

	// acked are outbox entries the broker has acknowledged and not yet
	// deleted (AckLater): the next commit deletes them.
	ackMu sync.Mutex
	acked map[uint64]bool
}

// ErrLocked is returned by Open when another process holds the file.
var ErrLocked = errors.New("journal is in use by another process")

// Open opens (creating if needed, mode 0600) the journal at path. It fails
// with ErrLocked after a second if another process has it open, rather than
// waiting forever.
func Open(path string) (*Journal, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("journal %s: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("journal %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range buckets {
			if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
				return err
			}
		}
		return fileAllAt(tx)
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("journal %s: %w", path, err)
	}
	return &Journal{db: db, acked: map[uint64]bool{}}, nil
}

// Close closes the file. Pending transactions finish first. A journal of
// OpenDir leaves the clean mark: the next start need not check its pages.
func (j *Journal) Close() error {
	// A delete that fails here loses nothing: the event is sent again
	// after the next start (events are at least once).
	_ = j.FlushAcks()
	err := j.db.Close()
	if err == nil && j.dir != "" {
		if f, err := os.OpenFile(filepath.Join(j.dir, cleanMark), os.O_WRONLY|os.O_CREATE, 0o600); err == nil {
			f.Close()
			syncDir(j.dir)
		}
	}
	return err
}

// InUse is the bytes of the file's pages in use or free for reuse (its
// high-water mark; the file itself grows in bigger steps and never
// shrinks).
func (j *Journal) InUse() int64 {
	var n int64
	j.db.View(func(tx *bolt.Tx) error { n = tx.Size(); return nil })
	return n
}

// Path is the file's path.
func (j *Journal) Path() string { return j.db.Path() }

// Tx is one transaction. Its methods must be called only within the
// function given to Update or View.
type Tx struct{ tx *bolt.Tx }

// Update runs fn in a read-write transaction, committed (and fsynced) when
// fn returns nil, rolled back otherwise.
//
// The outbox entries acknowledged since the last commit (AckLater) are
// deleted in the same transaction, so they cost no commit of their own.
func (j *Journal) Update(fn func(*Tx) error) error {
	t0 := time.Now()
	err := j.db.Update(func(tx *bolt.Tx) error {
		if err := fn(&Tx{tx}); err != nil {
			return err
		}
		return j.deleteAcked(tx)
	})
	if err == nil {
		j.commits.Add(1)
		j.commitNanos.Add(int64(time.Since(t0)))
	}
	return err
}

// deleteAcked deletes, within tx, the outbox entries acknowledged so far,
// and forgets them once tx has committed.
func (j *Journal) deleteAcked(tx *bolt.Tx) error {
	j.ackMu.Lock()
	seqs := make([]uint64, 0, len(j.acked))
	for seq := range j.acked {
		seqs = append(seqs, seq)
	}
	j.ackMu.Unlock()
	if len(seqs) == 0 {
		return nil
	}
	b := tx.Bucket([]byte(Outbox))
	for _, seq := range seqs {
		if err := b.Delete(seqKey(seq)); err != nil {
			return err
		}
	}
	tx.OnCommit(func() {
		j.ackMu.Lock()
		for _, seq := range seqs {
			delete(j.acked, seq)
		}
		j.ackMu.Unlock()
	})
	return nil
}

// Commits is the number of write transactions committed since Open. Each
// costs bbolt two fdatasync calls (the pages, then the meta page): the
// figure the cost benchmarks report per command.
func (j *Journal) Commits() uint64 { return j.commits.Load() }

// CommitTime is the time spent in committed write transactions since Open
// (waiting for the writer lock included).
func (j *Journal) CommitTime() time.Duration { return time.Duration(j.commitNanos.Load()) }

// View runs fn in a read-only transaction.
func (j *Journal) View(fn func(*Tx) error) error {
	return j.db.View(func(tx *bolt.Tx) error { return fn(&Tx{tx}) })
}

func (t *Tx) bucket(name string) (*bolt.Bucket, error) {
	b := t.tx.Bucket([]byte(name))
	if b == nil {
		return nil, fmt.Errorf("journal: no bucket %q", name)
	}
	return b, nil
}

// OnCommit runs fn after the transaction has committed (never if it rolls
// back): for telling others of a change only once it is durable.
func (t *Tx) OnCommit(fn func()) { t.tx.OnCommit(fn) }

// Put stores v as JSON under key in bucket. Read-write transactions only.
func (t *Tx) Put(bucket, key string, v any) error {
	b, err := t.bucket(bucket)
	if err != nil {
		return err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("journal: encode %s/%s: %w", bucket, key, err)
	}
	// A page is written at commit for every leaf touched, so what is
	// already there as it would be written is left alone: a record put
	// again unchanged, its time index, its open mark.
	if !bytes.Equal(b.Get([]byte(key)), data) {
		if err := b.Put([]byte(key), data); err != nil {
			return err
		}
	}
	if err := t.fileAt(bucket, key, data); err != nil {
		return err
	}
	if o, ok := v.(Opener); ok {
		open := t.tx.Bucket([]byte(OpenRecords))
		k := []byte(bucket + "/" + key)
		if o.Open() {
			if open.Get(k) != nil {
				return nil
			}
			return open.Put(k, []byte{})
		}
		return open.Delete(k)
	}
	return nil
}

// OpenKeys calls fn with the key of each open record of bucket (see
// Opener), in key order.
func (t *Tx) OpenKeys(bucket string, fn func(key string) error) error {
	prefix := []byte(bucket + "/")
	c := t.tx.Bucket([]byte(OpenRecords)).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if err := fn(string(k[len(prefix):])); err != nil {
			return err
		}
	}
	return nil
}

// PutRaw stores bytes as they are (salvage, tests of damaged records).
func (t *Tx) PutRaw(bucket, key string, data []byte) error {
	b, err := t.bucket(bucket)
	if err != nil {
		return err
	}
	if err := b.Put([]byte(key), data); err != nil {
		return err
	}
	return t.fileAt(bucket, key, data)
}

// Get decodes the value under key into v and reports whether it was there.
func (t *Tx) Get(bucket, key string, v any) (bool, error) {
	b, err := t.bucket(bucket)
	if err != nil {
		return false, err
	}
	data := b.Get([]byte(key))
	if data == nil {
		return false, nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return true, fmt.Errorf("journal: decode %s/%s: %w", bucket, key, err)
	}
	return true, nil
}

// Delete removes key from bucket, and its OpenRecords entry. Read-write
// transactions only.
func (t *Tx) Delete(bucket, key string) error {
	b, err := t.bucket(bucket)
	if err != nil {
		return err
	}
	if err := t.unfileAt(bucket, key, b.Get([]byte(key))); err != nil {
		return err
	}
	if err := b.Delete([]byte(key)); err != nil {
		return err
	}
	return t.tx.Bucket([]byte(OpenRecords)).Delete([]byte(bucket + "/" + key))
}

// ForEach calls fn with each key and raw JSON value of bucket in key order.
// The value is valid only during the call.
func (t *Tx) ForEach(bucket string, fn func(key string, value []byte) error) error {
	b, err := t.bucket(bucket)
	if err != nil {
		return err
	}
	return b.ForEach(func(k, v []byte) error { return fn(string(k), v) })
}

// Seek calls fn with each key at or after from, in key order, and its raw
// value (valid only during the call), until fn says stop or the bucket
// ends: a window of an index without reading the rest.
func (t *Tx) Seek(bucket, from string, fn func(key string, value []byte) (more bool, err error)) error {
	b, err := t.bucket(bucket)
	if err != nil {
		return err
	}
	c := b.Cursor()
	for k, v := c.Seek([]byte(from)); k != nil; k, v = c.Next() {
		more, err := fn(string(k), v)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// SeekLast is Seek backwards: keys before (not at) before, newest first
// ("" starts at the end).
func (t *Tx) SeekLast(bucket, before string, fn func(key string, value []byte) (more bool, err error)) error {
	b, err := t.bucket(bucket)
	if err != nil {
		return err
	}
	c := b.Cursor()
	var k, v []byte
	if before == "" {
		k, v = c.Last()
	} else if k, v = c.Seek([]byte(before)); k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	for ; k != nil; k, v = c.Prev() {
		more, err := fn(string(k), v)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// PutKey stores an index entry: key, no value.
func (t *Tx) PutKey(bucket, key string) error {
	b, err := t.bucket(bucket)
	if err != nil {
		return err
	}
	return b.Put([]byte(key), []byte{})
}

// Enqueue appends an event to the outbox and returns its sequence number,
// which orders the outbox. Read-write transactions only.
func (t *Tx) Enqueue(v any) (uint64, error) {
	b, err := t.bucket(Outbox)
	if err != nil {
		return 0, err
	}
	seq, err := b.NextSequence()
	if err != nil {
		return 0, err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("journal: encode outbox entry: %w", err)
	}
	return seq, b.Put(seqKey(seq), data)
}

// NextSequence returns the next number of bucket's own counter, to order
// records keyed by something else. Read-write transactions only.
func (t *Tx) NextSequence(bucket string) (uint64, error) {
	b, err := t.bucket(bucket)
	if err != nil {
		return 0, err
	}
	return b.NextSequence()
}

// Entry is one queued outbox event.
type Entry struct {
	Seq  uint64
	Data []byte // JSON as given to Enqueue
}

// Pending returns up to max outbox entries not acknowledged, in the order
// they were queued.
func (j *Journal) Pending(max int) ([]Entry, error) {
	var out []Entry
	err := j.View(func(t *Tx) error {
		b, err := t.bucket(Outbox)
		if err != nil {
			return err
		}
		j.ackMu.Lock()
		defer j.ackMu.Unlock()
		c := b.Cursor()
		for k, v := c.First(); k != nil && len(out) < max; k, v = c.Next() {
			seq := binary.BigEndian.Uint64(k)
			if !j.acked[seq] {
				out = append(out, Entry{Seq: seq, Data: bytes.Clone(v)})
			}
		}
		return nil
	})
	return out, err
}

// AckLater records that the broker has acknowledged the outbox entries
// seqs: Pending no longer returns them, and the next commit, whatever it
// is for, deletes them (FlushAcks commits them alone). A delete costs no
// commit of its own; a crash before it has the entries sent again after
// the restart, which events allow (at least once, the platform keys them
// by jti).
func (j *Journal) AckLater(seqs []uint64) {
	j.ackMu.Lock()
	for _, seq := range seqs {
		j.acked[seq] = true
	}
	j.ackMu.Unlock()
}

// Acked is the number of acknowledged outbox entries not yet deleted.
func (j *Journal) Acked() int {
	j.ackMu.Lock()
	defer j.ackMu.Unlock()
	return len(j.acked)
}

// FlushAcks commits the deletes AckLater holds, if any.
func (j *Journal) FlushAcks() error {
	if j.Acked() == 0 {
		return nil
	}
	return j.Update(func(*Tx) error { return nil })
}

// Ack removes outbox entry seq: the broker has acknowledged it.
func (j *Journal) Ack(seq uint64) error {
	return j.Update(func(t *Tx) error {
		b, err := t.bucket(Outbox)
		if err != nil {
			return err
		}
		return b.Delete(seqKey(seq))
	})
}

// OutboxLen is the number of events not yet acknowledged.
func (j *Journal) OutboxLen() (int, error) {
	n := 0
	err := j.View(func(t *Tx) error {
		b, err := t.bucket(Outbox)
		if err != nil {
			return err
		}
		n = b.Stats().KeyN
		return nil
	})
	return max(0, n-j.Acked()), err
}

func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}
