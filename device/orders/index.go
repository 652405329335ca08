package orders

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"sort"
	"strings"
	"time"

	"github.com/posagent/posagent/journal"
)

// Indexes beside the records (journal.OrdersByTime, RefundsByOrder,
// DepositsByOrder, OpenOrders, DoneByTime), kept in the same transaction
// as the record, so that work done per event — a receipt, a refund, a page
// of /v1/orders — reads what it needs and not the whole bucket: its cost
// does not grow with the years of records a device keeps.

// TimeKey orders by creation time (ms, big-endian) then id.
func TimeKey(ms int64, id string) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(max(ms, 0)))
	return string(b[:]) + id
}

// Put writes a payment, its time indexes and whether it is open.
func Put(tx *journal.Tx, p Payment) error {
	if err := tx.Put(journal.Orders, p.OutTradeNo, p); err != nil {
		return err
	}
	if err := tx.PutKey(journal.OrdersByTime, TimeKey(p.CreatedAt, p.OutTradeNo)); err != nil {
		return err
	}
	if err := FileDone(tx, p); err != nil {
		return err
	}
	if p.Deposit {
		if err := tx.PutKey(journal.DepositsByTime, TimeKey(p.CreatedAt, p.OutTradeNo)); err != nil {
			return err
		}
	}
	if IsOpen(p) {
		return tx.PutKey(journal.OpenOrders, p.OutTradeNo)
	}
	return tx.Delete(journal.OpenOrders, p.OutTradeNo)
}

// Get reads payment no; ok is false when there is none.
func Get(tx *journal.Tx, no string) (p Payment, ok bool, err error) {
	ok, err = tx.Get(journal.Orders, no, &p)
	return p, ok, err
}

// Load reads the record key of bucket from j: ErrNotFound when there is
// none.
func Load[T any](j *journal.Journal, bucket, key string) (T, error) {
	var v T
	err := j.View(func(tx *journal.Tx) error {
		ok, err := tx.Get(bucket, key, &v)
		if err == nil && !ok {
			err = ErrNotFound
		}
		return err
	})
	return v, err
}

// Kinds of journal.DoneByTime entries.
const (
	DonePay     = "p" // a payment or deposit confirmed paid
	DoneRelease = "r" // a deposit the provider released
	DoneRefund  = "f" // a refund succeeded
	DoneOp      = "o" // a deposit operation succeeded
)

// FileDone files p under the times a summary counts it. Entries only add
// up (a time that moves leaves the old entry): summaries check each
// record's current times, so a stale entry counts nothing.
func FileDone(tx *journal.Tx, p Payment) error {
	if p.State == Paid {
		if err := tx.PutKey(journal.DoneByTime, TimeKey(cmp.Or(p.ConfirmedAt, p.CreatedAt), DonePay+p.OutTradeNo)); err != nil {
			return err
		}
	}
	if p.Deposit && p.ReleasedAt > 0 {
		return tx.PutKey(journal.DoneByTime, TimeKey(p.ReleasedAt, DoneRelease+p.OutTradeNo))
	}
	return nil
}

// FileRefundDone files a successful refund under its time.
func FileRefundDone(tx *journal.Tx, r Refund) error {
	if r.State != RefundSuccess {
		return nil
	}
	return tx.PutKey(journal.DoneByTime, TimeKey(r.UpdatedAt, DoneRefund+r.OutRefundNo))
}

// FileOpDone files a successful deposit operation under its time.
func FileOpDone(tx *journal.Tx, d DepositOp) error {
	if d.State != OpSuccess {
		return nil
	}
	return tx.PutKey(journal.DoneByTime, TimeKey(d.UpdatedAt, DoneOp+d.OutRequestNo))
}

// DoneIn calls fn once for each kind and id filed in [from, to).
func DoneIn(tx *journal.Tx, from, to time.Time, fn func(kind, id string) error) error {
	end := TimeKey(to.UnixMilli(), "")
	seen := map[string]bool{}
	return tx.Seek(journal.DoneByTime, TimeKey(from.UnixMilli(), ""), func(k string, _ []byte) (bool, error) {
		if k >= end {
			return false, nil
		}
		if len(k) < 10 || seen[k[8:]] {
			return true, nil
		}
		seen[k[8:]] = true
		return true, fn(k[8:9], k[9:])
	})
}

