package device

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/posagent/posagent/audio"
	"github.com/posagent/posagent/device/orders"
	"github.com/posagent/posagent/device/refund"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
)

// fill puts n paid orders, one a minute back from end, and refunds of the
// first few, through the indexes.
func fill(tb testing.TB, a *Agent, n int, end time.Time) []Payment {
	tb.Helper()
	ps := make([]Payment, 0, n)
	for i := 0; i < n; {
		err := a.j.Update(func(tx *journal.Tx) error {
			for k := 0; k < 5000 && i < n; k, i = k+1, i+1 {
				at := end.Add(-time.Duration(i+1) * time.Minute).UnixMilli()
				p := Payment{OutTradeNo: fmt.Sprintf("P%010d", i), Amount: 100, State: Paid, Wallet: "wechat", CreatedAt: at, ConfirmedAt: at}
				if err := orders.Put(tx, p); err != nil {
					return err
				}
				ps = append(ps, p)
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
	return ps
}

func getOrders(tb testing.TB, h http.Handler, a *Agent, query string) ([]View, string, int) {
	req := httptest.NewRequest("GET", "/v1/orders?"+query, nil)
	req.Host = "127.0.0.1:8765"
	req.Header.Set("Authorization", "Bearer "+a.APIToken())
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	var vs []View
	json.Unmarshal(w.Body.Bytes(), &vs)
	return vs, w.Header().Get("X-Next-Cursor"), w.Code
}

// GET /v1/orders pages a window newest first: every order once, in order,
// across pages; bad limits and cursors are refused.
func TestOrdersPaged(t *testing.T) {
	a := fuzzAgent(t)
	end := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	fill(t, a, 25, end)
	h := a.Handler()
	win := fmt.Sprintf("from=%d&to=%d", end.Add(-24*time.Hour).Unix(), end.Unix())
	var all []View
	cursor := ""
	for page := 0; page < 5; page++ {
		q := win + "&limit=10"
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		vs, next, code := getOrders(t, h, a, q)
		if code != 200 {
			t.Fatalf("page %d: %d", page, code)
		}
		all = append(all, vs...)
		if next == "" {
			break
		}
		cursor = next
	}
	if len(all) != 25 {
		t.Fatalf("%d orders over the pages, want 25", len(all))
	}
	for i, v := range all {
		if want := fmt.Sprintf("P%010d", i); v.OutTradeNo != want {
			t.Fatalf("order %d is %s, want %s (newest first)", i, v.OutTradeNo, want)
		}
	}
	// A window in the middle: from and to bound it.
	vs, next, _ := getOrders(t, h, a, fmt.Sprintf("from=%d&to=%d", end.Add(-10*time.Minute).Unix(), end.Add(-5*time.Minute).Unix()))
	if len(vs) != 5 || next != "" || vs[0].OutTradeNo != "P0000000005" || vs[4].OutTradeNo != "P0000000009" {
		t.Fatalf("the window holds %d (%v)", len(vs), vs)
	}
	for _, q := range []string{"limit=0", "limit=1001", "limit=x", "cursor=zz", "cursor=00"} {
		if _, _, code := getOrders(t, h, a, win+"&"+q); code != 400 {
			t.Errorf("%s: %d", q, code)
		}
	}
}

// The indexes of a journal made before them are built at start.
func TestIndexesBuiltForOldJournal(t *testing.T) {
	r := newRig(t)
	j, err := journal.Open(r.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	// Records as a journal before the indexes held them: values only.
	raw := func(tx *journal.Tx, bucket, key string, v any) {
		b, _ := json.Marshal(v)
		if err := tx.PutRaw(bucket, key, b); err != nil {
			t.Fatal(err)
		}
	}
	j.Update(func(tx *journal.Tx) error {
		raw(tx, journal.Orders, "P-OLD", Payment{OutTradeNo: "P-OLD", Amount: 500, State: Paid, CreatedAt: now.UnixMilli()})
		raw(tx, journal.Orders, "P-DEP", Payment{OutTradeNo: "P-DEP", Amount: 900, State: Paid, Deposit: true, DepositState: DepositConsumed, CreatedAt: now.Add(-time.Second).UnixMilli()}) // today in China time at any hour
		raw(tx, journal.Refunds, "R-OLD", Refund{OutRefundNo: "R-OLD", OutTradeNo: "P-OLD", Amount: 200, State: RefundSuccess})
		raw(tx, journal.Refunds, "R-OPEN", Refund{OutRefundNo: "R-OPEN", OutTradeNo: "P-OLD", Amount: 1, State: RefundPending})
		raw(tx, journal.Deposits, "D-DONE", DepositOp{OutRequestNo: "D-DONE", OutTradeNo: "P-DEP", Op: "consume", State: OpSuccess})
		raw(tx, journal.Speech, "S-1", speechRecord{At: now.Unix(), Record: audio.Record{ID: "S-1", Text: "一", Since: now.Add(-2 * time.Minute), Done: true, Said: "一"}})
		raw(tx, journal.Speech, "S-2", speechRecord{At: now.Unix(), Record: audio.Record{ID: "S-2", Text: "二", Since: now.Add(-time.Minute), Done: true, Said: "二"}})
		return nil
	})
	j.Close()
	r.start()
	var vs []View
	r.api("GET", "/v1/orders", nil, &vs)
	if len(vs) != 2 || vs[0].OutTradeNo != "P-OLD" {
		t.Fatalf("orders %v", vs)
	}
	var ds []DepositView
	r.api("GET", "/v1/deposits", nil, &ds)
	if len(ds) != 1 || ds[0].OutTradeNo != "P-DEP" {
		t.Fatalf("deposits %v", ds)
	}
	// The open index holds the open refund only (a start resumes it).
	var open []string
	r.agent.j.View(func(tx *journal.Tx) error {
		for _, b := range []string{journal.Refunds, journal.Deposits, journal.Speech} {
			tx.OpenKeys(b, func(k string) error { open = append(open, b+"/"+k); return nil })
		}
		return nil
	})
	if fmt.Sprint(open) != "[refunds/R-OPEN]" {
		t.Fatalf("open records %v", open)
	}
	if got := r.agent.lastSaid(); got != "二" {
		t.Fatalf("last said %q, want 二", got)
	}
	r.agent.j.View(func(tx *journal.Tx) error {
		var p Payment
		tx.Get(journal.Orders, "P-OLD", &p)
		left, n, err := refund.Refundable(tx, p)
		if err != nil || left != 299 || n != 2 { // the pending refund counts against what is left
			t.Fatalf("refundable: %d left, %d refunds, %v", left, n, err)
		}
		return nil
	})
}

// BenchmarkOrdersPage: GET /v1/orders?limit=50 at 1,000 and 100,000 orders
// (the figure is per page; it should not grow with the journal).
func BenchmarkOrdersPage(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		// Made once, outside the b.N rounds (each round calls Run's func).
		a := fuzzAgent(b)
		fill(b, a, n, time.Now())
		h := a.Handler()
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				vs, _, _ := getOrders(b, h, a, "limit=50")
				if len(vs) == 0 {
					b.Fatal("no orders")
				}
			}
		})
	}
}

// BenchmarkRefundable: what is left to refund of an order, at 1,000 and
// 100,000 refunds in the journal.
func BenchmarkRefundable(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		a := fuzzAgent(b)
		ps := fill(b, a, n, time.Now())
		for i := 0; i < n; {
			a.j.Update(func(tx *journal.Tx) error {
				for k := 0; k < 5000 && i < n; k, i = k+1, i+1 {
					r := Refund{OutRefundNo: fmt.Sprintf("R%010d", i), OutTradeNo: ps[i].OutTradeNo, Amount: 10, State: RefundSuccess}
					tx.Put(journal.Refunds, r.OutRefundNo, r)
					orders.FileRefund(tx, r)
				}
				return nil
			})
		}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				a.j.View(func(tx *journal.Tx) error {
					left, _, err := refund.Refundable(tx, ps[i%n])
					if err != nil || left != 90 {
						b.Fatalf("left %d %v", left, err)
					}
					return nil
				})
			}
		})
	}
}

