package device

import (
	"strconv"
	"strings"
	"time"

	"github.com/posagent/posagent/device/orders"
	"github.com/posagent/posagent/journal"
)

// Bounded growth: a shop's device runs for years. Settled orders older
// than journal.retention_days (400 by default: past the providers'
// one-year refund window) are folded, with their refunds and deposit
// operations, into one summary per day (journal.Days, GET /v1/days) and
// dropped — a few hundred at a time, each batch its own short write, from
// the oldest by the time index, hourly while running. An order not settled
// (ATTENTION, a deposit still frozen, a refund in flight) is kept whatever
// its age.

// DaySummary is what a day's retired records became.
type DaySummary struct {
	Day            string              `json:"day"` // YYYY-MM-DD, China time, of the orders' creation
	Orders         int                 `json:"orders"`
	PayCount       int                 `json:"pay_count"`
	PayAmount      int64               `json:"pay_amount"`
	RefundCount    int                 `json:"refund_count"`
	RefundAmount   int64               `json:"refund_amount"`
	DepositCount   int                 `json:"deposit_count"`
	DepositAmount  int64               `json:"deposit_amount"`
	ConsumeAmount  int64               `json:"consume_amount"`
	ReleasedAmount int64               `json:"released_amount"`
	Unpaid         int                 `json:"unpaid"` // failed, reversed or cancelled attempts
	Wallets        map[string]DayTotal `json:"wallets,omitempty"`
}

// DayTotal is a wallet's payments of a day.
type DayTotal struct {
	Count  int   `json:"count"`
	Amount int64 `json:"amount"`
}

// retireBatch is how many orders one write transaction retires.
const retireBatch = 200

func (a *Agent) retention() time.Duration {
	d := a.cfg.Journal.RetentionDays
	if d <= 0 {
		d = 400
	}
	return time.Duration(d) * 24 * time.Hour
}

