package books

import (
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/posagent/posagent/device/orders"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/printer"
)

// TestSummarize: each record counts in the window of the instant it was
// settled, once; income by wallet is payments and consumes, and adds up
// to them; frozen and released money is not income.
func TestSummarize(t *testing.T) {
	j, err := journal.Open(filepath.Join(t.TempDir(), "journal.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	from := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	to := from.Add(8 * time.Hour)
	in, before, after := from.Add(time.Hour).UnixMilli(), from.Add(-time.Minute).UnixMilli(), to.UnixMilli()
	pays := []orders.Payment{
		{OutTradeNo: "P1", Amount: 12850, State: orders.Paid, Wallet: "wechat", CreatedAt: in, ConfirmedAt: in},
		// Started before the window, confirmed in it: this window's.
		{OutTradeNo: "P2", Amount: 500, State: orders.Paid, Wallet: "alipay", CreatedAt: before, ConfirmedAt: in},
		// Confirmed at the window's end: the next one's.
		{OutTradeNo: "P3", Amount: 700, State: orders.Paid, Wallet: "wechat", CreatedAt: in, ConfirmedAt: after},
		{OutTradeNo: "P4", Amount: 900, State: orders.Failed, Wallet: "wechat", CreatedAt: in},
		// Deposits: one frozen in the window, later consumed in part; one
		// the provider released in the window.
		{OutTradeNo: "D1", Amount: 50000, Deposit: true, State: orders.Paid, DepositState: orders.DepositConsumed,
			Consumed: 30000, Released: 20000, Wallet: "wechat", CreatedAt: in, ConfirmedAt: in},
		{OutTradeNo: "D2", Amount: 10000, Deposit: true, State: orders.Paid, DepositState: orders.DepositReleased,
			Released: 10000, ReleasedAt: in, Wallet: "alipay", CreatedAt: before, ConfirmedAt: before},
	}
	err = j.Update(func(tx *journal.Tx) error {
		for _, p := range pays {
			if err := orders.Put(tx, p); err != nil {
				return err
			}
		}
		for _, r := range []orders.Refund{
			{OutRefundNo: "R1", OutTradeNo: "P1", Amount: 850, State: orders.RefundSuccess, UpdatedAt: in},
			{OutRefundNo: "R2", OutTradeNo: "P1", Amount: 1000, State: orders.RefundFail, UpdatedAt: in},
		} {
			if err := tx.Put(journal.Refunds, r.OutRefundNo, r); err != nil {
				return err
			}
			if err := orders.FileRefundDone(tx, r); err != nil {
				return err
			}
		}
		return orders.PutOp(tx, orders.DepositOp{OutRequestNo: "Q1", OutTradeNo: "D1", Op: "consume", State: orders.OpSuccess,
			Amount: 30000, Consumed: 30000, Released: 20000, UpdatedAt: in})
	})
	if err != nil {
		t.Fatal(err)
	}
	var s printer.ShiftSummary
	if err := j.View(func(tx *journal.Tx) (err error) { s, err = Summarize(tx, "店", "dev-1", from, to); return err }); err != nil {
		t.Fatal(err)
	}
	want := printer.ShiftSummary{Store: "店", Device: "dev-1", Start: from, End: to,
		PayCount: 2, PayAmount: 13350, RefundCount: 1, RefundAmount: 850,
		DepositCount: 1, DepositAmount: 50000, ConsumeCount: 1, ConsumeAmount: 30000,
		ConsumeReleasedCount: 1, ConsumeReleased: 20000, UnfreezeCount: 1, UnfreezeAmount: 10000,
		ByWallet: []printer.WalletTotal{{Wallet: "alipay", Count: 1, Amount: 500, WalletName: "支付宝"}, {Wallet: "wechat", Count: 2, Amount: 42850, WalletName: "微信"}}}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("summary\n got %+v\nwant %+v", s, want)
	}
	if s.Net() != 13350+30000-850 {
		t.Errorf("net %d", s.Net())
	}
}
