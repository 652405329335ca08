package journal

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)

// filled makes a data dir whose journal holds n orders, closed.
func filled(t testing.TB, n int) (dir string, id Identity) {
	t.Helper()
	dir = t.TempDir()
	o, err := OpenDir(dir, t0)
	if err != nil || !o.First || o.Lost != nil {
		t.Fatalf("first start: %+v %v", o, err)
	}
	err = o.Update(func(tx *Tx) error {
		for i := 0; i < n; i++ {
			if err := tx.Put(Orders, fmt.Sprintf("P%06d", i), map[string]any{"out_trade_no": fmt.Sprintf("P%06d", i), "amount": 100 + i, "desc": strings.Repeat("x", 200)}); err != nil {
				return err
			}
		}
		return tx.Put(Seen, "jti-1", map[string]any{"at": t0.Unix()})
	})
	if err != nil {
		t.Fatal(err)
	}
	o.Close()
	return dir, o.Identity
}

func sum(t *testing.T, path string) [32]byte {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// Every way the journal can be lost or damaged is told from a first
// start: the file is kept aside untouched, a new journal records the loss,
// and nothing faults or panics.
func TestOpenDirTellsLossFromFirstStart(t *testing.T) {
	later := t0.Add(time.Hour)
	for _, c := range []struct {
		name  string
		harm  func(t *testing.T, dir string)
		cause string // "" : the journal is used as it is
	}{
		{"nothing wrong", func(*testing.T, string) {}, ""},
		{"identity file lost", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, IdentityFile)) }, ""},
		{"zero length", func(t *testing.T, dir string) { os.Truncate(filepath.Join(dir, FileName), 0) }, "damaged"},
		{"zero length, no identity file", func(t *testing.T, dir string) {
			os.Truncate(filepath.Join(dir, FileName), 0)
			os.Remove(filepath.Join(dir, IdentityFile))
		}, "damaged"},
		{"truncated to half", func(t *testing.T, dir string) {
			p := filepath.Join(dir, FileName)
			fi, _ := os.Stat(p)
			os.Truncate(p, fi.Size()/2)
		}, "damaged"},
		{"truncated to one page", func(t *testing.T, dir string) { os.Truncate(filepath.Join(dir, FileName), 4096) }, "damaged"},
		{"garbage over both meta pages", func(t *testing.T, dir string) {
			f, _ := os.OpenFile(filepath.Join(dir, FileName), os.O_WRONLY, 0)
			f.WriteAt(bytes.Repeat([]byte{0xA5}, 8192), 0)
			f.Close()
		}, "damaged"},
		{"missing", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, FileName)) }, "missing"},
		{"another journal", func(t *testing.T, dir string) {
			other, _ := filled(t, 3)
			b, _ := os.ReadFile(filepath.Join(other, FileName))
			os.WriteFile(filepath.Join(dir, FileName), b, 0o600)
		}, "replaced"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir, id := filled(t, 300)
			c.harm(t, dir)
			path := filepath.Join(dir, FileName)
			var before [32]byte
			if _, err := os.Stat(path); err == nil {
				before = sum(t, path)
			}
			o, err := OpenDir(dir, later)
			if err != nil {
				t.Fatal(err)
			}
			defer o.Close()
			if o.First {
				t.Fatal("taken for a first start")
			}
			if c.cause == "" {
				if o.Lost != nil || o.Identity != id {
					t.Fatalf("a sound journal: lost %+v, identity %+v (was %+v)", o.Lost, o.Identity, id)
				}
				var n int
				o.View(func(tx *Tx) error { return tx.ForEach(Orders, func(string, []byte) error { n++; return nil }) })
				if n != 300 {
					t.Fatalf("%d orders", n)
				}
				if got, ok, _ := readIdentity(filepath.Join(dir, IdentityFile)); !ok || got != id {
					t.Fatalf("identity file %+v %v", got, ok)
				}
				return
			}
			if o.Lost == nil || o.Lost.Cause != c.cause || o.Lost.At != later.UnixMilli() || o.Identity.ID == id.ID || !o.Identity.Created().Equal(later) {
				t.Fatalf("lost %+v, identity %+v", o.Lost, o.Identity)
			}
			if rec, err := o.LostRecord(); err != nil || rec == nil || *rec != *o.Lost {
				t.Fatalf("the new journal's loss record: %+v %v", rec, err)
			}
			if c.cause != "missing" {
				if !strings.HasPrefix(o.Lost.Kept, path+".lost-") || sum(t, o.Lost.Kept) != before {
					t.Fatalf("the lost file is not kept aside untouched: %q", o.Lost.Kept)
				}
			}
			var n int
			o.View(func(tx *Tx) error { return tx.ForEach(Orders, func(string, []byte) error { n++; return nil }) })
			if n != 0 {
				t.Fatalf("the new journal has %d orders", n)
			}
			// A restart keeps the new journal and its loss record.
			o.Close()
			again, err := OpenDir(dir, later.Add(time.Minute))
			if err != nil || again.Lost != nil || again.Identity != o.Identity {
				t.Fatalf("restart after the loss: %+v %v", again, err)
			}
			if rec, _ := again.LostRecord(); rec == nil || rec.Cause != c.cause {
				t.Fatalf("the loss record after a restart: %+v", rec)
			}
			o.Journal = again.Journal
		})
	}
}

