package device

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/posagent/posagent/journal"
)

// Indexes beside the records (journal.OrdersByTime, RefundsByOrder,
// PrintQueue), kept in the same transaction as the record, so that work
// done per event — a receipt, a refund, a page of /v1/orders — reads what
// it needs and not the whole bucket: its cost does not grow with the
// years of records a device keeps.

// timeKey orders by creation time (ms, big-endian) then id.
func timeKey(ms int64, id string) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(max(ms, 0)))
	return string(b[:]) + id
}

func seqKey(seq uint64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], seq)
	return string(b[:])
}

// putOrder writes a payment, its time index and whether it is open.
func putOrder(tx *journal.Tx, p Payment) error {
	if err := tx.Put(journal.Orders, p.OutTradeNo, p); err != nil {
		return err
	}
	if err := tx.PutKey(journal.OrdersByTime, timeKey(p.CreatedAt, p.OutTradeNo)); err != nil {
		return err
	}
	if err := fileDone(tx, p); err != nil {
		return err
	}
	if p.Deposit {
		if err := tx.PutKey(journal.DepositsByTime, timeKey(p.CreatedAt, p.OutTradeNo)); err != nil {
			return err
		}
	}
	if openOrder(p) {
		return tx.PutKey(journal.OpenOrders, p.OutTradeNo)
	}
	return tx.Delete(journal.OpenOrders, p.OutTradeNo)
}

// Kinds of journal.DoneByTime entries.
const (
	donePay     = "p" // a payment or deposit confirmed paid
	doneRelease = "r" // a deposit the provider released
	doneRefund  = "f" // a refund succeeded
	doneOp      = "o" // a deposit operation succeeded
)

// fileDone files p under the times a summary counts it. Entries only add
// up (a time that moves leaves the old entry): summaries check each
// record's current times, so a stale entry counts nothing.
func fileDone(tx *journal.Tx, p Payment) error {
	if p.State == Paid {
		if err := tx.PutKey(journal.DoneByTime, timeKey(firstPositive(p.ConfirmedAt, p.CreatedAt), donePay+p.OutTradeNo)); err != nil {
			return err
		}
	}
	if p.Deposit && p.ReleasedAt > 0 {
		return tx.PutKey(journal.DoneByTime, timeKey(p.ReleasedAt, doneRelease+p.OutTradeNo))
	}
	return nil
}

func fileRefundDone(tx *journal.Tx, r Refund) error {
	if r.State != RefundSuccess {
		return nil
	}
	return tx.PutKey(journal.DoneByTime, timeKey(r.UpdatedAt, doneRefund+r.OutRefundNo))
}

func fileOpDone(tx *journal.Tx, d DepositOp) error {
	if d.State != OpSuccess {
		return nil
	}
	return tx.PutKey(journal.DoneByTime, timeKey(d.UpdatedAt, doneOp+d.OutRequestNo))
}