// retire folds and drops the settled orders created before cutoff and
// says how many went.
func (a *Agent) retire(cutoff time.Time) (int, error) {
	end := orders.TimeKey(cutoff.UnixMilli(), "")
	from, total := "", 0
	for {
		var keys []string
		if err := a.j.View(func(tx *journal.Tx) error {
			return tx.Seek(journal.OrdersByTime, from, func(k string, _ []byte) (bool, error) {
				if k >= end || len(keys) == retireBatch {
					return false, nil
				}
				keys = append(keys, k)
				return true, nil
			})
		}); err != nil {
			return total, err
		}
		if len(keys) == 0 {
			if err := a.dropShiftsBefore(cutoff); err != nil {
				return total, err
			}
			return total, a.dropDoneBefore(end)
		}
		from = keys[len(keys)-1] + "\x00"
		n := 0
		err := a.j.Update(func(tx *journal.Tx) error {
			n = 0
			for _, k := range keys {
				done, err := a.retireOrder(tx, k)
				if err != nil {
					return err
				}
				if done {
					n++
				}
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += n
	}
}

// dropDoneBefore drops the summary-index entries older than end (their
// records are retired), a batch per write.
func (a *Agent) dropDoneBefore(end string) error {
	for {
		var keys []string
		if err := a.j.View(func(tx *journal.Tx) error {
			return tx.Seek(journal.DoneByTime, "", func(k string, _ []byte) (bool, error) {
				if k >= end || len(keys) == 1000 {
					return false, nil
				}
				keys = append(keys, k)
				return true, nil
			})
		}); err != nil || len(keys) == 0 {
			return err
		}
		if err := a.j.Update(func(tx *journal.Tx) error {
			for _, k := range keys {
				if err := tx.Delete(journal.DoneByTime, k); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
}

// dropShiftsBefore drops the summaries of shifts begun before cutoff
// (kept as "closed:<since, Unix s>:<staff>", so they sort by start while
// the seconds have 10 digits, until 2286).
func (a *Agent) dropShiftsBefore(cutoff time.Time) error {
	var keys []string
	if err := a.j.View(func(tx *journal.Tx) error {
		return tx.Seek(journal.Shifts, "closed:", func(k string, _ []byte) (bool, error) {
			rest, ok := strings.CutPrefix(k, "closed:")
			ms, _, _ := strings.Cut(rest, ":")
			since, err := strconv.ParseInt(ms, 10, 64)
			if !ok || err != nil || since >= cutoff.Unix() || len(keys) == retireBatch {
				return false, nil
			}
			keys = append(keys, k)
			return true, nil
		})
	}); err != nil || len(keys) == 0 {
		return err
	}
	return a.j.Update(func(tx *journal.Tx) error {
		for _, k := range keys {
			if err := tx.Delete(journal.Shifts, k); err != nil {
				return err
			}
		}
		return nil
	})
}

// retireOrder folds and drops the order of time-index key k, if settled.
func (a *Agent) retireOrder(tx *journal.Tx, k string) (bool, error) {
	no := k[8:]
	var p Payment
	ok, err := tx.Get(journal.Orders, no, &p)
	if err != nil || !ok {
		if err == nil { // an index entry without its order
			err = tx.Delete(journal.OrdersByTime, k)
		}
		return false, err
	}
	if !Terminal(p.State) || (p.State == Paid && p.Deposit && p.DepositState != DepositConsumed && p.DepositState != DepositReleased) {
		return false, nil
	}
	var refunds []Refund
	settled := true
	if err := orders.RefundsOf(tx, no, func(r Refund) error {
		settled = settled && (r.State == RefundSuccess || r.State == RefundFail)
		refunds = append(refunds, r)
		return nil
	}); err != nil {
		return false, err
	}
	ops, err := orders.OpsOf(tx, no)
	if err != nil {
		return false, err
	}
	for _, o := range ops {
		settled = settled && o.State != OpPending
	}
	if !settled {
		return false, nil
	}
	day := time.UnixMilli(p.CreatedAt).In(chinaTime).Format("2006-01-02")
	var d DaySummary
	if _, err := tx.Get(journal.Days, day, &d); err != nil {
		return false, err
	}
	d.Day = day
	d.Orders++
	switch {
	case p.State != Paid:
		d.Unpaid++
	case p.Deposit:
		d.DepositCount++
		d.DepositAmount += p.Amount
		d.ConsumeAmount += p.Consumed
		d.ReleasedAmount += p.Released
	default:
		d.PayCount++
		d.PayAmount += p.Amount
		if d.Wallets == nil {
			d.Wallets = map[string]DayTotal{}
		}
		w := d.Wallets[p.Wallet]
		w.Count++
		w.Amount += p.Amount
		d.Wallets[p.Wallet] = w
	}
	for _, r := range refunds {
		if r.State == RefundSuccess {
			d.RefundCount++
			d.RefundAmount += r.Amount
		}
		if err := tx.Delete(journal.Refunds, r.OutRefundNo); err != nil {
			return false, err
		}
		if err := tx.Delete(journal.RefundsByOrder, no+"/"+r.OutRefundNo); err != nil {
			return false, err
		}
	}
	for _, o := range ops {
		if err := tx.Delete(journal.Deposits, o.OutRequestNo); err != nil {
			return false, err
		}
		if err := tx.Delete(journal.DepositsByOrder, no+"/"+o.OutRequestNo); err != nil {
			return false, err
		}
	}
	if err := tx.Put(journal.Days, day, d); err != nil {
		return false, err
	}
	if err := tx.Delete(journal.Orders, no); err != nil {
		return false, err
	}
	if p.Deposit {
		if err := tx.Delete(journal.DepositsByTime, k); err != nil {
			return false, err
		}
	}
	return true, tx.Delete(journal.OrdersByTime, k)
}

// retireNow runs retire for the configured retention, logging what went.
func (a *Agent) retireNow() {
	n, err := a.retire(a.now().Add(-a.retention()))
	switch {
	case err != nil:
		a.log.Error("retiring old orders", "err", err)
		a.storageFault(err)
	case n > 0:
		a.log.Info("old orders folded into day summaries", "orders", n, "retention_days", int(a.retention()/(24*time.Hour)))
	}
}

// days lists the day summaries from..to (YYYY-MM-DD, inclusive).
func (a *Agent) days(from, to string) ([]DaySummary, error) {
	out := []DaySummary{}
	err := a.j.View(func(tx *journal.Tx) error {
		return tx.Seek(journal.Days, from, func(k string, v []byte) (bool, error) {
			if strings.Compare(k, to) > 0 {
				return false, nil
			}
			var d DaySummary
			if a.decodeRecord(journal.Days, k, v, &d) {
				out = append(out, d)
			}
			return true, nil
		})
	})
	return out, err
}

// chinaTime is the time a person in the shop reads.
var chinaTime = time.FixedZone("CST", 8*3600)
