package journal

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func open(t *testing.T, path string) *Journal {
	t.Helper()
	j, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func TestOutboxOrderAndAckSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.db")
	j := open(t, path)
	for i := 0; i < 5; i++ {
		if err := j.Update(func(tx *Tx) error { _, err := tx.Enqueue(map[string]int{"n": i}); return err }); err != nil {
			t.Fatal(err)
		}
	}
	p, _ := j.Pending(2)
	if len(p) != 2 || string(p[0].Data) != `{"n":0}` || string(p[1].Data) != `{"n":1}` {
		t.Fatalf("pending %v", p)
	}
	if err := j.Ack(p[0].Seq); err != nil {
		t.Fatal(err)
	}
	j.Close()

	j = open(t, path)
	defer j.Close()
	p, _ = j.Pending(10)
	if len(p) != 4 || string(p[0].Data) != `{"n":1}` || string(p[3].Data) != `{"n":4}` {
		t.Fatalf("after reopen: %v", p)
	}
	if n, _ := j.OutboxLen(); n != 4 {
		t.Fatalf("OutboxLen = %d", n)
	}
	// Sequence numbers keep growing after a reopen: order is never reused.
	j.Update(func(tx *Tx) error { _, err := tx.Enqueue("x"); return err })
	p, _ = j.Pending(10)
	if p[len(p)-1].Seq <= p[len(p)-2].Seq {
		t.Fatalf("sequence went back: %v", p)
	}
}

