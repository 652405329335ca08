package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"
	"unsafe"
)

// The write-ahead log. A bbolt commit writes every B+tree page the
// transaction touched, its branches up to the root, the freelist and a
// meta page, and syncs twice: about 70 KB and two fdatasync calls for the
// 1 KB a payment's step changes, and a notification takes two steps. On
// eMMC or SD flash that is the wear that kills cheap cards, and each sync
// costs milliseconds.
//
// So a commit appends what it changed (the final value of each key it
// wrote, each key it deleted, each bucket counter it moved) to a log
// beside the bbolt file and makes that durable with one fdatasync: one
// 4 KB block for a payment's step. Each record begins a block of its own
// and is padded to the end of its last: a block once synced is never
// written again until the log restarts, so a power cut in the middle of a
// write (an SD card does not promise that a block is written whole) can
// tear only the record being written, whose commit has not returned. What the log holds is kept in memory too (mem), where
// reads find it before the bbolt file. When the log is full, and at Close,
// a checkpoint writes everything it holds into bbolt in one transaction
// and the log starts again from its first byte.
//
// The file is made at its full size, zeros written and synced, and then
// written in place: an fdatasync then writes data blocks only, never the
// file system's metadata (which growing the file would).
//
// Each record is framed
//
//	crc32c u32 | length u32 | salt u64 | generation u64 | ops (length bytes)
//
// all little-endian, the CRC over everything after itself. The salt is
// the journal's own (Meta LogKey, made with the bbolt file), so the log of
// another journal file — one moved aside as lost, a card from another
// device — is never replayed into this one. The generation is one more
// than the last checkpoint's (Meta LogKey too, written by the checkpoint
// in its own transaction): records of earlier generations, still in the
// file behind the newest ones, are never replayed. At Open the records of
// the current generation are read from the start until the first that is
// short, torn (its CRC fails) or of another salt or generation, replayed
// into bbolt in one transaction (a checkpoint), and the log starts again.
//
// A crash at any point loses no committed transaction: a commit returns
// only after its record is synced; a checkpoint is one bbolt transaction
// carrying the new generation, so either it committed (the log's records
// are in bbolt, and not replayed again) or it did not (the log is replayed
// at the next Open; replaying is idempotent: final values, absolute
// counters).

// LogSuffix names the log beside the journal file: journal.db-wal.
const LogSuffix = "-wal"

// LogSize is the size of a new log file (rounded up to whole blocks): what
// a checkpoint folds into bbolt at most, and bounds what the log's records
// in memory take. A payment's two commits take two blocks, so a checkpoint
// comes every hundred and more payments.
var LogSize int64 = 1 << 20

// logSize is LogSize in whole blocks, at least minLogSize.
func logSize() int64 {
	return max(minLogSize, (LogSize+logBlock-1)&^(logBlock-1))
}

// minLogSize: a smaller file found is made again.
const minLogSize = 16 << 10

// LogKey is the Meta record of the log's salt and last checkpoint.
const LogKey = "journal.log"

type logState struct {
	Salt uint64 `json:"salt"`
	Gen  uint64 `json:"gen"` // the generation the last checkpoint folded in
	// Size is the log file's size (0: no log was made for this journal).
	Size int64 `json:"size,omitempty"`
}

// checkLog is OpenDir's check of the log of a journal that was not closed
// cleanly (a clean Close leaves nothing in it): a log that is gone, cut
// short, or damaged before its end (a record that fails its CRC with a
// record of the same generation after it) has lost commits the device
// acted on, so the journal is lost (ErrDamaged), as for a damaged bbolt
// file. A torn last record is no loss: its commit never returned.
func checkLog(path string, st logState) error {
	if st.Size == 0 {
		return nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: its log %s is gone", ErrDamaged, filepath.Base(path))
	}
	if err != nil {
		return err
	}
	if int64(len(data)) != st.Size {
		return fmt.Errorf("%w: its log is %d bytes, it was made %d", ErrDamaged, len(data), st.Size)
	}
	l := &wal{salt: st.Salt, gen: st.Gen + 1}
	off := 0
	for {
		_, n := l.parse(data[off:])
		if n == 0 {
			break
		}
		off += n
	}
	var tag [16]byte
	binary.LittleEndian.PutUint64(tag[:], l.salt)
	binary.LittleEndian.PutUint64(tag[8:], l.gen)
	for o := off + logBlock; o+recHeader <= len(data); o += logBlock {
		if bytes.Equal(data[o+8:o+recHeader], tag[:]) {
			if _, n := l.parse(data[o:]); n > 0 {
				return fmt.Errorf("%w: its log is damaged at byte %d (a later record is intact)", ErrDamaged, off)
			}
		}
	}
	return nil
}

