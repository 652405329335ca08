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
	"crypto/rand"
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
	syncs       atomic.Uint64 // fdatasync calls (Syncs)
	checkpoints atomic.Uint64 // checkpoints (Checkpoints)
	checkNanos  atomic.Int64  // and the time they took (CheckpointTime)

	// wmu orders the writers (Update, Checkpoint). log is the write-ahead
	// log (nil: it could not be made, and every commit is a bbolt
	// commit); mem what it holds. snap guards the pair (mem, bbolt
	// snapshot) a transaction begins with against a checkpoint swapping
	// mem between the two.
	wmu  sync.Mutex
	log  *wal
	snap sync.RWMutex
	mem  *mem
	// logErr is why there is no log.
	logErr error

	// acked are outbox entries the broker has acknowledged and not yet
	// deleted (AckLater): the next commit deletes them.
	ackMu sync.Mutex
	acked map[uint64]bool
}

// ErrLocked is returned by Open when another process holds the file.
var ErrLocked = errors.New("journal is in use by another process")

// Open opens (creating if needed, mode 0600) the journal at path and its
// log (path + LogSuffix), replaying what the log holds. It fails with
// ErrLocked after a second if another process has it open, rather than
// waiting forever. A log that cannot be made (a full disk) leaves the
// journal working without one (LogError says why).
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
	var state logState
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range buckets {
			if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
				return err
			}
		}
		meta := tx.Bucket([]byte(Meta))
		if v := meta.Get([]byte(LogKey)); v == nil || json.Unmarshal(v, &state) != nil || state.Salt == 0 {
			var b [8]byte
			rand.Read(b[:])
			state = logState{Salt: binary.LittleEndian.Uint64(b[:]) | 1}
			v, _ := json.Marshal(state)
			if err := meta.Put([]byte(LogKey), v); err != nil {
				return err
			}
		}
		return fileAllAt(tx)
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("journal %s: %w", path, err)
	}
	j := &Journal{db: db, acked: map[uint64]bool{}, mem: newMem(0)}
	j.syncs.Add(2)
	fail := func(err error) (*Journal, error) {
		j.closeFiles()
		return nil, fmt.Errorf("journal %s: %w", path, err)
	}
	l, ops, err := openLog(path+LogSuffix, state)
	if errors.Is(err, errNoLog) {
		// No log file and none can be made: bbolt commits, and no size
		// on record for OpenDir to find the log short of.
		j.logErr = err
		if err := j.recordLog(state.Salt, state.Gen, 0); err != nil {
			return fail(err)
		}
		return j, nil
	}
	if err != nil {
		// A log that is there and cannot be read holds commits: the
		// journal without them is not the journal.
		return fail(err)
	}
	j.log = l
	if len(ops) > 0 {
		// Replayed as one checkpoint: the log's next generation begins
		// only once its records are in bbolt.
		w := newWrites()
		if _, err := decodeOps(ops, func(o op) error {
			switch o.kind {
			case opSeq:
				w.seq[o.bucket] = o.seq
			case opDel:
				w.set(o.bucket, o.key, nil)
			default:
				w.set(o.bucket, o.key, o.value)
			}
			return nil
		}); err != nil {
			return fail(err)
		}
		if err := j.checkpointWith(w); err != nil {
			return fail(fmt.Errorf("replaying the log: %w", err))
		}
	}
	if want := logSize(); !l.valid() || l.size != want {
		// Another size asked for (or a file no log can be written in):
		// what it held is in bbolt now. No size is on record while the
		// file is replaced, so a crash meanwhile is no lost log.
		if err := j.recordLog(l.salt, l.gen-1, 0); err != nil {
			return fail(err)
		}
		l.f.Close()
		var f *os.File
		err := makeLog(path+LogSuffix, want)
		if err == nil {
			f, err = openDirect(path + LogSuffix)
		}
		if err != nil {
			j.log, j.logErr = nil, err
			return j, nil
		}
		l.f, l.size, l.off = f, want, 0
	}
	if state.Size != l.size {
		// The log's size on record, for OpenDir's check of it.
		if err := j.recordLog(l.salt, l.gen-1, l.size); err != nil {
			return fail(err)
		}
	}
	return j, nil
}

// recordLog writes the log's state (Meta LogKey) straight into bbolt.
func (j *Journal) recordLog(salt, gen uint64, size int64) error {
	v, _ := json.Marshal(logState{Salt: salt, Gen: gen, Size: size})
	err := j.db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte(Meta)).Put([]byte(LogKey), v) })
	if err == nil {
		j.syncs.Add(2)
	}
	return err
}

