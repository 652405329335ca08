package journal

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/posagent/posagent/atomicfile"
)

// A journal lost by accident must never pass for a first start: a device
// that forgets which commands it ran and which payments it announced would
// run a replayed notify.payment again — a fake 收款 the shop believes. So
// the journal has an identity, kept inside it (Meta IdentityKey) and in a
// small file beside it (IdentityFile). OpenDir compares the two:
//
//	no journal, no identity file        first start: a new journal
//	journal and identity agree          the journal
//	a journal without an identity       made before identities: adopted
//	identity file, journal missing      lost ("missing")
//	journal unreadable or damaged       lost ("damaged")
//	journal of another identity         lost ("replaced": a restored backup,
//	                                    another device's card)
//
// A lost journal is moved aside, never written to nor deleted (Salvage
// copies what it still holds), and a new one is made recording the loss
// (Meta LostKey), so the agent refuses what it may have done already.

const (
	// FileName is the journal's file in the data dir.
	FileName = "journal.db"
	// IdentityFile is the identity's copy beside the journal.
	IdentityFile = "journal.id"
	// IdentityKey and LostKey are Meta records.
	IdentityKey = "journal.id"
	LostKey     = "journal.lost"
)

// ErrDamaged is a journal file bbolt cannot safely use.
var ErrDamaged = errors.New("journal damaged")

// Identity names one journal: a random id and when it was made.
type Identity struct {
	ID        string `json:"id"`
	CreatedMS int64  `json:"created_ms"`
}

// Created is when the journal was made.
func (id Identity) Created() time.Time { return time.UnixMilli(id.CreatedMS) }

// Lost is the record of a journal lost before this one (Meta LostKey).
type Lost struct {
	// Cause is missing, damaged or replaced.
	Cause string `json:"cause"`
	// Kept is the path the lost file was moved to ("" when missing).
	Kept string `json:"kept,omitempty"`
	// Reason is what was wrong with it.
	Reason string `json:"reason,omitempty"`
	// At is when it was found (Unix ms); the new journal starts then.
	At int64 `json:"at"`
}

// Opened is what OpenDir found.
type Opened struct {
	*Journal
	Identity Identity
	// First: no journal was ever here.
	First bool
	// Lost is set when the journal that was here is lost (this start
	// made a new one).
	Lost *Lost
	// Compacted is what compaction did at this open.
	Compacted Compacted
}