// errNoLog: there is no log file and none could be made.
var errNoLog = errors.New("no log")

const recHeader = 24

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// wal is the open log file.
type wal struct {
	f    *os.File
	size int64 // the file's (fixed) size, a multiple of logBlock
	off  int64 // where the next record goes
	salt uint64
	gen  uint64 // the generation being written: the last checkpoint's + 1
	// buf is the aligned buffer writes go through.
	buf []byte
}

// The log is written in whole, aligned blocks with O_DIRECT where the file
// system allows it (Linux ext4, f2fs): through the page cache, a 100-byte
// record dirties the whole folio it falls in, and a kernel with large
// folios (Linux 6.16 and later on ext4) writes 64 KB for it — measured on
// the build machine, 64 KB per commit. Direct writes put on the disk
// exactly the blocks written.
const logBlock = 4096

// openLog opens the log at path, making it (zeros, synced) when missing or
// too small. It returns the records of state's next generation found in
// it, in order.
func openLog(path string, state logState) (*wal, []byte, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		if err := makeLog(path, logSize()); err != nil {
			return nil, nil, fmt.Errorf("%w: %v", errNoLog, err)
		}
		fi, err = os.Stat(path)
	}
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("journal log %s: not a file", path)
	}
	f, err := openDirect(path)
	if err != nil {
		return nil, nil, err
	}
	l := &wal{f: f, size: fi.Size(), salt: state.Salt, gen: state.Gen + 1}
	// Read record by record (not the whole file: it is mostly old
	// records, and a buffer its size would stay in the process). A file
	// of another size than asked is read all the same: Open makes it
	// again once its records are in bbolt.
	r, err := os.Open(path)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	defer r.Close()
	var ops []byte
	head := make([]byte, recHeader)
	for off := int64(0); off+recHeader <= l.size; {
		if _, err := r.ReadAt(head, off); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("journal log: %w", err)
		}
		n := int64(binary.LittleEndian.Uint32(head[4:]))
		if n > l.size-off-recHeader || binary.LittleEndian.Uint64(head[8:]) != l.salt || binary.LittleEndian.Uint64(head[16:]) != l.gen {
			break
		}
		rec := make([]byte, recHeader+n)
		if _, err := r.ReadAt(rec, off); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("journal log: %w", err)
		}
		body, k := l.parse(rec)
		if k == 0 {
			break
		}
		ops = append(ops, body...)
		off += int64(k)
	}
	return l, ops, nil
}

// valid says whether the file is of a size the log can be written in.
func (l *wal) valid() bool { return l.size >= minLogSize && l.size%logBlock == 0 }

