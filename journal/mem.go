package journal

import (
	"errors"
	"fmt"
	"sort"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// writes are a transaction's changes: bucket → key → the value it leaves
// (nil: deleted), and the bucket counters it moved.
type writes struct {
	kv  map[string]map[string][]byte
	seq map[string]uint64
}

func newWrites() *writes {
	return &writes{kv: map[string]map[string][]byte{}, seq: map[string]uint64{}}
}

func (w *writes) empty() bool { return len(w.kv) == 0 && len(w.seq) == 0 }

func (w *writes) set(bucket, key string, v []byte) {
	m := w.kv[bucket]
	if m == nil {
		m = map[string][]byte{}
		w.kv[bucket] = m
	}
	m[key] = v
}

// applyTo writes w into a bbolt read-write transaction.
func (w *writes) applyTo(tx *bolt.Tx) error {
	for name, kv := range w.kv {
		b, err := tx.CreateBucketIfNotExists([]byte(name))
		if err != nil {
			return err
		}
		for k, v := range kv {
			if v == nil {
				err = b.Delete([]byte(k))
			} else {
				err = b.Put([]byte(k), v)
			}
			if err != nil {
				return err
			}
		}
	}
	for name, seq := range w.seq {
		b, err := tx.CreateBucketIfNotExists([]byte(name))
		if err != nil {
			return err
		}
		if err := b.SetSequence(seq); err != nil {
			return err
		}
	}
	return nil
}

// mem holds what the log holds: each key's values by the commit that
// wrote them, so a transaction begun at commit c reads the values as of c
// however many commits follow while it runs. A checkpoint replaces it with
// an empty one; transactions begun before keep the one they began with
// (and the bbolt snapshot that goes with it).
type mem struct {
	mu sync.RWMutex
	kv map[string]map[string][]version
	// keys are each bucket's keys in kv that scans visit (not dead),
	// sorted; the map and its lists are replaced, never changed.
	keys  map[string][]string
	dead  map[string]map[string]bool
	seq   map[string][]seqVersion
	c     uint64 // the last commit applied
	bytes int    // the log bytes behind it
}

type version struct {
	c uint64
	v []byte // nil: deleted
}

type seqVersion struct{ c, v uint64 }

func newMem(c uint64) *mem {
	return &mem{kv: map[string]map[string][]version{}, keys: map[string][]string{}, dead: map[string]map[string]bool{}, seq: map[string][]seqVersion{}, c: c}
}

// get is key's value as of commit c; ok is false when mem has none (the
// bbolt file has the value).
func (m *mem) get(bucket, key string, c uint64) (v []byte, ok bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	vs := m.kv[bucket][key]
	for i := len(vs) - 1; i >= 0; i-- {
		if vs[i].c <= c {
			return vs[i].v, true
		}
	}
	return nil, false
}

func (m *mem) sequence(bucket string, c uint64) (uint64, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	vs := m.seq[bucket]
	for i := len(vs) - 1; i >= 0; i-- {
		if vs[i].c <= c {
			return vs[i].v, true
		}
	}
	return 0, false
}

// apply adds commit c's writes. dead are the keys it deleted that the
// bbolt file does not have (made and deleted since the checkpoint: a
// queue's entries): scans need not visit them, so they leave the sorted
// key lists, and a queue's scan costs what the queue holds, not what went
// through it.
func (m *mem) apply(w *writes, c uint64, logged int, dead map[string]map[string]bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := make(map[string][]string, len(m.keys)+len(w.kv))
	for name, ks := range m.keys {
		keys[name] = ks // a Tx holding the old map keeps its own lists
	}
	for name, kv := range w.kv {
		b := m.kv[name]
		if b == nil {
			b = map[string][]version{}
			m.kv[name] = b
		}
		gone := m.dead[name]
		var added, removed []string
		for k, v := range kv {
			listed := b[k] != nil && !gone[k]
			isDead := v == nil && dead[name][k]
			switch {
			case !listed && !isDead:
				added = append(added, k)
			case listed && isDead:
				removed = append(removed, k)
			}
			if isDead {
				if gone == nil {
					gone = map[string]bool{}
					m.dead[name] = gone
				}
				gone[k] = true
			} else if gone[k] {
				delete(gone, k)
			}
			b[k] = append(b[k], version{c, v})
		}
		if len(added) > 0 || len(removed) > 0 {
			keys[name] = mergeKeys(keys[name], added, removed)
		}
	}
	m.keys = keys
	for name, s := range w.seq {
		m.seq[name] = append(m.seq[name], seqVersion{c, s})
	}
	m.c = c
	m.bytes += logged
}

// mergeKeys is the sorted old with added (not in it) put in and removed
// (in it) taken out. Queues and time indexes take keys at their end and
// lose them at their start: then old's array is shared, sliced and
// appended to (a reader of old reads only its own length of it, and only
// the newest list is ever appended to); otherwise a new array.
func mergeKeys(old, added, removed []string) []string {
	sort.Strings(added)
	sort.Strings(removed)
	p := 0
	for p < len(removed) && p < len(old) && old[p] == removed[p] {
		p++
	}
	if p == len(removed) {
		rest := old[p:]
		if len(added) == 0 {
			return rest
		}
		if len(rest) == 0 || added[0] > rest[len(rest)-1] {
			return append(rest, added...)
		}
	}
	out := make([]string, 0, len(old)+len(added))
	i, r := 0, 0
	keep := func(k string) {
		for r < len(removed) && removed[r] < k {
			r++
		}
		if r < len(removed) && removed[r] == k {
			return
		}
		out = append(out, k)
	}
	for _, k := range added {
		for i < len(old) && old[i] < k {
			keep(old[i])
			i++
		}
		out = append(out, k)
	}
	for ; i < len(old); i++ {
		keep(old[i])
	}
	return out
}

// snapshot is the last commit and the key lists that go with it.
func (m *mem) snapshot() (uint64, map[string][]string) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.c, m.keys
}

