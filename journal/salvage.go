package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"

	bolt "go.etcd.io/bbolt"
)

// Salvaged says what Salvage copied.
type Salvaged struct {
	Copied map[string]int // bucket → records copied
	// Lost names the buckets (or the whole file) where reading stopped,
	// with why.
	Lost []string
	// FromLog is how many changes were replayed from the file's log
	// (src + LogSuffix, moved aside with it): its last commits.
	FromLog int
}

// Salvage copies every record it can still read from the journal file
// src (a lost one, kept aside) into a new journal file dst, leaving src
// untouched. It works on a copy of src grown to the size its meta pages
// claim, so a truncated file reads as zeros instead of faulting; a bucket
// whose pages are damaged is copied up to the damage.
func Salvage(src, dst string) (Salvaged, error) {
	res := Salvaged{Copied: map[string]int{}}
	if _, err := os.Stat(dst); err == nil {
		return res, fmt.Errorf("salvage: %s exists: choose a new file", dst)
	}
	work, err := os.CreateTemp(filepath.Dir(dst), ".salvage-*")
	if err != nil {
		return res, err
	}
	defer os.Remove(work.Name())
	in, err := os.Open(src)
	if err != nil {
		work.Close()
		return res, err
	}
	_, err = io.Copy(work, in)
	in.Close()
	if err == nil {
		err = growToMeta(work)
	}
	if cerr := work.Close(); err == nil {
		err = cerr
	}
	unreadable := errors.Is(err, ErrDamaged)
	if err != nil && !unreadable {
		return res, fmt.Errorf("salvage: %w", err)
	}
	out, err := Open(dst)
	if err != nil {
		return res, err
	}
	defer out.Close()
	if unreadable {
		res.Lost = append(res.Lost, "the whole file: no valid meta page")
		return res, nil
	}
	var state logState
	err = readAll(work.Name(), func(bucket string, recs [][2][]byte) error {
		res.Copied[bucket] += len(recs)
		return out.db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte(bucket))
			if err != nil {
				return err
			}
			for _, r := range recs {
				if bucket == Meta && string(r[0]) == LogKey {
					json.Unmarshal(r[1], &state)
					continue // the new journal's log is its own
				}
				if err := b.Put(r[0], r[1]); err != nil {
					return err
				}
			}
			return nil
		})
	}, func(what string) { res.Lost = append(res.Lost, what) })
	if err != nil {
		return res, err
	}
	res.FromLog, err = replayLog(src+LogSuffix, state, out)
	if err != nil {
		res.Lost = append(res.Lost, "the log: "+err.Error())
	}
	return res, nil
}

// replayLog writes into out what the log at path holds of the journal
// whose log state is state (none: its salt was not read), and returns how
// many changes that was.
func replayLog(path string, state logState, out *Journal) (int, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if state.Salt == 0 {
		return 0, errors.New("the journal's record of it is unreadable: not replayed")
	}
	l := &wal{salt: state.Salt, gen: state.Gen + 1}
	n := 0
	err = out.Update(func(t *Tx) error {
		for off := 0; ; {
			ops, k := l.parse(data[off:])
			if k == 0 {
				return nil
			}
			off += k
			if _, err := decodeOps(ops, func(o op) error {
				n++
				switch o.kind {
				case opSeq:
					if _, err := t.bucket(o.bucket); err != nil {
						return err
					}
					t.w.seq[o.bucket] = o.seq
					return nil
				case opDel:
					return t.del(o.bucket, []byte(o.key))
				default:
					return t.PutRaw(o.bucket, o.key, o.value)
				}
			}); err != nil {
				return err
			}
		}
	})
	return n, err
}

// growToMeta extends f with zeros to the size its best meta page says its
// pages take (a truncated file), so mapping it cannot fault.
func growToMeta(f *os.File) error {
	if err := Check(f.Name()); err == nil || !errors.Is(err, ErrDamaged) {
		return err
	}
	buf := make([]byte, pageHeader+metaSize)
	var need int64
	for _, off := range []int64{0, 4096, 16384, 65536, 8192, 2048, 1024} {
		if _, err := f.ReadAt(buf, off); err != nil {
			continue
		}
		if m, ok := parseMeta(buf[pageHeader:]); ok && (off == 0 || int64(m.pageSize) == off) {
			need = max(need, int64(m.pgid)*int64(m.pageSize))
		}
	}
	if need == 0 {
		return fmt.Errorf("%w: no valid meta page: nothing can be read", ErrDamaged)
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() < need {
		return f.Truncate(need)
	}
	return nil
}

// readAll calls put for every readable record of the bbolt file at path,
// bucket by bucket in name order; damage ends a bucket (reported to lost)
// rather than the salvage.
func readAll(path string, put func(bucket string, recs [][2][]byte) error, lost func(string)) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	var db *bolt.DB
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("%w: %v", ErrDamaged, r)
			}
		}()
		db, err = boltOpenReadOnly(path)
	}()
	if err != nil {
		lost("the whole file: " + err.Error())
		return nil
	}
	defer db.Close()
	var names []string
	func() {
		defer func() {
			if r := recover(); r != nil {
				lost(fmt.Sprintf("the bucket list, after %d buckets: %v", len(names), r))
			}
		}()
		db.View(func(tx *bolt.Tx) error {
			return tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
				names = append(names, string(name))
				return nil
			})
		})
	}()
	sort.Strings(names)
	for _, name := range names {
		var recs [][2][]byte
		func() {
			defer func() {
				if r := recover(); r != nil {
					lost(fmt.Sprintf("%s after %d records: %v", name, len(recs), r))
				}
			}()
			db.View(func(tx *bolt.Tx) error {
				b := tx.Bucket([]byte(name))
				if b == nil {
					return nil
				}
				c := b.Cursor()
				for k, v := c.First(); k != nil; k, v = c.Next() {
					if v == nil {
						continue // a nested bucket: the journal has none
					}
					recs = append(recs, [2][]byte{bytes.Clone(k), bytes.Clone(v)})
				}
				return nil
			})
		}()
		if err := put(name, recs); err != nil {
			return err
		}
	}
	return nil
}