// A journal from before identities is adopted, not lost.
func TestOpenDirAdoptsOldJournal(t *testing.T) {
	dir := t.TempDir()
	j := open(t, filepath.Join(dir, FileName))
	j.Update(func(tx *Tx) error { return tx.Put(Orders, "P1", map[string]int{"amount": 1}) })
	j.Close()
	o, err := OpenDir(dir, t0)
	if err != nil || o.First || o.Lost != nil || o.Identity.ID == "" {
		t.Fatalf("%+v %v", o, err)
	}
	defer o.Close()
	var ok bool
	o.View(func(tx *Tx) error { ok, err = tx.Get(Orders, "P1", &struct{}{}); return err })
	if !ok {
		t.Fatal("the old journal's order is gone")
	}
}

// Garbage over any one page never crashes the open: the journal opens
// (the page is not read at open) or is found damaged and kept aside.
func TestOpenDirSurvivesGarbageOnAnyPage(t *testing.T) {
	dir, _ := filled(t, 300)
	b, _ := os.ReadFile(filepath.Join(dir, FileName))
	pages := len(b) / 4096
	damaged := 0
	for pg := 0; pg < pages; pg++ {
		d := t.TempDir()
		bad := bytes.Clone(b)
		for i := pg * 4096; i < (pg+1)*4096; i++ {
			bad[i] = byte(i*7 + pg)
		}
		os.WriteFile(filepath.Join(d, FileName), bad, 0o600)
		os.WriteFile(filepath.Join(d, IdentityFile), mustRead(t, filepath.Join(dir, IdentityFile)), 0o600)
		o, err := OpenDir(d, t0.Add(time.Hour))
		if err != nil {
			t.Fatalf("page %d: %v", pg, err)
		}
		if o.Lost != nil {
			damaged++
		} else {
			// Taken as sound: every record reads (the page was free).
			var n int
			o.View(func(tx *Tx) error { return tx.ForEach(Orders, func(string, []byte) error { n++; return nil }) })
			// A torn meta page is bbolt's own recovery: the other
			// (previous commit's) meta is used, as after a power cut
			// mid-commit.
			if n != 300 && pg > 1 {
				t.Fatalf("page %d: taken as sound, %d orders read", pg, n)
			}
		}
		o.Close()
	}
	t.Logf("%d pages: garbage on %d found at open", pages, damaged)
	if damaged*2 < pages {
		t.Fatalf("garbage found on %d of %d pages", damaged, pages)
	}
}

func mustRead(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Salvage copies what a truncated journal still holds into a new file and
// leaves the damaged one as it was.
func TestSalvage(t *testing.T) {
	dir, _ := filled(t, 2000)
	path := filepath.Join(dir, FileName)
	fi, _ := os.Stat(path)
	os.Truncate(path, fi.Size()*2/3)
	before := sum(t, path)
	dst := filepath.Join(t.TempDir(), "salvaged.db")
	res, err := Salvage(path, dst)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("salvaged %v, lost %v", res.Copied, res.Lost)
	if sum(t, path) != before {
		t.Fatal("salvage changed the damaged file")
	}
	if res.Copied[Orders] == 0 || res.Copied[Orders] > 2000 {
		t.Fatalf("copied %d orders", res.Copied[Orders])
	}
	j := open(t, dst)
	defer j.Close()
	var n int
	j.View(func(tx *Tx) error { return tx.ForEach(Orders, func(string, []byte) error { n++; return nil }) })
	if n != res.Copied[Orders] {
		t.Fatalf("the salvaged file has %d orders, %d said", n, res.Copied[Orders])
	}
	if _, err := Salvage(path, dst); err == nil {
		t.Fatal("salvage over an existing file")
	}
}

// FuzzOpenDir: whatever bytes the journal file holds, opening it never
// panics nor faults, and what it cannot use is kept aside.
func FuzzOpenDir(f *testing.F) {
	dir, _ := filled(f, 5)
	good, _ := os.ReadFile(filepath.Join(dir, FileName))
	f.Add(good[:8192])
	f.Add(good)
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0}, 4096))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<20 {
			return
		}
		d := t.TempDir()
		os.WriteFile(filepath.Join(d, FileName), b, 0o600)
		o, err := OpenDir(d, t0)
		if err != nil {
			t.Fatalf("%d bytes: %v", len(b), err)
		}
		o.Close()
	})
}