// latest is every key's newest value: what a checkpoint writes.
func (m *mem) latest() *writes {
	m.mu.RLock()
	defer m.mu.RUnlock()
	w := newWrites()
	for name, kv := range m.kv {
		for k, vs := range kv {
			w.set(name, k, vs[len(vs)-1].v)
		}
	}
	for name, vs := range m.seq {
		w.seq[name] = vs[len(vs)-1].v
	}
	return w
}

// entry is a key mem or a transaction has a say on.
type entry struct {
	k string
	v []byte // nil: deleted
}

// Tx is one transaction. Its methods must be called only within the
// function given to Update or View.
//
// It reads through three layers, newest first: its own writes, the log's
// (mem, as of the commit it began at) and the bbolt file (a read-only
// bbolt transaction begun with it). It writes only to its own layer,
// which Update commits.
type Tx struct {
	rtx   *bolt.Tx
	m     *mem
	c     uint64
	keys  map[string][]string // m's key lists as of c
	w     *writes             // nil: a View
	hooks []func()
	// enqueued: an event was put in the outbox (Enqueued).
	enqueued bool
	// open are the buckets looked up so far (bucket): bbolt seeks a
	// bucket from the root on every lookup, and a Put looks its bucket
	// up three to five times. A transaction touches a handful.
	open  [8]openBucket
	nOpen int
}

type openBucket struct {
	name string
	b    *bolt.Bucket
}

var errReadOnly = errors.New("journal: a write in a read-only transaction")

func (t *Tx) bucket(name string) (*bolt.Bucket, error) {
	for _, o := range t.open[:t.nOpen] {
		if o.name == name {
			return o.b, nil
		}
	}
	b := t.rtx.Bucket([]byte(name))
	if b == nil {
		return nil, fmt.Errorf("journal: no bucket %q", name)
	}
	if t.nOpen < len(t.open) {
		t.open[t.nOpen] = openBucket{name, b}
		t.nOpen++
	}
	return b, nil
}

// raw is key's value in bucket (nil: none), valid during the
// transaction; never to be modified.
func (t *Tx) raw(b *bolt.Bucket, bucket string, key []byte) []byte {
	if t.w != nil {
		if v, ok := t.w.kv[bucket][string(key)]; ok {
			return v
		}
	}
	if v, ok := t.m.get(bucket, string(key), t.c); ok {
		return v
	}
	return b.Get(key)
}

func (t *Tx) rawOf(bucket string, key []byte) ([]byte, error) {
	b, err := t.bucket(bucket)
	if err != nil {
		return nil, err
	}
	return t.raw(b, bucket, key), nil
}

// set stores a copy of v (not nil) under key.
func (t *Tx) set(bucket string, key, v []byte) error {
	if t.w == nil {
		return errReadOnly
	}
	if _, err := t.bucket(bucket); err != nil {
		return err
	}
	t.w.set(bucket, string(key), append([]byte{}, v...))
	return nil
}

// del deletes key; a key that is not there costs nothing.
func (t *Tx) del(bucket string, key []byte) error {
	if t.w == nil {
		return errReadOnly
	}
	b, err := t.bucket(bucket)
	if err != nil {
		return err
	}
	if t.raw(b, bucket, key) == nil {
		if _, ok := t.w.kv[bucket][string(key)]; !ok {
			return nil
		}
	}
	t.w.set(bucket, string(key), nil)
	return nil
}

func (t *Tx) sequence(b *bolt.Bucket, bucket string) uint64 {
	if t.w != nil {
		if s, ok := t.w.seq[bucket]; ok {
			return s
		}
	}
	if s, ok := t.m.sequence(bucket, t.c); ok {
		return s
	}
	return b.Sequence()
}