// BenchmarkStart: from opening the journal to the link's Run (everything
// owed resumed), at 1,000 and 200,000 settled orders with 2,000 refunds.
// The figure should not grow with the orders kept.
func BenchmarkStart(b *testing.B) {
	for _, n := range []int{1000, 200000} {
		a := fuzzAgent(b)
		ps := fill(b, a, n, time.Now())
		a.j.Update(func(tx *journal.Tx) error {
			for i := 0; i < 2000; i++ {
				r := Refund{OutRefundNo: fmt.Sprintf("R%010d", i), OutTradeNo: ps[i%len(ps)].OutTradeNo, Amount: 1, State: RefundSuccess}
				tx.Put(journal.Refunds, r.OutRefundNo, r)
				orders.FileRefund(tx, r)
			}
			return nil
		})
		// A copy, so the agents started here do not share the file with
		// the one that filled it.
		cfg, path := a.cfg, a.j.Path()+".copy"
		copyFile(b, a.j.Path(), path)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				j, err := journal.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				link := offlineLink{running: make(chan struct{})}
				ag, err := New(Options{Config: cfg, Journal: j, Key: deviceKey(b), Log: quiet(),
					NewLink: func(mqtt.LinkConfig, *journal.Journal, mqtt.Handlers) (Link, error) { return link, nil }})
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() { ag.Run(ctx); close(done) }()
				<-link.running
				b.StopTimer()
				cancel()
				<-done
				j.Close()
				b.StartTimer()
			}
		})
	}
}