// IsOpen: a payment a start must resume or watch — not terminal
// (UNKNOWN and ATTENTION included), or a deposit still frozen.
func IsOpen(p Payment) bool {
	return !Terminal(p.State) || (p.State == Paid && p.Deposit && p.DepositState != DepositConsumed && p.DepositState != DepositReleased)
}

// EachOpen calls fn with each open payment.
func EachOpen(tx *journal.Tx, fn func(Payment) error) error {
	return tx.Seek(journal.OpenOrders, "", func(k string, _ []byte) (bool, error) {
		var p Payment
		ok, err := tx.Get(journal.Orders, k, &p)
		if err != nil || !ok {
			return err == nil, err
		}
		return true, fn(p)
	})
}

// FileRefund files a refund under its order.
func FileRefund(tx *journal.Tx, r Refund) error {
	return tx.PutKey(journal.RefundsByOrder, r.OutTradeNo+"/"+r.OutRefundNo)
}

// RefundsOf calls fn with each refund of order no.
func RefundsOf(tx *journal.Tx, no string, fn func(Refund) error) error {
	prefix := no + "/"
	return tx.Seek(journal.RefundsByOrder, prefix, func(k string, _ []byte) (bool, error) {
		id, ok := strings.CutPrefix(k, prefix)
		if !ok {
			return false, nil
		}
		var r Refund
		if found, err := tx.Get(journal.Refunds, id, &r); err != nil || !found {
			return err == nil, err
		}
		return true, fn(r)
	})
}

// PutOp writes a deposit operation and files it under its deposit.
func PutOp(tx *journal.Tx, d DepositOp) error {
	if err := tx.Put(journal.Deposits, d.OutRequestNo, d); err != nil {
		return err
	}
	if err := FileOp(tx, d); err != nil {
		return err
	}
	return FileOpDone(tx, d)
}

// FileOp files a deposit operation under its deposit.
func FileOp(tx *journal.Tx, d DepositOp) error {
	return tx.PutKey(journal.DepositsByOrder, d.OutTradeNo+"/"+d.OutRequestNo)
}

// OpsOf are the operations of deposit no, oldest first.
func OpsOf(tx *journal.Tx, no string) ([]DepositOp, error) {
	var ops []DepositOp
	prefix := no + "/"
	err := tx.Seek(journal.DepositsByOrder, prefix, func(k string, _ []byte) (bool, error) {
		id, ok := strings.CutPrefix(k, prefix)
		if !ok {
			return false, nil
		}
		var op DepositOp
		if found, err := tx.Get(journal.Deposits, id, &op); err != nil || !found {
			return err == nil, err
		}
		ops = append(ops, op)
		return true, nil
	})
	sort.Slice(ops, func(i, j int) bool { return ops[i].CreatedAt < ops[j].CreatedAt })
	return ops, err
}

// FreshNumber is a number the device makes for a record of bucket (an
// order, a refund, a deposit operation): gen's, drawn again while the
// bucket already holds it. Two numbers made in one second share one chance
// in a million; without the check the second payment would be refused as
// a duplicate, or a refund journaled over another one (and its money
// forgotten).
func FreshNumber(tx *journal.Tx, bucket string, gen func() string) (string, error) {
	for {
		no := gen()
		var old json.RawMessage
		ok, err := tx.Get(bucket, no, &old)
		if err != nil || !ok {
			return no, err
		}
	}
}

// OpenKeys lists the keys of bucket whose record (decoded as T) is still
// open, for a flow to resume them after a restart. It reads the open
// index (journal.OpenRecords), not the bucket's finished records.
func OpenKeys[T journal.Opener](j *journal.Journal, bucket string) ([]string, error) {
	var keys []string
	err := j.View(func(tx *journal.Tx) error {
		return tx.OpenKeys(bucket, func(k string) error {
			var rec T
			if ok, err := tx.Get(bucket, k, &rec); err == nil && ok && rec.Open() {
				keys = append(keys, k)
			}
			return nil
		})
	})
	return keys, err
}
