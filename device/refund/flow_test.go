package refund

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/posagent/posagent/device/exchange"
	"github.com/posagent/posagent/device/orders"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/wire"
)

type link struct{ sent chan mqtt.Message }

func (l *link) Send(m mqtt.Message) error { l.sent <- m; return nil }

// TestRefundPacedAtProductionTimings runs a refund with the production
// timings on the bubble's clock: the request is answered PROCESSING at
// once, so the next request is refund.query one refund poll (5 s) later,
// not at once; a SYSTEMERROR to that query sends the request again, same
// out_refund_no, one poll later still; SUCCESS ends it. The success adds
// to the order's refunded amount and owes one completion; a second refund
// of more than is left is refused.
func TestRefundPacedAtProductionTimings(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		j, err := journal.Open(filepath.Join(t.TempDir(), "journal.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer j.Close()
		p := orders.Payment{OutTradeNo: "P1", Amount: 12850, State: orders.Paid, Wallet: "alipay", TransactionID: "T1",
			PaidAt: time.Now().Unix()}
		if err := j.Update(func(tx *journal.Tx) error { return orders.Put(tx, p) }); err != nil {
			t.Fatal(err)
		}
		l := &link{sent: make(chan mqtt.Message, 16)}
		var mu sync.Mutex
		var owed []orders.Completion
		var results []string
		u := &Runner{Host: exchange.Host{
			Journal: j, Requests: exchange.NewRequests(l, "dev-1", time.Now), Pay: pc, Now: time.Now,
			Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Number: func() string { return "R1" },
			Events: exchange.Events{
				Emit: func(tx *journal.Tx, typ, _ string, body any) (mqtt.Message, error) {
					tx.OnCommit(func() { mu.Lock(); results = append(results, body.(wire.RefundResult).State); mu.Unlock() })
					return mqtt.Message{Type: typ}, nil
				},
				Flush: func() {},
			},
			Owe: func(tx *journal.Tx, c orders.Completion) error {
				tx.OnCommit(func() { mu.Lock(); owed = append(owed, c); mu.Unlock() })
				return nil
			},
			Completed: func(string) {},
		},
			Changed: func(orders.Refund) {},
			Say:     func(w string) { t.Errorf("said %q", w) },
		}
		var r orders.Refund
		if err := j.Update(func(tx *journal.Tx) error { r, err = u.Create(tx, "P1", 10000, "S1"); return err }); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		run := u.Open(r.OutRefundNo)
		done := make(chan error, 1)
		go func() { done <- run(context.Background()) }()
		answers := []wire.RefundStatus{{State: "PROCESSING"}, {State: "FAIL", ErrCode: "SYSTEMERROR"}, {State: "SUCCESS", RefundID: "X1"}}
		want := []struct {
			at  time.Duration
			typ string
		}{{0, wire.TypeRefundRequest}, {5 * time.Second, wire.TypeRefundQuery}, {10 * time.Second, wire.TypeRefundRequest}}
		for i, ans := range answers {
			m := <-l.sent
			var body wire.RefundQuery
			json.Unmarshal(m.Body, &body)
			if at := time.Since(start); at != want[i].at || m.Type != want[i].typ || body.OutRefundNo != "R1" {
				t.Errorf("request %d: %s at %v for %q, want %s at %v", i, m.Type, at, body.OutRefundNo, want[i].typ, want[i].at)
			}
			ans.OutRefundNo = "R1"
			if err := u.Deliver("R1", ans); err != nil {
				t.Fatal(err)
			}
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		got, err := u.Load("R1")
		if err != nil || got.State != orders.RefundSuccess || got.RefundID != "X1" || got.Tries != 3 {
			t.Errorf("refund journaled as %+v, %v", got, err)
		}
		var left int64
		j.View(func(tx *journal.Tx) error {
			p, _, _ = orders.Get(tx, "P1")
			left, _, err = Refundable(tx, p)
			return err
		})
		if p.Refunded != 10000 || left != 2850 {
			t.Errorf("order refunded %d, %d left; want 10000, 2850", p.Refunded, left)
		}
		mu.Lock()
		if len(owed) != 1 || owed[0].Kind != "refund" || owed[0].Amount != 10000 || owed[0].OutTradeNo != "P1" {
			t.Errorf("owed %+v", owed)
		}
		if len(results) != 3 || results[0] != orders.RefundPending || results[1] != orders.RefundProcessing || results[2] != orders.RefundSuccess {
			t.Errorf("refund.result states %v", results)
		}
		mu.Unlock()
		u.Number = func() string { return "R2" }
		err = j.Update(func(tx *journal.Tx) error { _, err := u.Create(tx, "P1", 2851, "S1"); return err })
		if err == nil || orders.Words(err) == "" {
			t.Errorf("a refund past what is left: %v", err)
		}
	})
}
