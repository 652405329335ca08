package device

import (
	"encoding/json"
	"fmt"

	"github.com/posagent/posagent/device/notify"
	"github.com/posagent/posagent/device/orders"
	"github.com/posagent/posagent/device/printq"
	"github.com/posagent/posagent/journal"
)

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
				if orders.IsOpen(p) {
					if err := tx.PutKey(journal.OpenOrders, p.OutTradeNo); err != nil {
						return err
					}
				}
				if p.Deposit {
					if err := tx.PutKey(journal.DepositsByTime, orders.TimeKey(p.CreatedAt, p.OutTradeNo)); err != nil {
						return err
					}
				}
				return tx.PutKey(journal.OrdersByTime, orders.TimeKey(p.CreatedAt, p.OutTradeNo))
			}
			return nil
		})
		if err == nil {
			err = tx.ForEach(journal.Orders, func(_ string, v []byte) error {
				var p Payment
				if json.Unmarshal(v, &p) == nil {
					return orders.FileDone(tx, p)
				}
				return nil
			})
		}
		if err == nil {
			err = tx.ForEach(journal.Refunds, func(_ string, v []byte) error {
				var r Refund
				if json.Unmarshal(v, &r) == nil {
					if err := orders.FileRefundDone(tx, r); err != nil {
						return err
					}
					return orders.FileRefund(tx, r)
				}
				return nil
			})
		}
		if err == nil {
			err = tx.ForEach(journal.Deposits, func(_ string, v []byte) error {
				var d DepositOp
				if json.Unmarshal(v, &d) == nil {
					if err := orders.FileOpDone(tx, d); err != nil {
						return err
					}
					return tx.PutKey(journal.DepositsByOrder, d.OutTradeNo+"/"+d.OutRequestNo)
				}
				return nil
			})
		}
		if err == nil {
			err = tx.ForEach(journal.Print, func(_ string, v []byte) error {
				var r printq.Job
				if json.Unmarshal(v, &r) == nil && !r.Done {
					return tx.Put(journal.PrintQueue, journal.SeqKey(r.Seq), r.JobID)
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
			var owed []notify.Record
			err = tx.ForEach(journal.Notify, func(_ string, v []byte) error {
				var r notify.Record
				if json.Unmarshal(v, &r) == nil {
					owed = append(owed, r)
				}
				return nil
			})
			for _, r := range owed {
				if err == nil {
					err = notify.Put(tx, r)
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
