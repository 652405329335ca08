package journal

import (
	"encoding/binary"
	"fmt"
	"os"
)

// checkPages walks a bbolt file's page tree from its meta, reading the
// file (no mapping), and says ErrDamaged at the first thing bbolt could
// not survive: a page id past the file, a page whose header names another
// id, a page of the wrong kind, an element outside its page, a page
// reached twice (a cycle: bbolt's cursor would descend forever and eat
// the memory — found by FuzzOpenDir), a freelist that does not fit.
// Layout from go.etcd.io/bbolt internal/common (page.go, bucket.go).
func checkPages(path string, m boltMeta) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := &pageWalk{f: f, m: m, seen: map[uint64]bool{0: true, 1: true}}
	if err := w.freelist(); err != nil {
		return err
	}
	return w.tree(m.root, 0)
}

const (
	branchFlag   = 0x01
	leafFlag     = 0x02
	freelistFlag = 0x10
	bucketLeaf   = 0x01
	elemSize     = 16
	maxDepth     = 32
)

type pageWalk struct {
	f    *os.File
	m    boltMeta
	seen map[uint64]bool
}

func damaged(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrDamaged, fmt.Sprintf(format, a...))
}

// page reads page id with its overflow pages, marking them seen.
func (w *pageWalk) page(id uint64) ([]byte, error) {
	ps := uint64(w.m.pageSize)
	if id < 2 || id >= w.m.pgid {
		return nil, damaged("page %d is outside the %d in use", id, w.m.pgid)
	}
	hdr := make([]byte, pageHeader)
	if _, err := w.f.ReadAt(hdr, int64(id*ps)); err != nil {
		return nil, damaged("page %d: %v", id, err)
	}
	le := binary.LittleEndian
	if got := le.Uint64(hdr); got != id {
		return nil, damaged("page %d says it is page %d", id, got)
	}
	over := uint64(le.Uint32(hdr[12:]))
	if id+over >= w.m.pgid {
		return nil, damaged("page %d overflows past the pages in use", id)
	}
	for i := id; i <= id+over; i++ {
		if w.seen[i] {
			return nil, damaged("page %d is reached twice", i)
		}
		w.seen[i] = true
	}
	b := make([]byte, (over+1)*ps)
	if _, err := w.f.ReadAt(b, int64(id*ps)); err != nil {
		return nil, damaged("page %d: %v", id, err)
	}
	return b, nil
}

func (w *pageWalk) freelist() error {
	if w.m.freelist == 0xFFFFFFFFFFFFFFFF {
		return nil // not kept in the file (NoFreelistSync)
	}
	b, err := w.page(w.m.freelist)
	if err != nil {
		return err
	}
	le := binary.LittleEndian
	if le.Uint16(b[8:])&freelistFlag == 0 {
		return damaged("the freelist page %d is not a freelist", w.m.freelist)
	}
	n, at := uint64(le.Uint16(b[10:])), uint64(pageHeader)
	if n == 0xFFFF {
		if len(b) < pageHeader+8 {
			return damaged("freelist too short")
		}
		n, at = le.Uint64(b[pageHeader:]), pageHeader+8
	}
	if n > uint64(len(b)) || at+n*8 > uint64(len(b)) {
		return damaged("the freelist claims %d pages, more than its page holds", n)
	}
	return nil
}

// tree checks the bucket tree at page id.
func (w *pageWalk) tree(id uint64, depth int) error {
	if depth > maxDepth {
		return damaged("a tree deeper than %d", maxDepth)
	}
	b, err := w.page(id)
	if err != nil {
		return err
	}
	return w.node(b, fmt.Sprint("page ", id), depth)
}

// node checks one branch or leaf page (b: its bytes, header first).
func (w *pageWalk) node(b []byte, name string, depth int) error {
	le := binary.LittleEndian
	if len(b) < pageHeader {
		return damaged("%s is shorter than a page header", name)
	}
	flags, n := le.Uint16(b[8:]), int(le.Uint16(b[10:]))
	// Exactly one kind: bbolt's cursor takes a page with both flags for a
	// leaf, and a branch with no elements reads past them.
	if flags != branchFlag && flags != leafFlag {
		return damaged("%s is neither branch nor leaf (flags %#x)", name, flags)
	}
	if flags == branchFlag && n == 0 {
		return damaged("%s is a branch with no elements", name)
	}
	if pageHeader+n*elemSize > len(b) {
		return damaged("%s holds %d elements, more than fit", name, n)
	}
	for i := 0; i < n; i++ {
		e := pageHeader + i*elemSize
		switch {
		case flags == branchFlag:
			pos, ks, child := int(le.Uint32(b[e:])), int(le.Uint32(b[e+4:])), le.Uint64(b[e+8:])
			if ks == 0 || e+pos+ks > len(b) || e+pos < e {
				return damaged("%s: branch key %d outside the page", name, i)
			}
			if err := w.tree(child, depth+1); err != nil {
				return err
			}
		case flags == leafFlag:
			ef, pos, ks, vs := le.Uint32(b[e:]), int(le.Uint32(b[e+4:])), int(le.Uint32(b[e+8:])), int(le.Uint32(b[e+12:]))
			end := e + pos + ks + vs
			if ks == 0 || pos < 0 || ks < 0 || vs < 0 || end > len(b) || end < e {
				return damaged("%s: leaf element %d outside the page", name, i)
			}
			if ef&bucketLeaf == 0 {
				continue
			}
			v := b[e+pos+ks : end]
			if len(v) < 16 {
				return damaged("%s: bucket %d header too short", name, i)
			}
			if root := le.Uint64(v); root != 0 {
				if err := w.tree(root, depth+1); err != nil {
					return err
				}
			} else if err := w.node(v[16:], name+" inline bucket", depth+1); err != nil {
				return err
			}
		default:
			return damaged("%s is neither branch nor leaf (flags %#x)", name, flags)
		}
	}
	return nil
}