// LogError is why the journal has no log ("" when it has one): every
// commit is then a bbolt commit.
func (j *Journal) LogError() string {
	if j.logErr == nil {
		return ""
	}
	return j.logErr.Error()
}

// Close checkpoints and closes the files. Pending transactions finish
// first. A journal of OpenDir leaves the clean mark: the next start need
// not check its pages.
func (j *Journal) Close() error {
	// A delete that fails here loses nothing: the event is sent again
	// after the next start (events are at least once).
	_ = j.FlushAcks()
	cerr := j.Checkpoint()
	err := j.closeFiles()
	if err == nil && cerr == nil && j.dir != "" {
		if f, err := os.OpenFile(filepath.Join(j.dir, cleanMark), os.O_WRONLY|os.O_CREATE, 0o600); err == nil {
			f.Close()
			syncDir(j.dir)
		}
	}
	return err
}

// closeFiles closes bbolt and the log, checkpointing nothing: what the
// log holds is replayed at the next Open.
func (j *Journal) closeFiles() error {
	j.wmu.Lock()
	defer j.wmu.Unlock()
	if j.log != nil {
		j.log.f.Close()
		j.log = nil
		j.logErr = errors.New("closed")
	}
	return j.db.Close()
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

// Update runs fn in a read-write transaction, committed (durable) when
// fn returns nil, rolled back otherwise: one record appended to the log
// and synced, or, when the log cannot hold it, a checkpoint carrying it.
// A transaction that changed nothing commits nothing.
//
// The outbox entries acknowledged since the last commit (AckLater) are
// deleted in the same transaction, so they cost no commit of their own.
func (j *Journal) Update(fn func(*Tx) error) error {
	t0 := time.Now()
	j.wmu.Lock()
	defer j.wmu.Unlock()
	rtx, err := j.db.Begin(false)
	if err != nil {
		return err
	}
	c, keys := j.mem.snapshot()
	t := &Tx{rtx: rtx, m: j.mem, c: c, keys: keys, w: newWrites()}
	err = fn(t)
	var seqs []uint64
	if err == nil {
		seqs, err = j.deleteAcked(t)
	}
	dead := t.dead()
	rtx.Rollback()
	if err != nil {
		return err
	}
	if !t.w.empty() {
		if err := j.commit(t.w, dead); err != nil {
			return err
		}
		j.commits.Add(1)
		j.commitNanos.Add(int64(time.Since(t0)))
	}
	j.forgetAcked(seqs)
	for _, h := range t.hooks {
		h()
	}
	return nil
}

// commit makes w durable (j.wmu held).
func (j *Journal) commit(w *writes, dead map[string]map[string]bool) error {
	if j.log == nil {
		return j.checkpointWith(w)
	}
	ops := encodeOps(w)
	if !j.log.holds(ops) {
		return j.checkpointWith(w)
	}
	if !j.log.fits(ops) {
		if err := j.checkpointWith(nil); err != nil {
			return err
		}
		// What the bbolt file has changed: a key this commit deletes
		// may be in it now.
		err := j.db.View(func(tx *bolt.Tx) error {
			dead = (&Tx{rtx: tx, w: w}).dead()
			return nil
		})
		if err != nil {
			return err
		}
	}
	if err := j.log.append(ops); err != nil {
		return err
	}
	j.syncs.Add(1)
	j.mem.apply(w, j.mem.c+1, recHeader+len(ops), dead)
	return nil
}

// Checkpoint writes what the log holds into the bbolt file and starts the
// log again (Close does; so does a commit that finds the log full).
func (j *Journal) Checkpoint() error {
	j.wmu.Lock()
	defer j.wmu.Unlock()
	if j.log == nil || j.log.off == 0 {
		return nil
	}
	return j.checkpointWith(nil)
}

// checkpointWith writes mem, then extra, into bbolt in one transaction
// that also records the log generation they close (j.wmu held, or Open).
func (j *Journal) checkpointWith(extra *writes) error {
	t0 := time.Now()
	defer func() { j.checkNanos.Add(int64(time.Since(t0))) }()
	w := j.mem.latest()
	if extra != nil {
		for name, kv := range extra.kv {
			for k, v := range kv {
				w.set(name, k, v)
			}
		}
		for name, s := range extra.seq {
			w.seq[name] = s
		}
	}
	j.snap.Lock()
	defer j.snap.Unlock()
	err := j.db.Update(func(tx *bolt.Tx) error {
		if err := w.applyTo(tx); err != nil {
			return err
		}
		if j.log == nil {
			return nil
		}
		v, _ := json.Marshal(logState{Salt: j.log.salt, Gen: j.log.gen, Size: j.log.size})
		return tx.Bucket([]byte(Meta)).Put([]byte(LogKey), v)
	})
	if err != nil && j.log != nil && j.checkpointed() {
		// The commit failed after bbolt wrote its meta page (a sync that
		// failed): bbolt has the checkpoint, so the log restarts all the
		// same, or its next records would be of a generation already
		// folded in, never replayed.
		err = nil
	}
	if err != nil {
		return err
	}
	j.syncs.Add(2)
	if j.log != nil {
		j.checkpoints.Add(1)
		j.log.restart()
	}
	c := j.mem.c
	if extra != nil {
		c++
	}
	j.mem = newMem(c)
	return nil
}

// checkpointed says whether bbolt records the log's current generation as
// folded in.
func (j *Journal) checkpointed() bool {
	var st logState
	j.db.View(func(tx *bolt.Tx) error {
		json.Unmarshal(tx.Bucket([]byte(Meta)).Get([]byte(LogKey)), &st)
		return nil
	})
	return st.Salt == j.log.salt && st.Gen == j.log.gen
}

// deleteAcked deletes, within t, the outbox entries acknowledged so far;
// forgetAcked forgets them once t has committed.
func (j *Journal) deleteAcked(t *Tx) ([]uint64, error) {
	j.ackMu.Lock()
	seqs := make([]uint64, 0, len(j.acked))
	for seq := range j.acked {
		seqs = append(seqs, seq)
	}
	j.ackMu.Unlock()
	for _, seq := range seqs {
		if err := t.del(Outbox, seqKey(seq)); err != nil {
			return nil, err
		}
	}
	return seqs, nil
}

func (j *Journal) forgetAcked(seqs []uint64) {
	if len(seqs) == 0 {
		return
	}
	j.ackMu.Lock()
	for _, seq := range seqs {
		delete(j.acked, seq)
	}
	j.ackMu.Unlock()
}

// Commits is the number of write transactions committed since Open: each
// one fdatasync of the log (a checkpoint adds bbolt's two).
func (j *Journal) Commits() uint64 { return j.commits.Load() }

// Syncs is the number of fdatasync calls the journal made since Open
// (bbolt's two per transaction of its own, one per log record).
func (j *Journal) Syncs() uint64 { return j.syncs.Load() }

// Checkpoints is the number of times the log was folded into bbolt.
func (j *Journal) Checkpoints() uint64 { return j.checkpoints.Load() }

// CheckpointTime is the time checkpoints took since Open.
func (j *Journal) CheckpointTime() time.Duration { return time.Duration(j.checkNanos.Load()) }

// CommitTime is the time spent in committed write transactions since Open
// (waiting for the writer lock included).
func (j *Journal) CommitTime() time.Duration { return time.Duration(j.commitNanos.Load()) }

// View runs fn in a read-only transaction: what was committed when it
// began, whatever commits while it runs.
func (j *Journal) View(fn func(*Tx) error) error {
	j.snap.RLock()
	m := j.mem
	c, keys := m.snapshot()
	rtx, err := j.db.Begin(false)
	j.snap.RUnlock()
	if err != nil {
		return err
	}
	defer rtx.Rollback()
	return fn(&Tx{rtx: rtx, m: m, c: c, keys: keys})
}

// OnCommit runs fn after the transaction has committed (never if it rolls
// back): for telling others of a change only once it is durable.
func (t *Tx) OnCommit(fn func()) { t.hooks = append(t.hooks, fn) }

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
	// What is already there as it would be written is left alone (a
	// record put again unchanged, its time index, its open mark): it
	// would cost log bytes and, at the checkpoint, a page.
	if !bytes.Equal(t.raw(b, bucket, []byte(key)), data) {
		if err := t.set(bucket, []byte(key), data); err != nil {
			return err
		}
	}
	if err := t.fileAt(bucket, key, data, true); err != nil {
		return err
	}
	if o, ok := v.(Opener); ok {
		k := []byte(bucket + "/" + key)
		if o.Open() {
			if v, _ := t.rawOf(OpenRecords, k); v != nil {
				return nil
			}
			return t.set(OpenRecords, k, []byte{})
		}
		return t.del(OpenRecords, k)
	}
	return nil
}