func TestRollbackKeepsNothing(t *testing.T) {
	j := open(t, filepath.Join(t.TempDir(), "j.db"))
	defer j.Close()
	boom := errors.New("boom")
	err := j.Update(func(tx *Tx) error {
		tx.Put(Seen, "a", map[string]int64{"at": 1})
		tx.Enqueue("e")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	var v map[string]int64
	j.View(func(tx *Tx) error {
		ok, _ := tx.Get(Seen, "a", &v)
		if ok {
			t.Error("rolled-back record is there")
		}
		return nil
	})
	if n, _ := j.OutboxLen(); n != 0 {
		t.Fatalf("rolled-back outbox entry is there: %d", n)
	}
}

func TestPrune(t *testing.T) {
	j := open(t, filepath.Join(t.TempDir(), "j.db"))
	defer j.Close()
	now := time.Unix(1_000_000, 0)
	j.Update(func(tx *Tx) error {
		tx.Put(Seen, "old", map[string]int64{"at": now.Add(-49 * time.Hour).Unix()})
		tx.Put(Seen, "new", map[string]int64{"at": now.Add(-47 * time.Hour).Unix()})
		tx.Put(Seen, "timeless", map[string]string{"x": "y"})
		return nil
	})
	n, err := j.Prune(Seen, now.Add(-48*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("pruned %d, %v", n, err)
	}
	var keys []string
	j.View(func(tx *Tx) error {
		return tx.ForEach(Seen, func(k string, _ []byte) error { keys = append(keys, k); return nil })
	})
	if len(keys) != 2 || keys[0] != "new" || keys[1] != "timeless" {
		t.Fatalf("left %v", keys)
	}
}

func TestFileModeAndLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "j.db")
	j := open(t, path)
	defer j.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	if _, err := Open(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
}

// owed is a record that says whether it is open (an Opener).
type owed struct {
	At   int64 `json:"at"`
	Done bool  `json:"done"`
}

func (o owed) Open() bool { return !o.Done }

// The open index follows Put, Delete and Prune in the same transaction,
// bucket by bucket; a rolled-back Put leaves no entry.
func TestOpenKeys(t *testing.T) {
	j := open(t, filepath.Join(t.TempDir(), "j.db"))
	defer j.Close()
	now := time.Unix(1_000_000, 0)
	old, fresh := now.Add(-49*time.Hour).Unix(), now.Unix()
	j.Update(func(tx *Tx) error {
		tx.Put(Notify, "a", owed{At: fresh})
		tx.Put(Notify, "b", owed{At: fresh})
		tx.Put(Notify, "c", owed{At: old})
		tx.Put(Notify, "d", owed{At: fresh, Done: true})
		tx.Put(Speech, "a", owed{At: fresh}) // same key, another bucket
		tx.Put(Seen, "x", map[string]int64{"at": fresh})
		return nil
	})
	j.Update(func(tx *Tx) error {
		tx.Put(Notify, "rolled", owed{At: fresh})
		return errors.New("roll back")
	})
	keys := func(bucket string) (ks []string) {
		j.View(func(tx *Tx) error {
			return tx.OpenKeys(bucket, func(k string) error { ks = append(ks, k); return nil })
		})
		return ks
	}
	if got := keys(Notify); len(got) != 3 || got[0] != "a" || got[1] != "b" || got[2] != "c" {
		t.Fatalf("open notify %v, want a b c", got)
	}
	j.Update(func(tx *Tx) error {
		tx.Put(Notify, "a", owed{At: fresh, Done: true}) // done: out
		return tx.Delete(Notify, "b")                    // gone: out
	})
	if n, err := j.Prune(Notify, now.Add(-48*time.Hour)); err != nil || n != 1 {
		t.Fatalf("pruned %d, %v", n, err)
	}
	if got := keys(Notify); len(got) != 0 {
		t.Fatalf("open notify after done, delete and prune: %v", got)
	}
	if got := keys(Speech); len(got) != 1 || got[0] != "a" {
		t.Fatalf("open speech %v", got)
	}
	if got := keys(Seen); len(got) != 0 {
		t.Fatalf("a record that is no Opener is not indexed: %v", got)
	}
}

// Prune finds what is old through ByAt: a record written again under a
// newer "at" stays, and the records of a journal made before ByAt are
// filed at its next Open.
func TestPruneByAt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.db")
	j := open(t, path)
	now := time.Unix(1_000_000, 0)
	at := func(d time.Duration) map[string]int64 { return map[string]int64{"at": now.Add(d).Unix()} }
	j.Update(func(tx *Tx) error {
		tx.Put(Notify, "old", at(-8*24*time.Hour))
		tx.Put(Notify, "renewed", at(-8*24*time.Hour))
		tx.Put(Notify, "new", at(-time.Hour))
		return nil
	})
	j.Update(func(tx *Tx) error { return tx.Put(Notify, "renewed", at(-time.Minute)) })
	// A journal from before ByAt: its entries and mark gone.
	j.Checkpoint()
	j.db.Update(func(tx *bolt.Tx) error {
		tx.Bucket([]byte(Meta)).Delete([]byte("journal.by_at"))
		tx.DeleteBucket([]byte(ByAt))
		_, err := tx.CreateBucket([]byte(ByAt))
		return err
	})
	j.Update(func(tx *Tx) error { return tx.PutRaw(Print, "old-job", []byte(`{"at":1}`)) }) // filed by PutRaw
	if n, _ := j.Prune(Notify, now.Add(-7*24*time.Hour)); n != 0 {
		t.Fatalf("pruned %d with nothing filed", n)
	}
	j.Close()
	j = open(t, path) // files the records again
	defer j.Close()
	if n, err := j.Prune(Notify, now.Add(-7*24*time.Hour)); err != nil || n != 1 {
		t.Fatalf("pruned %d, %v; want 1 (old)", n, err)
	}
	if n, err := j.Prune(Print, now); err != nil || n != 1 {
		t.Fatalf("print pruned %d, %v", n, err)
	}
	var keys []string
	j.View(func(tx *Tx) error {
		return tx.ForEach(Notify, func(k string, _ []byte) error { keys = append(keys, k); return nil })
	})
	if len(keys) != 2 || keys[0] != "new" || keys[1] != "renewed" {
		t.Fatalf("left %v", keys)
	}
	var entries int
	j.View(func(tx *Tx) error {
		return tx.ForEach(ByAt, func(string, []byte) error { entries++; return nil })
	})
	if entries != 2 {
		t.Fatalf("%d ByAt entries left, want 2 (one a record)", entries)
	}
}

// An acknowledged entry leaves Pending at once, is deleted by the next
// commit whatever it is for (no commit of its own), and, when the process
// dies before any commit, is still in the file: sent again (at least once).
func TestAckLaterRidesOnTheNextCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.db")
	j := open(t, path)
	for i := range 3 {
		if err := j.Update(func(tx *Tx) error { _, err := tx.Enqueue(i); return err }); err != nil {
			t.Fatal(err)
		}
	}
	p, _ := j.Pending(10)
	j.AckLater([]uint64{p[0].Seq, p[1].Seq})
	if q, _ := j.Pending(10); len(q) != 1 || q[0].Seq != p[2].Seq {
		t.Fatalf("pending after AckLater: %v", q)
	}
	if n, _ := j.OutboxLen(); n != 1 {
		t.Fatalf("OutboxLen = %d, want 1", n)
	}
	// Not yet deleted: a second handle on the file (what a restart after
	// a crash reads) still has all three.
	stored := func() int {
		n := 0
		j.View(func(tx *Tx) error { n, _ = tx.count(Outbox); return nil })
		return n
	}
	if n := stored(); n != 3 {
		t.Fatalf("stored before a commit: %d, want 3", n)
	}
	c := j.Commits()
	if err := j.Update(func(tx *Tx) error { return tx.Put(Meta, "other", 1) }); err != nil {
		t.Fatal(err)
	}
	if n := stored(); n != 1 || j.Acked() != 0 || j.Commits() != c+1 {
		t.Fatalf("after an unrelated commit: stored %d, acked %d, commits +%d", n, j.Acked(), j.Commits()-c)
	}
	// A failed transaction deletes nothing and keeps the acks for the next.
	j.AckLater([]uint64{p[2].Seq})
	j.Update(func(tx *Tx) error { return errors.New("no") })
	if n := stored(); n != 1 || j.Acked() != 1 {
		t.Fatalf("after a rolled-back commit: stored %d, acked %d", n, j.Acked())
	}
	j.Close() // flushes
	j = open(t, path)
	defer j.Close()
	if n, _ := j.OutboxLen(); n != 0 {
		t.Fatalf("after Close and reopen: OutboxLen %d", n)
	}
}

// Enqueued tells a commit that put an event in the outbox from one that
// did not: the sender is woken only for the first.
func TestEnqueued(t *testing.T) {
	j := open(t, filepath.Join(t.TempDir(), "j.db"))
	for _, tc := range []struct {
		name string
		fn   func(*Tx) error
		want bool
	}{
		{"a record only", func(tx *Tx) error { return tx.Put(Meta, "k", 1) }, false},
		{"nothing", func(*Tx) error { return nil }, false},
		{"an event", func(tx *Tx) error { _, err := tx.Enqueue("e"); return err }, true},
		{"a record and an event", func(tx *Tx) error {
			if err := tx.Put(Meta, "k", 2); err != nil {
				return err
			}
			_, err := tx.Enqueue("e")
			return err
		}, true},
	} {
		var got bool
		if err := j.Update(func(tx *Tx) error {
			err := tc.fn(tx)
			got = tx.Enqueued()
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("%s: Enqueued %v, want %v", tc.name, got, tc.want)
		}
	}
}
