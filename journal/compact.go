package journal

import (
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// A bbolt file never shrinks: pages freed by pruning and retirement are
// reused, but a file that grew in a busy season stays that size. At start
// (nothing else has it open) a journal file of at least CompactMin bytes
// that is more than half free is copied compactly into a new file that
// then replaces it.

// CompactMin is the smallest file worth compacting.
var CompactMin int64 = 8 << 20

// Compacted says what compaction did (zero: nothing).
type Compacted struct{ Before, After int64 }

// maybeCompact compacts the journal at path, open as j, when worth it;
// it returns the journal to use (reopened after a compaction).
func maybeCompact(j *Journal, path string) (*Journal, Compacted, error) {
	var c Compacted
	fi, err := os.Stat(path)
	if err != nil || fi.Size() < CompactMin {
		return j, c, err
	}
	var inUse int64
	j.db.View(func(tx *bolt.Tx) error { inUse = tx.Size(); return nil })
	st := j.db.Stats()
	free := int64(st.FreeAlloc) + (fi.Size() - inUse)
	if free*2 <= fi.Size() {
		return j, c, nil
	}
	tmp := path + ".compact"
	os.Remove(tmp)
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{NoSync: true})
	if err != nil {
		return j, c, nil // not compacted; the journal is as good as it was
	}
	err = bolt.Compact(dst, j.db, 1<<20)
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return j, c, nil
	}
	dir := j.dir
	if err := j.closeFiles(); err != nil {
		return nil, c, err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		nj, oerr := Open(path)
		if oerr != nil {
			return nil, c, oerr
		}
		nj.dir = dir
		return nj, c, nil
	}
	syncDir(filepath.Dir(path))
	nj, err := Open(path)
	if err != nil {
		return nil, c, fmt.Errorf("journal after compaction: %w", err)
	}
	nj.dir = dir
	after, _ := os.Stat(path)
	c = Compacted{Before: fi.Size(), After: after.Size()}
	return nj, c, nil
}