// dead are the keys t deletes that the bbolt file does not have (see
// mem.apply).
func (t *Tx) dead() map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for name, kv := range t.w.kv {
		b := t.rtx.Bucket([]byte(name))
		for k, v := range kv {
			if v == nil && (b == nil || b.Get([]byte(k)) == nil) {
				if out[name] == nil {
					out[name] = map[string]bool{}
				}
				out[name][k] = true
			}
		}
	}
	return out
}

// overlay walks what the upper layers (the transaction's writes, mem)
// say of a bucket, in key order either way, without copying or sorting
// mem's keys (a scan costs the keys it reads, not the bucket's keys in
// mem).
type overlay struct {
	t      *Tx
	bucket string
	back   bool
	mk     []string // mem's keys, sorted (mem never changes a slice it gave out)
	wk     []string // the transaction's, sorted
	mi, wi int
}

func (t *Tx) overlay(bucket string, from []byte, back bool) *overlay {
	o := &overlay{t: t, bucket: bucket, back: back, mk: t.keys[bucket]}
	if t.w != nil && len(t.w.kv[bucket]) > 0 {
		for k := range t.w.kv[bucket] {
			o.wk = append(o.wk, k)
		}
		sort.Strings(o.wk)
	}
	o.mi, o.wi = sort.SearchStrings(o.mk, string(from)), sort.SearchStrings(o.wk, string(from))
	if back {
		if from == nil {
			o.mi, o.wi = len(o.mk), len(o.wk)
		}
		o.mi--
		o.wi-- // the last before from
	}
	return o
}

// peek is the next entry (v nil: deleted) and whether there is one.
func (o *overlay) peek() (e entry, ok bool) {
	step := 1
	if o.back {
		step = -1
	}
	for {
		mok, wok := o.mi >= 0 && o.mi < len(o.mk), o.wi >= 0 && o.wi < len(o.wk)
		switch {
		case !mok && !wok:
			return e, false
		case wok && (!mok || o.wk[o.wi] == o.mk[o.mi] || (o.wk[o.wi] < o.mk[o.mi]) != o.back):
			k := o.wk[o.wi]
			return entry{k, o.t.w.kv[o.bucket][k]}, true
		}
		k := o.mk[o.mi]
		if v, ok := o.t.m.get(o.bucket, k, o.t.c); ok {
			return entry{k, v}, true
		}
		o.mi += step // written after the transaction began: not there for it
	}
}

// next moves past the entry peek gave.
func (o *overlay) next(k string) {
	step := 1
	if o.back {
		step = -1
	}
	if o.mi >= 0 && o.mi < len(o.mk) && o.mk[o.mi] == k {
		o.mi += step
	}
	if o.wi >= 0 && o.wi < len(o.wk) && o.wk[o.wi] == k {
		o.wi += step
	}
}

// scan calls fn with each key at or after from (nil: the first) and its
// value, in key order, until fn says stop. Writes fn makes are not seen
// by the scan.
func (t *Tx) scan(bucket string, from []byte, fn func(k, v []byte) (bool, error)) error {
	return t.walk(bucket, from, false, fn)
}

// scanBack is scan backwards from the last key before before (nil: the
// last key).
func (t *Tx) scanBack(bucket string, before []byte, fn func(k, v []byte) (bool, error)) error {
	return t.walk(bucket, before, true, fn)
}

func (t *Tx) walk(bucket string, from []byte, back bool, fn func(k, v []byte) (bool, error)) error {
	b, err := t.bucket(bucket)
	if err != nil {
		return err
	}
	ov := t.overlay(bucket, from, back)
	c := b.Cursor()
	var bk, bv []byte
	step := c.Next
	switch {
	case back:
		step = c.Prev
		if from == nil {
			bk, bv = c.Last()
		} else if bk, bv = c.Seek(from); bk == nil {
			bk, bv = c.Last()
		} else {
			bk, bv = c.Prev()
		}
	case from == nil:
		bk, bv = c.First()
	default:
		bk, bv = c.Seek(from)
	}
	for {
		e, ok := ov.peek()
		var k, v []byte
		switch {
		case bk == nil && !ok:
			return nil
		case ok && (bk == nil || e.k == string(bk) || (e.k < string(bk)) != back):
			ov.next(e.k)
			if bk != nil && e.k == string(bk) {
				bk, bv = step()
			}
			if e.v == nil {
				continue
			}
			k, v = []byte(e.k), e.v
		default:
			k, v = bk, bv
			bk, bv = step()
		}
		if more, err := fn(k, v); err != nil || !more {
			return err
		}
	}
}

// count is the number of keys in bucket.
func (t *Tx) count(bucket string) (int, error) {
	b, err := t.bucket(bucket)
	if err != nil {
		return 0, err
	}
	n := b.Stats().KeyN
	ov := t.overlay(bucket, nil, false)
	for e, ok := ov.peek(); ok; e, ok = ov.peek() {
		ov.next(e.k)
		in := b.Get([]byte(e.k)) != nil
		switch {
		case e.v == nil && in:
			n--
		case e.v != nil && !in:
			n++
		}
	}
	return n, nil
}