// Bytes flipped at random over a journal of 300 orders (a failing card),
// 400 times: the open never faults, panics or runs out of memory (a
// flipped branch pointer makes a cycle bbolt's cursor would descend
// forever), and a journal taken as sound reads in full without a panic.
func TestOpenDirSurvivesRandomDamage(t *testing.T) {
	dir, _ := filled(t, 300)
	good := mustRead(t, filepath.Join(dir, FileName))
	rng := rand.New(rand.NewPCG(seedA(), 14))
	lost := 0
	for i := 0; i < rounds(); i++ {
		b := bytes.Clone(good)
		for k := 0; k < 1+rng.IntN(8); k++ {
			b[rng.IntN(len(b))] = byte(rng.IntN(256))
		}
		d := t.TempDir()
		os.WriteFile(filepath.Join(d, FileName), b, 0o600)
		o, err := OpenDir(d, t0)
		if err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		if o.Lost != nil {
			lost++
		} else {
			o.View(func(tx *Tx) error {
				for _, bk := range buckets {
					tx.ForEach(bk, func(string, []byte) error { return nil })
				}
				return nil
			})
		}
		o.Close()
	}
	t.Logf("%d damaged journals: %d found damaged at open, the rest damaged only in free pages or values", rounds(), lost)
	if lost == 0 {
		t.Fatal("no damage found at all")
	}
}

// JOURNAL_DAMAGE_ROUNDS and JOURNAL_DAMAGE_SEED run TestOpenDirSurvivesRandomDamage longer.
func rounds() int {
	var n int
	if _, err := fmt.Sscan(os.Getenv("JOURNAL_DAMAGE_ROUNDS"), &n); err == nil && n > 0 {
		return n
	}
	return 400
}

func seedA() uint64 {
	var n uint64
	if _, err := fmt.Sscan(os.Getenv("JOURNAL_DAMAGE_SEED"), &n); err == nil {
		return n
	}
	return 7
}

// A journal file mostly free (after pruning a busy season) is compacted at
// start: smaller, every record and the identity kept; a file mostly in use
// is left alone.
func TestOpenDirCompacts(t *testing.T) {
	defer func(v int64) { CompactMin = v }(CompactMin)
	CompactMin = 1 << 20
	dir, id := filled(t, 20000)
	o, err := OpenDir(dir, t0)
	if err != nil {
		t.Fatal(err)
	}
	if o.Compacted != (Compacted{}) {
		t.Fatalf("a full journal was compacted: %+v", o.Compacted)
	}
	o.Update(func(tx *Tx) error {
		for i := 0; i < 19900; i++ {
			if err := tx.Delete(Orders, fmt.Sprintf("P%06d", i)); err != nil {
				return err
			}
		}
		return nil
	})
	o.Close()
	o, err = OpenDir(dir, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	t.Logf("compacted %d KB → %d KB", o.Compacted.Before>>10, o.Compacted.After>>10)
	if o.Compacted.After == 0 || o.Compacted.After*2 > o.Compacted.Before || o.Lost != nil || o.Identity != id {
		t.Fatalf("%+v lost %+v identity %+v", o.Compacted, o.Lost, o.Identity)
	}
	var n int
	o.View(func(tx *Tx) error { return tx.ForEach(Orders, func(string, []byte) error { n++; return nil }) })
	if n != 100 {
		t.Fatalf("%d orders after compaction", n)
	}
	if err := o.Update(func(tx *Tx) error { return tx.Put(Orders, "P-AFTER", 1) }); err != nil {
		t.Fatalf("a write after compaction: %v", err)
	}
}

// The log of a journal that was not closed cleanly holds commits the
// device acted on: a log gone, cut short or damaged before its end is a
// lost journal (kept aside with its log); a torn last record is not (its
// commit never returned), nor is a log gone after a clean close (a Close
// leaves nothing in it).
func TestOpenDirChecksTheLog(t *testing.T) {
	later := t0.Add(time.Hour)
	for _, c := range []struct {
		name  string
		clean bool
		harm  func(log string, recs []int64) // recs: where each record ends (the next begins)
		lost  bool
		kept  int // commits of the three still there (not lost)
	}{
		{"intact", false, func(string, []int64) {}, false, 3},
		{"last record torn", false, func(log string, recs []int64) { flip(log, recs[1]+recHeader) }, false, 2},
		{"damaged before its end", false, func(log string, recs []int64) { flip(log, recHeader) }, true, 0},
		{"gone", false, func(log string, _ []int64) { os.Remove(log) }, true, 0},
		{"cut short", false, func(log string, recs []int64) { os.Truncate(log, recs[2]) }, true, 0},
		{"gone after a clean close", true, func(log string, _ []int64) { os.Remove(log) }, false, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir, id := filled(t, 3)
			o, err := OpenDir(dir, t0)
			if err != nil {
				t.Fatal(err)
			}
			var recs []int64
			for i := range 3 {
				if err := o.Update(func(tx *Tx) error { return tx.Put(Seen, fmt.Sprintf("jti-%d", i), map[string]any{"at": t0.Unix()}) }); err != nil {
					t.Fatal(err)
				}
				recs = append(recs, o.log.off)
			}
			if c.clean {
				o.Close()
			} else {
				crash(t, o.Journal)
			}
			log := filepath.Join(dir, FileName+LogSuffix)
			c.harm(log, recs)
			o, err = OpenDir(dir, later)
			if err != nil {
				t.Fatal(err)
			}
			defer o.Close()
			if (o.Lost != nil) != c.lost {
				t.Fatalf("lost %+v, want lost %v", o.Lost, c.lost)
			}
			if c.lost {
				if o.Lost.Cause != "damaged" || !strings.Contains(o.Lost.Reason, "log") || o.Identity == id {
					t.Fatalf("lost %+v", o.Lost)
				}
				if _, err := os.Stat(o.Lost.Kept + LogSuffix); c.name != "gone" && err != nil {
					t.Fatalf("the log was not kept aside with its journal: %v", err)
				}
				return
			}
			n := 0
			for i := range 3 {
				if ok, _ := getSeen(o.Journal, fmt.Sprintf("jti-%d", i)); ok {
					n++
				}
			}
			if n != c.kept {
				t.Fatalf("%d of the 3 commits there, want %d", n, c.kept)
			}
		})
	}
}