// makeLog writes a log of size zeros beside the journal, synced, then
// renames it into place (a crash leaves no half-made log).
func makeLog(path string, size int64) error {
	tmp := path + ".new"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	zero := make([]byte, 64<<10)
	for off := int64(0); off < size && err == nil; off += int64(len(zero)) {
		_, err = f.Write(zero[:min(int64(len(zero)), size-off)])
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	syncDir(filepath.Dir(path))
	return nil
}

// parse reads the record at the start of b: its ops and its length padded
// to whole blocks (where the next record begins), or n == 0 when there is
// none of this log's salt and generation (the end).
func (l *wal) parse(b []byte) (ops []byte, n int) {
	if len(b) < recHeader {
		return nil, 0
	}
	le := binary.LittleEndian
	length := int(le.Uint32(b[4:]))
	if length > len(b)-recHeader || le.Uint64(b[8:]) != l.salt || le.Uint64(b[16:]) != l.gen {
		return nil, 0
	}
	if crc32.Checksum(b[4:recHeader+length], castagnoli) != le.Uint32(b) {
		return nil, 0
	}
	if _, err := decodeOps(b[recHeader:recHeader+length], func(op) error { return nil }); err != nil {
		return nil, 0
	}
	return b[recHeader : recHeader+length], padded(recHeader + length)
}

// padded is n bytes in whole blocks.
func padded[T int | int64](n T) T { return (n + logBlock - 1) &^ (logBlock - 1) }

// fits says whether a record of ops fits in what is left of the log.
func (l *wal) fits(ops []byte) bool { return l.off+padded(int64(recHeader+len(ops))) <= l.size }

// holds says whether a record of ops fits in an empty log.
func (l *wal) holds(ops []byte) bool { return padded(int64(recHeader+len(ops))) <= l.size }

// append writes one record, in blocks of its own, and syncs it. On an
// error the record is not committed (the next one is written over it);
// its bytes may still have reached the disk, as a commit that fails may
// have (the caller takes it as not done and does it again, once).
func (l *wal) append(ops []byte) error {
	n := recHeader + len(ops)
	size := padded(n)
	if cap(l.buf) < size {
		l.buf = aligned(size * 2)
	}
	b := l.buf[:size]
	le := binary.LittleEndian
	le.PutUint32(b[4:], uint32(len(ops)))
	le.PutUint64(b[8:], l.salt)
	le.PutUint64(b[16:], l.gen)
	copy(b[recHeader:], ops)
	le.PutUint32(b, crc32.Checksum(b[4:n], castagnoli))
	clear(b[n:])
	if _, err := l.f.WriteAt(b, l.off); err != nil {
		return fmt.Errorf("journal log: %w", err)
	}
	if err := fdatasync(l.f); err != nil {
		return fmt.Errorf("journal log: %w", err)
	}
	l.off += int64(size)
	return nil
}

// aligned is a buffer of n bytes at a logBlock-aligned address, as
// O_DIRECT requires.
func aligned(n int) []byte {
	b := make([]byte, n+logBlock)
	skip := 0
	if a := int(uintptr(unsafe.Pointer(&b[0])) & (logBlock - 1)); a != 0 {
		skip = logBlock - a
	}
	return b[skip : skip+n : skip+n]
}

// restart begins the next generation at the log's first byte: the
// checkpoint of the current one has committed.
func (l *wal) restart() {
	l.gen++
	l.off = 0
}

// The ops of a record, each
//
//	kind u8 | bucket (uvarint length, bytes) | key (uvarint length, bytes) | value
//
// where a put's value is uvarint length and bytes, a delete has none, and
// a counter's (the key empty) is its uvarint value.
const (
	opPut byte = 1
	opDel byte = 2
	opSeq byte = 3
)

type op struct {
	kind        byte
	bucket, key string
	value       []byte
	seq         uint64
}

// encodeOps writes the writes of a transaction, buckets and keys in order.
func encodeOps(w *writes) []byte {
	var b []byte
	str := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	names := make([]string, 0, len(w.kv))
	for name := range w.kv {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		keys := make([]string, 0, len(w.kv[name]))
		for k := range w.kv[name] {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v := w.kv[name][k]
			if v == nil {
				b = append(b, opDel)
				str(name)
				str(k)
				continue
			}
			b = append(b, opPut)
			str(name)
			str(k)
			b = binary.AppendUvarint(b, uint64(len(v)))
			b = append(b, v...)
		}
	}
	seqNames := make([]string, 0, len(w.seq))
	for name := range w.seq {
		seqNames = append(seqNames, name)
	}
	sort.Strings(seqNames)
	for _, name := range seqNames {
		b = append(b, opSeq)
		str(name)
		str("")
		b = binary.AppendUvarint(b, w.seq[name])
	}
	return b
}

var errBadOps = errors.New("journal log: a damaged record")

// decodeOps calls fn with each op of b, in order, and returns how many.
func decodeOps(b []byte, fn func(op) error) (int, error) {
	n := 0
	num := func() (uint64, bool) {
		v, k := binary.Uvarint(b)
		if k <= 0 {
			return 0, false
		}
		b = b[k:]
		return v, true
	}
	bytesOf := func() ([]byte, bool) {
		l, ok := num()
		if !ok || l > uint64(len(b)) {
			return nil, false
		}
		s := b[:l]
		b = b[l:]
		return s, true
	}
	for len(b) > 0 {
		var o op
		o.kind, b = b[0], b[1:]
		bucket, ok1 := bytesOf()
		key, ok2 := bytesOf()
		if !ok1 || !ok2 {
			return n, errBadOps
		}
		o.bucket, o.key = string(bucket), string(key)
		switch o.kind {
		case opPut:
			v, ok := bytesOf()
			if !ok {
				return n, errBadOps
			}
			o.value = v
		case opDel:
		case opSeq:
			v, ok := num()
			if !ok {
				return n, errBadOps
			}
			o.seq = v
		default:
			return n, errBadOps
		}
		if err := fn(o); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
