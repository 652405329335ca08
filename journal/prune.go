package journal

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Prunable are the buckets whose records go by age (Prune): each record
// with an "at" field (Unix seconds) is filed in ByAt under it, in the
// record's own transaction, so that a prune seeks to what is old instead
// of reading every record it keeps.
var Prunable = map[string]bool{Seen: true, Notify: true, Print: true, Speech: true}

// pruneBatch is how many records one write transaction of Prune deletes.
const pruneBatch = 1000

// atOf reads a record's "at"; 0 for none (such records are never pruned).
func atOf(data []byte) int64 {
	var r struct {
		At int64 `json:"at"`
	}
	if json.Unmarshal(data, &r) != nil {
		return 0
	}
	return r.At
}

// atOfMarshaled is atOf for a record json.Marshal made, read from its
// first bytes when "at" is its first field, as it is in the records that
// have one: the encoder writes a struct's fields in order, each key once,
// an int64 as plain digits. Any other record is read by atOf. Put files
// every record of a prunable bucket, and decoding each whole to find its
// "at" was a decode per Put on every command's path.
func atOfMarshaled(data []byte) int64 {
	const prefix = `{"at":`
	if !bytes.HasPrefix(data, []byte(prefix)) {
		return atOf(data)
	}
	var at int64
	i := len(prefix)
	for ; i < len(data) && data[i] >= '0' && data[i] <= '9'; i++ {
		at = at*10 + int64(data[i]-'0')
	}
	if n := i - len(prefix); n == 0 || n > 18 || i == len(data) || (data[i] != ',' && data[i] != '}') {
		return atOf(data) // a sign, a fraction, or more digits than fit
	}
	return at
}

func atKey(bucket string, at int64, key []byte) []byte {
	k := make([]byte, 0, len(bucket)+1+8+len(key))
	k = append(k, bucket...)
	k = append(k, '/')
	k = binary.BigEndian.AppendUint64(k, uint64(at))
	return append(k, key...)
}

// fileAt files a record of a Prunable bucket under its "at" (data made
// by json.Marshal when marshaled). A record written again under another
// "at" leaves its old entry: Prune checks each entry against the record
// before deleting anything.
func (t *Tx) fileAt(bucket, key string, data []byte, marshaled bool) error {
	if !Prunable[bucket] {
		return nil
	}
	var at int64
	if marshaled {
		at = atOfMarshaled(data)
	} else {
		at = atOf(data)
	}
	if at <= 0 {
		return nil
	}
	k := atKey(bucket, at, []byte(key))
	if v, err := t.rawOf(ByAt, k); err != nil || v != nil {
		return err // filed already: nothing to write
	}
	return t.set(ByAt, k, []byte{})
}

// unfileAt takes a record's entry out of ByAt as the record goes.
func (t *Tx) unfileAt(bucket, key string, old []byte) error {
	if !Prunable[bucket] || old == nil {
		return nil
	}
	if at := atOf(old); at > 0 {
		return t.del(ByAt, atKey(bucket, at, []byte(key)))
	}
	return nil
}

// fileAllAt files every record of the Prunable buckets once, for a journal
// made before ByAt (marked in Meta so it runs once).
func fileAllAt(tx *bolt.Tx) error {
	const mark = "journal.by_at"
	meta := tx.Bucket([]byte(Meta))
	if meta.Get([]byte(mark)) != nil {
		return nil
	}
	idx := tx.Bucket([]byte(ByAt))
	for bucket := range Prunable {
		err := tx.Bucket([]byte(bucket)).ForEach(func(k, v []byte) error {
			if at := atOf(v); at > 0 {
				return idx.Put(atKey(bucket, at, k), []byte{})
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return meta.Put([]byte(mark), []byte("true"))
}

// Prune deletes the records of a Prunable bucket whose "at" field is
// before cutoff and returns how many went. Records without "at" are kept.
// What is old is found in ByAt by a read-only transaction, which does not
// hold up writers, and deleted pruneBatch at a time, each batch a short
// write that checks each record's current "at" first.
func (j *Journal) Prune(bucket string, cutoff time.Time) (int, error) {
	prefix := []byte(bucket + "/")
	end := atKey(bucket, cutoff.Unix(), nil)
	var old [][]byte
	err := j.View(func(t *Tx) error {
		return t.scan(ByAt, prefix, func(k, _ []byte) (bool, error) {
			if bytes.Compare(k, end) >= 0 {
				return false, nil
			}
			old = append(old, bytes.Clone(k))
			return true, nil
		})
	})
	n := 0
	for err == nil && len(old) > 0 {
		batch := old[:min(pruneBatch, len(old))]
		old = old[len(batch):]
		gone := 0
		err = j.Update(func(t *Tx) error {
			gone = 0
			for _, ik := range batch {
				key := ik[len(prefix)+8:]
				v, err := t.rawOf(bucket, key)
				if err != nil {
					return err
				}
				if v != nil {
					if at := atOf(v); at > 0 && at < cutoff.Unix() {
						if err := t.del(bucket, key); err != nil {
							return err
						}
						if err := t.del(OpenRecords, append(bytes.Clone(prefix), key...)); err != nil {
							return err
						}
						gone++
					}
				}
				// The entry goes either way: the record is gone, or it
				// was written again and filed under its new "at".
				if err := t.del(ByAt, ik); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil {
			n += gone
		}
	}
	return n, err
}
