package journal

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// smallLog makes the logs of the test's journals small, so that they fill
// and checkpoint often.
func smallLog(t *testing.T) {
	old := LogSize
	LogSize = minLogSize
	t.Cleanup(func() { LogSize = old })
}

// crash leaves j as a killed process does: what it wrote is in the files,
// nothing more (no checkpoint, no clean mark).
func crash(t testing.TB, j *Journal) {
	t.Helper()
	if err := j.closeFiles(); err != nil {
		t.Fatal(err)
	}
}

// model is what the journal must hold: bucket → key → value.
type model map[string]map[string]string

func (m model) contents(bucket string) []string {
	var out []string
	for k, v := range m[bucket] {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

func contents(t *testing.T, j *Journal, bucket string) []string {
	t.Helper()
	var out []string
	if err := j.View(func(tx *Tx) error {
		return tx.ForEach(bucket, func(k string, v []byte) error {
			out = append(out, k+"="+string(v))
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// Random transactions, random crashes and clean closes, a log small enough
// to fill every few commits and transactions too big for it: after each
// commit and each reopen the journal holds exactly what was committed,
// read whole, by Seek windows forwards and backwards, and by Get.
func TestLogKeepsEveryCommit(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { logKeepsEveryCommit(t, seed) })
	}
}

func logKeepsEveryCommit(t *testing.T, seed uint64) {
	smallLog(t)
	path := filepath.Join(t.TempDir(), "j.db")
	j := open(t, path)
	defer func() { j.Close() }()
	rng := rand.New(rand.NewPCG(seed, 2))
	want := model{Meta: {}, Notify: {}, Orders: {}}
	names := []string{Meta, Notify, Orders}
	want[Meta][LogKey] = "" // the log's own record: not compared
	check := func(when string) {
		t.Helper()
		for _, b := range []string{Notify, Orders} {
			if got, w := contents(t, j, b), want.contents(b); !slices.Equal(got, w) {
				t.Fatalf("%s: %s holds\n%v\nwant\n%v", when, b, got, w)
			}
			keys := slices.Sorted(func(yield func(string) bool) {
				for k := range want[b] {
					if !yield(k) {
						return
					}
				}
			})
			from := fmt.Sprintf("k%03d", rng.IntN(60))
			var fwd, back []string
			j.View(func(tx *Tx) error {
				tx.Seek(b, from, func(k string, _ []byte) (bool, error) { fwd = append(fwd, k); return len(fwd) < 5, nil })
				tx.SeekLast(b, from, func(k string, _ []byte) (bool, error) { back = append(back, k); return len(back) < 5, nil })
				return nil
			})
			var wf, wb []string
			for _, k := range keys {
				if k >= from && len(wf) < 5 {
					wf = append(wf, k)
				}
			}
			for i := len(keys) - 1; i >= 0 && len(wb) < 5; i-- {
				if keys[i] < from {
					wb = append(wb, keys[i])
				}
			}
			if !slices.Equal(fwd, wf) || !slices.Equal(back, wb) {
				t.Fatalf("%s: %s from %s: forwards %v want %v, backwards %v want %v", when, b, from, fwd, wf, back, wb)
			}
		}
	}
	var checkpoints uint64
	for step := range 600 {
		// A transaction: puts and deletes, sometimes many, sometimes
		// rolled back.
		n := 1 + rng.IntN(6)
		if rng.IntN(40) == 0 {
			n = 300 // more than the log holds
		}
		rollback := rng.IntN(10) == 0
		staged := model{Meta: {}, Notify: {}, Orders: {}}
		gone := map[string]map[string]bool{Meta: {}, Notify: {}, Orders: {}}
		err := j.Update(func(tx *Tx) error {
			for i := range n {
				b := names[1+rng.IntN(2)]
				k := fmt.Sprintf("k%03d", rng.IntN(60))
				if rng.IntN(3) == 0 {
					if err := tx.Delete(b, k); err != nil {
						return err
					}
					delete(staged[b], k)
					gone[b][k] = true
					continue
				}
				v := fmt.Sprintf("%d.%d.%s", step, i, bytes.Repeat([]byte("x"), rng.IntN(200)))
				if err := tx.Put(b, k, v); err != nil {
					return err
				}
				// A transaction reads its own writes.
				var got string
				if ok, err := tx.Get(b, k, &got); !ok || err != nil || got != v {
					return fmt.Errorf("read back %q, %v, %v", got, ok, err)
				}
				staged[b][k] = fmt.Sprintf("%q", v)
				delete(gone[b], k)
			}
			if rollback {
				return errors.New("rolled back")
			}
			return nil
		})
		if rollback != (err != nil) {
			t.Fatalf("step %d: %v", step, err)
		}
		if !rollback {
			for b, ks := range gone {
				for k := range ks {
					delete(want[b], k)
				}
			}
			for b, kv := range staged {
				for k, v := range kv {
					want[b][k] = v
				}
			}
		}
		check(fmt.Sprintf("step %d", step))
		checkpoints += j.Checkpoints()
		switch rng.IntN(25) {
		case 0:
			crash(t, j)
			j = open(t, path)
			check(fmt.Sprintf("step %d, after a crash", step))
		case 1:
			j.Close()
			j = open(t, path)
			check(fmt.Sprintf("step %d, after a close", step))
		default:
			checkpoints -= j.Checkpoints()
		}
	}
	if checkpoints+j.Checkpoints() == 0 {
		t.Fatal("the log never filled: the test proves nothing of checkpoints")
	}
}

// A record torn by a crash while it was written (its bytes not all on
// disk) ends the log: the commits before it are there, it is not, and
// nothing after it is read.
func TestLogTornRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.db")
	j := open(t, path)
	var last int64 // where the last record begins
	for i, k := range []string{"a", "b", "c"} {
		last = j.log.off
		if err := j.Update(func(tx *Tx) error { return tx.Put(Meta, k, i) }); err != nil {
			t.Fatal(err)
		}
	}
	if last%logBlock != 0 || j.log.off-last != logBlock {
		t.Fatalf("a small record at %d..%d: not a block of its own", last, j.log.off)
	}
	crash(t, j)
	// Tear the last record: its body never reached the disk whole.
	flip(path+LogSuffix, last+recHeader)
	j = open(t, path)
	defer j.Close()
	got := map[string]bool{}
	for _, k := range []string{"a", "b", "c"} {
		var v int
		ok, _ := getOne(j, k, &v)
		got[k] = ok
	}
	if !got["a"] || !got["b"] || got["c"] {
		t.Fatalf("after a torn last record: %v, want a and b", got)
	}
}

func getOne(j *Journal, key string, v any) (ok bool, err error) {
	err = j.View(func(tx *Tx) error {
		ok, err = tx.Get(Meta, key, v)
		return err
	})
	return ok, err
}

// The log of another journal file (a card from another device, a journal
// moved aside) is never replayed into this one: its salt is not this
// journal's.
func TestLogOfAnotherJournalIgnored(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")
	ja := open(t, a)
	ja.Update(func(tx *Tx) error { return tx.Put(Meta, "from-a", 1) })
	crash(t, ja)
	jb := open(t, b)
	jb.Close()
	data, err := os.ReadFile(a + LogSuffix)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(b+LogSuffix, data, 0o600)
	jb = open(t, b)
	defer jb.Close()
	if ok, _ := getOne(jb, "from-a", new(int)); ok {
		t.Fatal("another journal's log was replayed")
	}
	ja = open(t, a)
	defer ja.Close()
	if ok, _ := getOne(ja, "from-a", new(int)); !ok {
		t.Fatal("the journal's own log was not replayed")
	}
}

// A journal whose log cannot be made works without it: each commit a
// bbolt commit, as durable.
func TestNoLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.db")
	// The log is made beside it, then renamed into place: a directory
	// where it is made, and none can be.
	if err := os.Mkdir(path+LogSuffix+".new", 0o700); err != nil {
		t.Fatal(err)
	}
	j := open(t, path)
	if j.LogError() == "" {
		t.Fatal("a log was made over a directory")
	}
	s := j.Syncs()
	if err := j.Update(func(tx *Tx) error { return tx.Put(Meta, "k", 1) }); err != nil {
		t.Fatal(err)
	}
	if d := j.Syncs() - s; d != 2 {
		t.Fatalf("a commit without a log made %d syncs, want bbolt's 2", d)
	}
	crash(t, j)
	j = open(t, path)
	defer j.Close()
	if ok, _ := getOne(j, "k", new(int)); !ok {
		t.Fatal("a commit without a log was lost")
	}
	// A log that is there and cannot be read is no journal to run on.
	other := filepath.Join(t.TempDir(), "o.db")
	os.Mkdir(other+LogSuffix, 0o700)
	if o, err := Open(other); err == nil {
		o.Close()
		t.Fatal("opened with its log a directory")
	}
}

// With a log a commit is one sync.
func TestLogCommitIsOneSync(t *testing.T) {
	j := open(t, filepath.Join(t.TempDir(), "j.db"))
	defer j.Close()
	s := j.Syncs()
	for i := range 10 {
		if err := j.Update(func(tx *Tx) error { return tx.Put(Meta, "k", i) }); err != nil {
			t.Fatal(err)
		}
	}
	if d := j.Syncs() - s; d != 10 {
		t.Fatalf("10 commits made %d syncs", d)
	}
	// A transaction that changes nothing commits nothing.
	j.Update(func(tx *Tx) error { return tx.Put(Meta, "k", 9) })
	if d := j.Syncs() - s; d != 10 {
		t.Fatalf("an unchanged put made a sync")
	}
}

// A reader sees one commit whole, however many commits and checkpoints
// happen while it reads: two keys always written together always agree.
func TestViewIsASnapshot(t *testing.T) {
	smallLog(t)
	j := open(t, filepath.Join(t.TempDir(), "j.db"))
	defer j.Close()
	pad := string(bytes.Repeat([]byte("p"), 500))
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				err := j.View(func(tx *Tx) error {
					var a, b string
					tx.Get(Notify, "a", &a)
					for range 50 { // long enough for commits to pass it
						tx.ForEach(Orders, func(string, []byte) error { return nil })
					}
					tx.Get(Notify, "b", &b)
					if a != b {
						return fmt.Errorf("a %.12q and b %.12q", a, b)
					}
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := range 300 {
		v := fmt.Sprint(i, pad)
		if err := j.Update(func(tx *Tx) error {
			if err := tx.Put(Notify, "a", v); err != nil {
				return err
			}
			return tx.Put(Notify, "b", v)
		}); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if j.Checkpoints() == 0 {
		t.Fatal("no checkpoint while reading")
	}
}

// The records a checkpoint folded in stay in the log file behind the
// newer ones until they are written over: they are never replayed again
// (a value they hold may have changed since). A transaction too big for
// the log is a checkpoint of its own, leaving the whole log behind it.
func TestLogOldGenerationNotReplayed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.db")
	j := open(t, path)
	for i := range 3 {
		if err := j.Update(func(tx *Tx) error { return tx.Put(Meta, "k", i) }); err != nil {
			t.Fatal(err)
		}
	}
	big := string(bytes.Repeat([]byte("b"), int(j.log.size)))
	c := j.Checkpoints()
	if err := j.Update(func(tx *Tx) error {
		if err := tx.Put(Meta, "k", 100); err != nil {
			return err
		}
		return tx.Put(Meta, "big", big)
	}); err != nil {
		t.Fatal(err)
	}
	if j.Checkpoints() != c+1 {
		t.Fatal("a transaction bigger than the log did not checkpoint")
	}
	crash(t, j)
	j = open(t, path)
	defer j.Close()
	var k int
	if ok, err := getOne(j, "k", &k); !ok || err != nil || k != 100 {
		t.Fatalf("k = %d (%v, %v) after a crash, want 100: an old record was replayed", k, ok, err)
	}
}

// A transaction's scans merge its own writes, the log's and the bbolt
// file's, either way, a write over a delete over a value.
func TestTxScansThroughEveryLayer(t *testing.T) {
	j := open(t, filepath.Join(t.TempDir(), "j.db"))
	defer j.Close()
	put := func(tx *Tx, k, v string) {
		if err := tx.Put(Orders, k, v); err != nil {
			t.Fatal(err)
		}
	}
	j.Update(func(tx *Tx) error {
		put(tx, "a", "1")
		put(tx, "c", "1")
		put(tx, "e", "1")
		put(tx, "g", "1")
		return nil
	})
	j.Checkpoint() // in bbolt
	j.Update(func(tx *Tx) error { put(tx, "b", "2"); put(tx, "g", "2"); return tx.Delete(Orders, "c") })
	var fwd, back, from []string
	j.Update(func(tx *Tx) error {
		put(tx, "a", "3")
		put(tx, "d", "3")
		put(tx, "c", "3") // over the log's delete
		if err := tx.Delete(Orders, "e"); err != nil {
			return err
		}
		tx.ForEach(Orders, func(k string, v []byte) error { fwd = append(fwd, k+string(v)); return nil })
		tx.SeekLast(Orders, "", func(k string, v []byte) (bool, error) { back = append(back, k+string(v)); return true, nil })
		tx.SeekLast(Orders, "d", func(k string, v []byte) (bool, error) { from = append(from, k+string(v)); return true, nil })
		return nil
	})
	want := []string{`a"3"`, `b"2"`, `c"3"`, `d"3"`, `g"2"`}
	if !slices.Equal(fwd, want) {
		t.Fatalf("forwards %v, want %v", fwd, want)
	}
	slices.Reverse(want)
	if !slices.Equal(back, want) {
		t.Fatalf("backwards %v, want %v", back, want)
	}
	if !slices.Equal(from, []string{`c"3"`, `b"2"`, `a"3"`}) {
		t.Fatalf("backwards before d: %v", from)
	}
	if n, _ := func() (n int, err error) {
		err = j.View(func(tx *Tx) error { n, err = tx.count(Orders); return err })
		return
	}(); n != 5 {
		t.Fatalf("count %d, want 5", n)
	}
}

// mergeKeys, on its shared-array paths and its copying one: the result is
// sorted old + added - removed, and a list given out before is never
// changed by a later merge.
func TestMergeKeys(t *testing.T) {
	for _, c := range []struct {
		old, added, removed, want []string
	}{
		{nil, []string{"b", "a"}, nil, []string{"a", "b"}},
		{[]string{"a", "b"}, []string{"c"}, nil, []string{"a", "b", "c"}},                          // appended
		{[]string{"a", "b", "c"}, []string{"d"}, []string{"a"}, []string{"b", "c", "d"}},           // sliced and appended
		{[]string{"a", "b", "c"}, nil, []string{"b", "a"}, []string{"c"}},                          // sliced
		{[]string{"a", "c", "e"}, []string{"d", "b"}, []string{"e"}, []string{"a", "b", "c", "d"}}, // copied
		{[]string{"a", "c"}, []string{"b"}, []string{"c"}, []string{"a", "b"}},
	} {
		if got := mergeKeys(slices.Clone(c.old), slices.Clone(c.added), slices.Clone(c.removed)); !slices.Equal(got, c.want) {
			t.Errorf("mergeKeys(%v, +%v, -%v) = %v, want %v", c.old, c.added, c.removed, got, c.want)
		}
	}
	l1 := mergeKeys(nil, []string{"a", "b"}, nil)
	l2 := mergeKeys(l1, []string{"c"}, []string{"a"})
	held := slices.Clone(l2)
	l3 := mergeKeys(l2, []string{"d"}, nil)
	_ = mergeKeys(l3, []string{"bb"}, []string{"b"})
	if !slices.Equal(l1, []string{"a", "b"}) || !slices.Equal(l2, held) || !slices.Equal(l3, []string{"b", "c", "d"}) {
		t.Fatalf("a list given out changed: %v %v %v", l1, l2, l3)
	}
}

// The log as the storage leaves it: whatever its bytes, a start after a
// crash opens (the journal sound or lost, never an error, a panic or a
// fault), and what it replays decodes.
func FuzzLog(f *testing.F) {
	src := f.TempDir()
	o, err := OpenDir(src, t0)
	if err != nil {
		f.Fatal(err)
	}
	for i := range 3 {
		o.Update(func(tx *Tx) error { return tx.Put(Seen, fmt.Sprintf("jti-%d", i), map[string]any{"at": t0.Unix()}) })
	}
	end := o.log.off
	crash(f, o.Journal)
	db, _ := os.ReadFile(filepath.Join(src, FileName))
	id, _ := os.ReadFile(filepath.Join(src, IdentityFile))
	log, _ := os.ReadFile(filepath.Join(src, FileName+LogSuffix))
	f.Add(log[:end])
	f.Add(log[:end-1])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		d := t.TempDir()
		os.WriteFile(filepath.Join(d, FileName), db, 0o600)
		os.WriteFile(filepath.Join(d, IdentityFile), id, 0o600)
		full := make([]byte, len(log)) // the size on record: its records are read
		copy(full, b)
		os.WriteFile(filepath.Join(d, FileName+LogSuffix), full, 0o600)
		o, err := OpenDir(d, t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		o.Close()
	})
}

// FuzzDecodeOps: any bytes are ops or a clear error.
func FuzzDecodeOps(f *testing.F) {
	w := newWrites()
	w.set(Meta, "k", []byte("v"))
	w.set(Seen, "gone", nil)
	w.seq[Outbox] = 7
	f.Add(encodeOps(w))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := decodeOps(b, func(o op) error {
			if o.kind != opPut && o.kind != opDel && o.kind != opSeq {
				t.Fatalf("op kind %d passed", o.kind)
			}
			return nil
		})
		if err == nil && len(b) > 0 && n == 0 {
			t.Fatal("bytes decoded to no op without an error")
		}
	})
}