// OpenDir opens the journal of data dir dir, telling a first start from a
// lost journal (see above). now stamps a new journal.
func OpenDir(dir string, now time.Time) (Opened, error) {
	path := filepath.Join(dir, FileName)
	idPath := filepath.Join(dir, IdentityFile)
	var o Opened
	known, hasID, err := readIdentity(idPath)
	if err != nil {
		return o, err
	}
	var lost *Lost
	if _, err := os.Stat(path); err == nil {
		// A journal not closed cleanly (a power cut, a kill) is checked
		// page by page: that is when a card leaves torn pages behind.
		full := !takeCleanMark(dir)
		in, has, st, err := inspect(path, full)
		if err == nil && full {
			err = checkLog(path+LogSuffix, st)
		}
		switch {
		case errors.Is(err, ErrLocked):
			return o, err
		case err != nil:
			lost = &Lost{Cause: "damaged", Reason: err.Error()}
		case has && hasID && in.ID != known.ID:
			lost = &Lost{Cause: "replaced", Reason: fmt.Sprintf("the journal is %s, the data dir's %s", in.ID, known.ID)}
		default:
			j, err := Open(path)
			if err != nil {
				return o, err
			}
			j.dir = dir
			j, compacted, err := maybeCompact(j, path)
			if err != nil {
				return o, err
			}
			if !has {
				// Made before identities: this is its first one.
				in = newIdentity(now)
				if err := j.Update(func(tx *Tx) error { return tx.Put(Meta, IdentityKey, in) }); err != nil {
					j.Close()
					return o, err
				}
			}
			if !has || !hasID {
				// The file beside it was lost (or never made): the
				// journal is fine.
				if err := writeIdentity(idPath, in); err != nil {
					j.Close()
					return o, err
				}
			}
			if !has {
				// The identity is what the next start reads from the
				// bbolt file, before any log is replayed.
				if err := j.Checkpoint(); err != nil {
					j.Close()
					return o, err
				}
			}
			return Opened{Journal: j, Identity: in, Compacted: compacted}, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return o, fmt.Errorf("journal %s: %w", path, err)
	} else if hasID {
		lost = &Lost{Cause: "missing", Reason: fmt.Sprintf("%s is gone; the data dir's journal was %s", FileName, known.ID)}
	}
	if lost != nil {
		lost.At = now.UnixMilli()
		name := asideName(path, now)
		// Its log goes first, to the same name (a crash between the two
		// leaves the log where Salvage of the kept file finds it); the
		// new journal's log is made anew. A log never outlives its
		// journal file, so none is ever replayed into another (its salt
		// would refuse it, too).
		if _, err := os.Lstat(path + LogSuffix); err == nil {
			if err := os.Rename(path+LogSuffix, name+LogSuffix); err != nil {
				return o, fmt.Errorf("journal %s is %s and its log cannot be moved aside: %w", path, lost.Cause, err)
			}
		}
		if lost.Cause != "missing" {
			if err := os.Rename(path, name); err != nil {
				return o, fmt.Errorf("journal %s is %s (%s) and cannot be moved aside: %w", path, lost.Cause, lost.Reason, err)
			}
			lost.Kept = name
		}
		syncDir(dir)
	}
	j, err := Open(path)
	if err != nil {
		return o, err
	}
	j.dir = dir
	id := newIdentity(now)
	err = j.Update(func(tx *Tx) error {
		if lost != nil {
			if err := tx.Put(Meta, LostKey, lost); err != nil {
				return err
			}
		}
		return tx.Put(Meta, IdentityKey, id)
	})
	if err == nil {
		err = j.Checkpoint()
	}
	if err == nil {
		err = writeIdentity(idPath, id)
	}
	if err != nil {
		j.Close()
		return o, fmt.Errorf("journal %s: %w", path, err)
	}
	return Opened{Journal: j, Identity: id, First: lost == nil, Lost: lost}, nil
}

// LostRecord reads the journal's record of the one it replaced (nil when
// it replaced none).
func (j *Journal) LostRecord() (*Lost, error) {
	var l Lost
	var ok bool
	err := j.View(func(tx *Tx) error {
		var err error
		ok, err = tx.Get(Meta, LostKey, &l)
		return err
	})
	if err != nil || !ok {
		return nil, err
	}
	return &l, nil
}

// IdentityOf reads the journal's identity.
func (j *Journal) IdentityOf() (Identity, error) {
	var id Identity
	err := j.View(func(tx *Tx) error {
		_, err := tx.Get(Meta, IdentityKey, &id)
		return err
	})
	return id, err
}

func newIdentity(now time.Time) Identity {
	b := make([]byte, 16)
	rand.Read(b)
	return Identity{ID: hex.EncodeToString(b), CreatedMS: now.UnixMilli()}
}

func readIdentity(path string) (Identity, bool, error) {
	var id Identity
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return id, false, nil
	}
	if err != nil {
		return id, false, fmt.Errorf("journal identity %s: %w", path, err)
	}
	if json.Unmarshal(b, &id) != nil || id.ID == "" {
		// A damaged identity file says there was a journal, no more.
		return Identity{ID: "unreadable"}, true, nil
	}
	return id, true, nil
}

// writeIdentity replaces the identity file atomically and durably.
func writeIdentity(path string, id Identity) error {
	b, _ := json.Marshal(id)
	if err := atomicfile.Write(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("journal identity: %w", err)
	}
	return nil
}

// asideName is where a lost journal goes: journal.db.lost-<UTC time>,
// never over another file (nor its log).
func asideName(path string, now time.Time) string {
	base := path + ".lost-" + now.UTC().Format("20060102T150405Z")
	name := base
	for i := 1; ; i++ {
		_, err := os.Lstat(name)
		_, lerr := os.Lstat(name + LogSuffix)
		if errors.Is(err, os.ErrNotExist) && errors.Is(lerr, os.ErrNotExist) {
			return name
		}
		name = fmt.Sprintf("%s.%d", base, i)
	}
}

// inspect reads a journal file's identity, read-only (a file found lost
// is kept exactly as it was), once its header says bbolt can map it
// (Check); full also checks every page (bbolt's Check). A panic or a
// memory fault inside bbolt is ErrDamaged, not a crash.
func inspect(path string, full bool) (id Identity, has bool, st logState, err error) {
	m, err := checkMeta(path)
	if err != nil {
		return id, false, st, err
	}
	if full {
		if err := checkPages(path, m); err != nil {
			return id, false, st, err
		}
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrDamaged, r)
		}
	}()
	db, err := boltOpenReadOnly(path)
	if errors.Is(err, bolt.ErrTimeout) {
		return id, false, st, fmt.Errorf("journal %s: %w", path, ErrLocked)
	}
	if err != nil {
		return id, false, st, fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		if full {
			// Not bbolt's tx.Check: it walks in a goroutine of its own,
			// where a fault in a torn page kills the process.
			if err := walk(tx); err != nil {
				return err
			}
		}
		if b := tx.Bucket([]byte(Meta)); b != nil {
			if v := b.Get([]byte(IdentityKey)); v != nil {
				if err := json.Unmarshal(v, &id); err != nil {
					return fmt.Errorf("%w: identity record: %v", ErrDamaged, err)
				}
				has = true
			}
			if v := b.Get([]byte(LogKey)); v != nil {
				if err := json.Unmarshal(v, &st); err != nil {
					return fmt.Errorf("%w: log record: %v", ErrDamaged, err)
				}
			}
		}
		return nil
	})
	return id, has, st, err
}