func flip(path string, off int64) {
	f, _ := os.OpenFile(path, os.O_RDWR, 0)
	b := make([]byte, 1)
	f.ReadAt(b, off)
	b[0] ^= 0xff
	f.WriteAt(b, off)
	f.Close()
}

func getSeen(j *Journal, key string) (ok bool, err error) {
	err = j.View(func(tx *Tx) error {
		ok, err = tx.Get(Seen, key, &struct{}{})
		return err
	})
	return ok, err
}

// Salvage of a journal lost with commits in its log copies those too.
func TestSalvageReplaysTheLog(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	j := open(t, path)
	if err := j.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		j.Update(func(tx *Tx) error { return tx.Put(Seen, fmt.Sprintf("jti-%d", i), map[string]any{"at": t0.Unix()}) })
	}
	crash(t, j)
	dst := filepath.Join(t.TempDir(), "salvaged.db")
	res, err := Salvage(path, dst)
	if err != nil || res.FromLog == 0 {
		t.Fatalf("%+v %v", res, err)
	}
	s := open(t, dst)
	defer s.Close()
	for i := range 3 {
		if ok, _ := getSeen(s, fmt.Sprintf("jti-%d", i)); !ok {
			t.Fatalf("jti-%d not salvaged from the log (%+v)", i, res)
		}
	}
}

// A log made again at another size (journal.log_kb changed) keeps what it
// held, and a crash before or after leaves no journal taken for lost.
func TestLogSizeChanged(t *testing.T) {
	old := LogSize
	defer func() { LogSize = old }()
	dir := t.TempDir()
	LogSize = minLogSize
	o, err := OpenDir(dir, t0)
	if err != nil {
		t.Fatal(err)
	}
	o.Update(func(tx *Tx) error { return tx.Put(Seen, "before", map[string]any{"at": t0.Unix()}) })
	crash(t, o.Journal)
	LogSize = 17 << 10 // not whole blocks: rounded up
	o, err = OpenDir(dir, t0.Add(time.Minute))
	if err != nil || o.Lost != nil {
		t.Fatalf("%+v %v", o.Lost, err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, FileName+LogSuffix)); fi.Size() != 20<<10 {
		t.Fatalf("log of %d bytes, want 20 KB", fi.Size())
	}
	o.Update(func(tx *Tx) error { return tx.Put(Seen, "after", map[string]any{"at": t0.Unix()}) })
	crash(t, o.Journal)
	o, err = OpenDir(dir, t0.Add(2*time.Minute))
	if err != nil || o.Lost != nil {
		t.Fatalf("%+v %v", o.Lost, err)
	}
	defer o.Close()
	for _, k := range []string{"before", "after"} {
		if ok, _ := getSeen(o.Journal, k); !ok {
			t.Fatalf("%s lost across the log's new size", k)
		}
	}
}