// OpenKeys calls fn with the key of each open record of bucket (see
// Opener), in key order.
func (t *Tx) OpenKeys(bucket string, fn func(key string) error) error {
	prefix := []byte(bucket + "/")
	return t.scan(OpenRecords, prefix, func(k, _ []byte) (bool, error) {
		if !bytes.HasPrefix(k, prefix) {
			return false, nil
		}
		return true, fn(string(k[len(prefix):]))
	})
}

// PutRaw stores bytes as they are (salvage, tests of damaged records).
func (t *Tx) PutRaw(bucket, key string, data []byte) error {
	if err := t.set(bucket, []byte(key), data); err != nil {
		return err
	}
	return t.fileAt(bucket, key, data, false)
}

// Get decodes the value under key into v and reports whether it was there.
func (t *Tx) Get(bucket, key string, v any) (bool, error) {
	data, err := t.rawOf(bucket, []byte(key))
	if err != nil || data == nil {
		return false, err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return true, fmt.Errorf("journal: decode %s/%s: %w", bucket, key, err)
	}
	return true, nil
}

// Delete removes key from bucket, and its OpenRecords entry. Read-write
// transactions only.
func (t *Tx) Delete(bucket, key string) error {
	old, err := t.rawOf(bucket, []byte(key))
	if err != nil {
		return err
	}
	if err := t.unfileAt(bucket, key, old); err != nil {
		return err
	}
	if err := t.del(bucket, []byte(key)); err != nil {
		return err
	}
	return t.del(OpenRecords, []byte(bucket+"/"+key))
}