// walk reads every key and value of every bucket, in this goroutine (so
// a fault on a torn page is a panic that inspect recovers): a page bbolt
// cannot read is found now rather than in the middle of the agent's work.
func walk(tx *bolt.Tx) error {
	var sink byte
	var visit func(b *bolt.Bucket, depth int) error
	visit = func(b *bolt.Bucket, depth int) error {
		if depth > 4 {
			return fmt.Errorf("%w: buckets nested %d deep", ErrDamaged, depth)
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			sink ^= k[0] ^ k[len(k)-1]
			if v == nil {
				nb := b.Bucket(k)
				if nb == nil {
					return fmt.Errorf("%w: a key without a value", ErrDamaged)
				}
				if err := visit(nb, depth+1); err != nil {
					return err
				}
			} else if len(v) > 0 {
				sink ^= v[0] ^ v[len(v)-1]
			}
		}
		return nil
	}
	err := tx.ForEach(func(name []byte, b *bolt.Bucket) error { return visit(b, 1) })
	_ = sink
	return err
}

// The clean mark is a file Close leaves beside the journal and OpenDir
// takes away: its absence at start means the last run did not close the
// journal (power cut, kill, crash).
const cleanMark = "journal.clean"

func takeCleanMark(dir string) bool {
	err := os.Remove(filepath.Join(dir, cleanMark))
	if err == nil {
		syncDir(dir)
	}
	return err == nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// bbolt's file format (go.etcd.io/bbolt: page.go, db.go): two meta pages
// at the start, each a 16-byte page header then the meta: magic, version,
// page size, flags, root bucket (pgid, sequence), freelist pgid, pgid (the
// high-water mark: pages in use), txid, and an FNV-1a 64 checksum of the
// meta before it.
const (
	boltMagic   = 0xED0CDAED
	boltVersion = 2
	pageHeader  = 16
	metaSize    = 64
)

type boltMeta struct {
	pageSize uint32
	root     uint64 // the root bucket's page
	freelist uint64
	pgid     uint64
	txid     uint64
}

func parseMeta(b []byte) (boltMeta, bool) {
	if len(b) < metaSize {
		return boltMeta{}, false
	}
	le := binary.LittleEndian // bbolt writes native order: little-endian on every board
	h := fnv.New64a()
	h.Write(b[:56])
	if le.Uint32(b[0:]) != boltMagic || le.Uint32(b[4:]) != boltVersion || le.Uint64(b[56:]) != h.Sum64() {
		return boltMeta{}, false
	}
	m := boltMeta{pageSize: le.Uint32(b[8:]), root: le.Uint64(b[16:]), freelist: le.Uint64(b[32:]), pgid: le.Uint64(b[40:]), txid: le.Uint64(b[48:])}
	if m.pageSize < 512 || m.pageSize > 1<<16 || m.pageSize&(m.pageSize-1) != 0 {
		return boltMeta{}, false
	}
	return m, true
}

// Check reads a journal file's header without mapping it: a file that is
// empty, shorter than the pages its meta says are in use, or whose meta
// pages both fail their checksum is ErrDamaged (bbolt would fault or
// panic on it).
func Check(path string) error {
	_, err := checkMeta(path)
	return err
}

// checkMeta is Check, returning the meta bbolt will use.
func checkMeta(path string) (boltMeta, error) {
	var best boltMeta
	f, err := os.Open(path)
	if err != nil {
		return best, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return best, err
	}
	size := fi.Size()
	if size == 0 {
		return best, fmt.Errorf("%w: the file is empty", ErrDamaged)
	}
	var ok bool
	first := make([]byte, pageHeader+metaSize)
	if _, err := io.ReadFull(f, first); err == nil {
		if m, good := parseMeta(first[pageHeader:]); good {
			best, ok = m, true
		}
	}
	// The second meta is one page in; its page size is the first's, or
	// any bbolt may have used.
	for _, ps := range []uint32{best.pageSize, 4096, 16384, 65536, 8192, 2048, 1024} {
		if ps == 0 {
			continue
		}
		b := make([]byte, pageHeader+metaSize)
		if _, err := f.ReadAt(b, int64(ps)); err != nil {
			continue
		}
		if m, good := parseMeta(b[pageHeader:]); good && m.pageSize == ps {
			if !ok || m.txid > best.txid {
				best = m
			}
			ok = true
			break
		}
	}
	if !ok {
		return best, fmt.Errorf("%w: no valid meta page (%d bytes)", ErrDamaged, size)
	}
	if need := int64(best.pgid) * int64(best.pageSize); size < need {
		return best, fmt.Errorf("%w: truncated: %d bytes, its pages need %d", ErrDamaged, size, need)
	}
	return best, nil
}

// boltOpenReadOnly is for Salvage.
func boltOpenReadOnly(path string) (*bolt.DB, error) {
	return bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
}