// doneIn calls fn once for each kind and id filed in [from, to).
func doneIn(tx *journal.Tx, from, to time.Time, fn func(kind, id string) error) error {
	end := timeKey(to.UnixMilli(), "")
	seen := map[string]bool{}
	return tx.Seek(journal.DoneByTime, timeKey(from.UnixMilli(), ""), func(k string, _ []byte) (bool, error) {
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

// openOrder: a payment a start must resume or watch — not terminal
// (UNKNOWN and ATTENTION included), or a deposit still frozen.
func openOrder(p Payment) bool {
	return !Terminal(p.State) || (p.State == Paid && p.Deposit && p.DepositState != DepositConsumed && p.DepositState != DepositReleased)
}

// openOrders calls fn with each open payment.
func openOrders(tx *journal.Tx, fn func(Payment) error) error {
	return tx.Seek(journal.OpenOrders, "", func(k string, _ []byte) (bool, error) {
		var p Payment
		ok, err := tx.Get(journal.Orders, k, &p)
		if err != nil || !ok {
			return err == nil, err
		}
		return true, fn(p)
	})
}

// putRefundIndex files a refund under its order.
func putRefundIndex(tx *journal.Tx, r Refund) error {
	return tx.PutKey(journal.RefundsByOrder, r.OutTradeNo+"/"+r.OutRefundNo)
}

// refundsOf calls fn with each refund of order no.
func refundsOf(tx *journal.Tx, no string, fn func(Refund) error) error {
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

// filePrint writes a print job and keeps it in the queue while not done.
func filePrint(tx *journal.Tx, r printRecord) error {
	if err := tx.Put(journal.Print, r.JobID, r); err != nil {
		return err
	}
	if r.Done {
		return tx.Delete(journal.PrintQueue, seqKey(r.Seq))
	}
	return tx.Put(journal.PrintQueue, seqKey(r.Seq), r.JobID)
}

const metaIndexes = "indexes.v6"

// buildIndexes files the records of a journal made before the indexes,
// once (the only whole-bucket read for them).
func (a *Agent) buildIndexes() error {
	return a.j.Update(func(tx *journal.Tx) error {
		var done bool
		if _, err := tx.Get(journal.Meta, metaIndexes, &done); err != nil || done {
			return err
		}
		n := 0
		err := tx.ForEach(journal.Orders, func(_ string, v []byte) error {
			var p Payment
			if json.Unmarshal(v, &p) == nil {
				n++
				if openOrder(p) {
					if err := tx.PutKey(journal.OpenOrders, p.OutTradeNo); err != nil {
						return err
					}
				}
				if p.Deposit {
					if err := tx.PutKey(journal.DepositsByTime, timeKey(p.CreatedAt, p.OutTradeNo)); err != nil {
						return err
					}
				}
				return tx.PutKey(journal.OrdersByTime, timeKey(p.CreatedAt, p.OutTradeNo))
			}
			return nil
		})
		if err == nil {
			err = tx.ForEach(journal.Orders, func(_ string, v []byte) error {
				var p Payment
				if json.Unmarshal(v, &p) == nil {
					return fileDone(tx, p)
				}
				return nil
			})
		}
		if err == nil {
			err = tx.ForEach(journal.Refunds, func(_ string, v []byte) error {
				var r Refund
				if json.Unmarshal(v, &r) == nil {
					if err := fileRefundDone(tx, r); err != nil {
						return err
					}
					return putRefundIndex(tx, r)
				}
				return nil
			})
		}
		if err == nil {
			err = tx.ForEach(journal.Deposits, func(_ string, v []byte) error {
				var d DepositOp
				if json.Unmarshal(v, &d) == nil {
					if err := fileOpDone(tx, d); err != nil {
						return err
					}
					return tx.PutKey(journal.DepositsByOrder, d.OutTradeNo+"/"+d.OutRequestNo)
				}
				return nil
			})
		}
		if err == nil {
			err = tx.ForEach(journal.Print, func(_ string, v []byte) error {
				var r printRecord
				if json.Unmarshal(v, &r) == nil && !r.Done {
					return tx.Put(journal.PrintQueue, seqKey(r.Seq), r.JobID)
				}
				return nil
			})
		}
		// The open index (journal.OpenRecords): a record written again
		// files itself. The last said announcement for the function key.
		if err == nil {
			err = refile[Refund](tx, journal.Refunds)
		}
		if err == nil {
			err = refile[DepositOp](tx, journal.Deposits)
		}
		if err == nil {
			// Notifications: the open index, and the queue in arrival order.
			var owed []notifyRecord
			err = tx.ForEach(journal.Notify, func(_ string, v []byte) error {
				var r notifyRecord
				if json.Unmarshal(v, &r) == nil {
					owed = append(owed, r)
				}
				return nil
			})
			for _, r := range owed {
				if err == nil {
					err = putNotify(tx, r)
				}
			}
		}
		if err == nil {
			err = refile[speechRecord](tx, journal.Speech)
		}
		if err == nil {
			var last speechRecord
			err = tx.ForEach(journal.Speech, func(k string, v []byte) error {
				var r speechRecord
				if json.Unmarshal(v, &r) == nil && r.Done && r.Said != "" && !r.Since.Before(last.Since) {
					last = r
				}
				return nil
			})
			if err == nil && last.ID != "" {
				err = tx.Put(journal.Meta, metaLastSaid, last.ID)
			}
		}
		if err != nil {
			return fmt.Errorf("build indexes: %w", err)
		}
		if n > 0 {
			a.log.Info("journal indexes built", "orders", n)
		}
		return tx.Put(journal.Meta, metaIndexes, true)
	})
}

// refile writes each readable record of bucket again, as T, so that Put
// files it in journal.OpenRecords.
func refile[T journal.Opener](tx *journal.Tx, bucket string) error {
	type kv struct {
		k string
		v T
	}
	var all []kv
	err := tx.ForEach(bucket, func(k string, v []byte) error {
		var r T
		if json.Unmarshal(v, &r) == nil {
			all = append(all, kv{k, r})
		}
		return nil
	})
	for _, r := range all {
		if err == nil {
			err = tx.Put(bucket, r.k, r.v)
		}
	}
	return err
}