// ForEach calls fn with each key and raw JSON value of bucket in key order.
// The value is valid only during the call.
func (t *Tx) ForEach(bucket string, fn func(key string, value []byte) error) error {
	return t.scan(bucket, nil, func(k, v []byte) (bool, error) { return true, fn(string(k), v) })
}

// Seek calls fn with each key at or after from, in key order, and its raw
// value (valid only during the call), until fn says stop or the bucket
// ends: a window of an index without reading the rest.
func (t *Tx) Seek(bucket, from string, fn func(key string, value []byte) (more bool, err error)) error {
	return t.scan(bucket, []byte(from), func(k, v []byte) (bool, error) { return fn(string(k), v) })
}

// SeekLast is Seek backwards: keys before (not at) before, newest first
// ("" starts at the end).
func (t *Tx) SeekLast(bucket, before string, fn func(key string, value []byte) (more bool, err error)) error {
	var from []byte
	if before != "" {
		from = []byte(before)
	}
	return t.scanBack(bucket, from, func(k, v []byte) (bool, error) { return fn(string(k), v) })
}

// PutKey stores an index entry: key, no value.
func (t *Tx) PutKey(bucket, key string) error {
	return t.set(bucket, []byte(key), []byte{})
}

// Enqueue appends an event to the outbox and returns its sequence number,
// which orders the outbox. Read-write transactions only.
func (t *Tx) Enqueue(v any) (uint64, error) {
	seq, err := t.NextSequence(Outbox)
	if err != nil {
		return 0, err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("journal: encode outbox entry: %w", err)
	}
	if err := t.set(Outbox, seqKey(seq), data); err != nil {
		return 0, err
	}
	t.enqueued = true
	return seq, nil
}

// Enqueued says whether t has put an event in the outbox: whether the
// sender has anything to wake for once t commits (a command answered
// later, as notify.payment, enqueues nothing in its accepting commit, and
// a sender woken for nothing takes the processor from the flow that is
// about to run).
func (t *Tx) Enqueued() bool { return t.enqueued }

// NextSequence returns the next number of bucket's own counter, to order
// records keyed by something else. Read-write transactions only.
func (t *Tx) NextSequence(bucket string) (uint64, error) {
	b, err := t.bucket(bucket)
	if err != nil {
		return 0, err
	}
	if t.w == nil {
		return 0, errReadOnly
	}
	seq := t.sequence(b, bucket) + 1
	t.w.seq[bucket] = seq
	return seq, nil
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
		j.ackMu.Lock()
		defer j.ackMu.Unlock()
		return t.scan(Outbox, nil, func(k, v []byte) (bool, error) {
			if len(out) >= max {
				return false, nil
			}
			seq := binary.BigEndian.Uint64(k)
			if !j.acked[seq] {
				out = append(out, Entry{Seq: seq, Data: bytes.Clone(v)})
			}
			return true, nil
		})
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
	return j.Update(func(t *Tx) error { return t.del(Outbox, seqKey(seq)) })
}

// OutboxLen is the number of events not yet acknowledged.
func (j *Journal) OutboxLen() (int, error) {
	n := 0
	err := j.View(func(t *Tx) error {
		var err error
		n, err = t.count(Outbox)
		return err
	})
	return max(0, n-j.Acked()), err
}

// SeqKey is the key that orders a queue bucket by sequence number
// (big-endian), as the outbox is ordered.
func SeqKey(seq uint64) string { return string(seqKey(seq)) }

func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}