func copyFile(tb testing.TB, from, to string) {
	b, err := os.ReadFile(from)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkShiftSummary: the summary of the last hour (a shift's handover)
// at 1,000 and 200,000 orders kept.
func BenchmarkShiftSummary(b *testing.B) {
	for _, n := range []int{1000, 200000} {
		a := fuzzAgent(b)
		now := time.Now().Truncate(time.Millisecond)
		fill(b, a, n, now)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				s, err := a.TransactionSummary(now.Add(-time.Hour), now)
				if err != nil || s.Count != 60 {
					b.Fatalf("%d paid in the hour, %v", s.Count, err)
				}
			}
		})
	}
}

// GET /v1/deposits pages every deposit from its own index, newest first; a
// page reads at most limit entries, so one filtered by state may be short
// yet carry on; every deposit of the state comes once over the pages.
func TestDepositsPaged(t *testing.T) {
	a := fuzzAgent(t)
	end := time.Now()
	fill(t, a, 30, end) // payments in between: not listed
	a.j.Update(func(tx *journal.Tx) error {
		for i := 0; i < 25; i++ {
			st := DepositConsumed
			if i%3 == 0 {
				st = DepositReleased
			}
			at := end.Add(-time.Duration(i)*time.Minute - 30*time.Second).UnixMilli()
			if err := orders.Put(tx, Payment{OutTradeNo: fmt.Sprintf("D%03d", i), Amount: 100, State: Paid, Deposit: true, DepositState: st, CreatedAt: at}); err != nil {
				return err
			}
		}
		return nil
	})
	get := func(q string) ([]DepositView, string, int) {
		w := serve(a, "GET", "/v1/deposits?"+q, "")
		var ds []DepositView
		json.Unmarshal(w.Body.Bytes(), &ds)
		return ds, w.Header().Get("X-Next-Cursor"), w.Code
	}
	pages := func(q string) (all []string, n int) {
		cursor := ""
		for n = 1; n < 20; n++ {
			qq := q
			if cursor != "" {
				qq += "&cursor=" + cursor
			}
			ds, next, code := get(qq)
			if code != 200 || len(ds) > 10 {
				t.Fatalf("%s: %d, %d deposits", qq, code, len(ds))
			}
			for _, d := range ds {
				all = append(all, d.OutTradeNo)
			}
			if next == "" {
				return all, n
			}
			cursor = next
		}
		t.Fatalf("%s: no end of pages", q)
		return
	}
	all, n := pages("limit=10")
	if len(all) != 25 || all[0] != "D000" || all[24] != "D024" || n != 3 {
		t.Fatalf("every deposit: %d over %d pages %v", len(all), n, all)
	}
	released, _ := pages("limit=10&state=released")
	if len(released) != 9 || released[0] != "D000" || released[1] != "D003" {
		t.Fatalf("released %v", released)
	}
	for _, no := range released {
		var i int
		fmt.Sscanf(no, "D%d", &i)
		if i%3 != 0 {
			t.Fatalf("%s is not released", no)
		}
	}
	for _, q := range []string{"limit=0", "cursor=zz", "state=paid"} {
		if _, _, code := get(q); code != 400 {
			t.Errorf("%s: %d", q, code)
		}
	}
}

// BenchmarkPaymentStartCancel: a payment made through the local API
// (journaled, checked against what is unconfirmed and the till's mode)
// and cancelled before a code is scanned, at 1,000 and 200,000 orders
// kept. The figure should not grow with the orders.
func BenchmarkPaymentStartCancel(b *testing.B) {
	for _, n := range []int{1000, 200000} {
		a := fuzzAgent(b)
		fill(b, a, n, time.Now())
		post := func(path, body string) *httptest.ResponseRecorder { return serve(a, "POST", path, body) }
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				w := post("/v1/payments", `{"amount":100}`)
				var v View
				if json.Unmarshal(w.Body.Bytes(), &v); w.Code != http.StatusCreated {
					b.Fatalf("start: %d %s", w.Code, w.Body)
				}
				if w := post("/v1/payments/"+v.OutTradeNo+"/cancel", `{}`); w.Code >= 300 {
					b.Fatalf("cancel: %d %s", w.Code, w.Body)
				}
				for p, _ := a.pays.Load(v.OutTradeNo); !Terminal(p.State); p, _ = a.pays.Load(v.OutTradeNo) {
					time.Sleep(100 * time.Microsecond)
				}
			}
		})
	}
}
