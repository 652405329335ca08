package device

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/device/notify"
	"github.com/posagent/posagent/device/orders"
	"github.com/posagent/posagent/device/printq"
	"github.com/posagent/posagent/device/staff"
	"github.com/posagent/posagent/journal"
)

func records(t testing.TB, a *Agent, bucket string) int {
	n := 0
	a.j.View(func(tx *journal.Tx) error { return tx.ForEach(bucket, func(string, []byte) error { n++; return nil }) })
	return n
}

// Settled orders past the retention are folded into day summaries, with
// their refunds and deposit operations, and dropped; what is not settled
// stays whatever its age; the day totals add up to what was dropped.
func TestRetireFoldsOldOrders(t *testing.T) {
	a := fuzzAgent(t)
	now := time.Now()
	old := fill(t, a, 300, now.Add(-500*24*time.Hour))
	fill(t, a, 0, now)
	err := a.j.Update(func(tx *journal.Tx) error {
		for i, r := range []Refund{
			{OutRefundNo: "R-1", OutTradeNo: old[0].OutTradeNo, Amount: 30, State: RefundSuccess},
			{OutRefundNo: "R-2", OutTradeNo: old[1].OutTradeNo, Amount: 40, State: RefundFail},
			{OutRefundNo: "R-3", OutTradeNo: old[2].OutTradeNo, Amount: 50, State: RefundPending}, // in flight: kept
		} {
			_ = i
			if err := tx.Put(journal.Refunds, r.OutRefundNo, r); err != nil {
				return err
			}
			if err := orders.FileRefund(tx, r); err != nil {
				return err
			}
		}
		at := now.Add(-450 * 24 * time.Hour).UnixMilli()
		for _, since := range []int64{at / 1000, now.Add(-401 * 24 * time.Hour).Unix(), now.Add(-399 * 24 * time.Hour).Unix(), now.Unix()} { // Unix s, as closeShift files them
			if err := tx.Put(journal.Shifts, "closed:"+fmt.Sprint(since)+":s1", map[string]int64{"count": 1}); err != nil {
				return err
			}
		}
		if err := staff.Open(tx, ShiftRecord{Since: at / 1000}); err != nil { // open: never retired
			return err
		}
		for _, p := range []Payment{
			{OutTradeNo: "P-FROZEN", Amount: 50000, State: Paid, Deposit: true, DepositState: DepositFrozen, CreatedAt: at},
			{OutTradeNo: "P-ATTN", Amount: 700, State: Attention, CreatedAt: at},
			{OutTradeNo: "P-FAILED", Amount: 800, State: Failed, CreatedAt: at},
			{OutTradeNo: "P-NEW", Amount: 900, State: Paid, Wallet: "alipay", CreatedAt: now.UnixMilli()},
		} {
			if err := orders.Put(tx, p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	n, err := a.retire(now.Add(-400 * 24 * time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n != 300 { // 299 settled old orders and P-FAILED
		t.Fatalf("retired %d, want 300", n)
	}
	var left []string
	a.j.View(func(tx *journal.Tx) error {
		return tx.ForEach(journal.Orders, func(k string, _ []byte) error { left = append(left, k); return nil })
	})
	if fmt.Sprint(left) != fmt.Sprintf("[P-ATTN P-FROZEN P-NEW %s]", old[2].OutTradeNo) {
		t.Fatalf("kept %v", left)
	}
	if c := records(t, a, journal.Shifts); c != 3 { // the open one, and those begun within the retention
		t.Fatalf("%d shift records kept, want 3", c)
	}
	if c := records(t, a, journal.Refunds); c != 1 {
		t.Fatalf("%d refunds kept, want the one in flight", c)
	}
	if c := records(t, a, journal.OrdersByTime); c != 4 {
		t.Fatalf("%d time-index entries", c)
	}
	if c := records(t, a, journal.DoneByTime); c != 1 { // P-NEW's; the old ones went with their records
		t.Fatalf("%d summary-index entries", c)
	}
	ds, err := a.days("", "9999-12-31")
	if err != nil {
		t.Fatal(err)
	}
	var orders, pays, unpaid, refunds int
	var amount, refunded int64
	for _, d := range ds {
		orders, pays, unpaid, refunds = orders+d.Orders, pays+d.PayCount, unpaid+d.Unpaid, refunds+d.RefundCount
		amount, refunded = amount+d.PayAmount, refunded+d.RefundAmount
	}
	if orders != 300 || pays != 299 || unpaid != 1 || amount != 299*100 || refunds != 1 || refunded != 30 {
		t.Fatalf("days: %d orders, %d paid (%d fen), %d unpaid, %d refunds (%d fen)", orders, pays, amount, unpaid, refunds, refunded)
	}
	// Again: nothing more goes.
	if n, _ := a.retire(now.Add(-400 * 24 * time.Hour)); n != 0 {
		t.Fatalf("a second pass retired %d", n)
	}
}

// A busy shop's year (500 payments a day, retention 30 days, retiring
// daily): the journal file grows for the first month, then stays the same
// size, its freed pages reused.
func TestJournalBoundedOverAYear(t *testing.T) {
	if testing.Short() {
		t.Skip("a simulated year")
	}
	a := fuzzAgent(t, func(c *config.Config) { c.Journal.RetentionDays = 30 })
	start := time.Now().Add(-365 * 24 * time.Hour)
	size := func() int64 { return a.j.InUse() }
	var at60, at365 int64
	for day := 0; day < 365; day++ {
		end := start.Add(time.Duration(day+1) * 24 * time.Hour)
		err := a.j.Update(func(tx *journal.Tx) error {
			for i := 0; i < 500; i++ {
				at := end.Add(-time.Duration(i+1) * time.Minute).UnixMilli()
				p := Payment{OutTradeNo: fmt.Sprintf("P%03d%04d", day, i), Amount: 100, State: Paid, Wallet: "wechat", CreatedAt: at, ConfirmedAt: at,
					Desc: "咖啡 两杯"}
				if err := orders.Put(tx, p); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.retire(end.Add(-a.retention())); err != nil {
			t.Fatal(err)
		}
		switch day {
		case 59:
			at60 = size()
		case 364:
			at365 = size()
		}
	}
	kept := records(t, a, journal.Orders)
	fi, _ := os.Stat(a.j.Path())
	t.Logf("journal pages: %d KB after 60 days, %d KB after 365; file %d KB (%d orders kept, %d days summarised)", at60>>10, at365>>10, fi.Size()>>10, kept, records(t, a, journal.Days))
	if kept > 31*500 {
		t.Fatalf("%d orders kept with a 30-day retention", kept)
	}
	if at365 > at60*12/10 {
		t.Fatalf("the file grew from %d to %d bytes between day 60 and day 365", at60, at365)
	}
}

// A shift closed the way the flow closes it goes once it began before the
// cutoff, and not before.
func TestRetireDropsClosedShifts(t *testing.T) {
	a := fuzzAgent(t)
	now := time.Now()
	if err := a.j.Update(func(tx *journal.Tx) error {
		if err := staff.Open(tx, ShiftRecord{Staff: Staff{ID: "s1"}, Since: now.Add(-time.Hour).Unix()}); err != nil {
			return err
		}
		_, err := a.closeShift(tx, "")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.retire(now.Add(-2 * time.Hour)); err != nil || records(t, a, journal.Shifts) != 1 {
		t.Fatalf("a shift begun after the cutoff: %d kept, %v", records(t, a, journal.Shifts), err)
	}
	if _, err := a.retire(now); err != nil || records(t, a, journal.Shifts) != 0 {
		t.Fatalf("a shift begun before the cutoff: %d kept, %v", records(t, a, journal.Shifts), err)
	}
}

// Every record of a bucket pruned by age begins with its "at" as
// json.Marshal writes it, even at zero: the journal then reads the time it
// files a record under from the record's first bytes, without decoding it
// (journal.Tx.Put), on every command's path.
func TestPrunableRecordsLeadWithAt(t *testing.T) {
	for bucket, v := range map[string]any{
		journal.Seen:   seenRecord{},
		journal.Notify: notify.Record{},
		journal.Print:  printq.Job{},
		journal.Speech: speechRecord{},
	} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte(`{"at":`)) {
			t.Errorf("%s: a %T is written %.40s…, not beginning with its \"at\"", bucket, v, b)
		}
	}
	if len(journal.Prunable) != 4 {
		t.Errorf("prunable buckets %v: a new one needs its record here", journal.Prunable)
	}
}
