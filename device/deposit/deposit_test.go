package deposit

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/device/exchange"
	"github.com/posagent/posagent/device/orders"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/wire"
)

// pc is the production timings: requests paced from a 5 s poll interval.
var pc = config.Pay{PollIntervalMS: 5000, PollTimeoutMS: 45000, ReverseAfterMS: 15000, ReverseMaxTries: 10, DepositReleaseAfterMS: 30 * 24 * 3600 * 1000}

// link is the platform's side of the requests: each one sent, with when.
type link struct{ sent chan mqtt.Message }

func (l *link) Send(m mqtt.Message) error { l.sent <- m; return nil }

// rig is a Runner on a real journal, recording what it tells the device:
// events committed, completions owed and operations completed.
type rig struct {
	u    *Runner
	j    *journal.Journal
	link *link

	mu        sync.Mutex
	events    []wire.DepositResult
	owed      []orders.Completion
	completed []string
}

// frozen is the deposit the tests operate on: ￥500.00 frozen.
var frozen = orders.Payment{OutTradeNo: "P1", Amount: 50000, Deposit: true, State: orders.Paid,
	DepositState: orders.DepositFrozen, Wallet: "wechat", TransactionID: "T1"}

func newRig(t *testing.T, deposits ...orders.Payment) *rig {
	j, err := journal.Open(filepath.Join(t.TempDir(), "journal.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	if err := j.Update(func(tx *journal.Tx) error {
		for _, p := range deposits {
			if err := orders.Put(tx, p); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	r := &rig{j: j, link: &link{sent: make(chan mqtt.Message, 64)}}
	n := 0
	r.u = &Runner{Host: exchange.Host{
		Journal: j, Requests: exchange.NewRequests(r.link, "dev-1", time.Now), Pay: pc, Now: time.Now,
		Log:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Number: func() string { n++; return "Q" + string(rune('0'+n)) },
		Events: exchange.Events{
			Emit: func(tx *journal.Tx, typ, _ string, body any) (mqtt.Message, error) {
				if typ != wire.TypeDepositResult {
					t.Errorf("emitted %s", typ)
				}
				tx.OnCommit(func() { r.mu.Lock(); r.events = append(r.events, body.(wire.DepositResult)); r.mu.Unlock() })
				return mqtt.Message{Type: typ}, nil
			},
			Flush: func() {},
		},
		Owe: func(tx *journal.Tx, c orders.Completion) error {
			tx.OnCommit(func() { r.mu.Lock(); r.owed = append(r.owed, c); r.mu.Unlock() })
			return nil
		},
		Completed: func(no string) { r.mu.Lock(); r.completed = append(r.completed, no); r.mu.Unlock() },
	},
		Changed: func(orders.Payment, []orders.DepositOp) {},
	}
	return r
}

func (r *rig) create(t *testing.T, op string, amount int64) orders.DepositOp {
	var d orders.DepositOp
	err := r.j.Update(func(tx *journal.Tx) error {
		var err error
		d, err = r.u.Create(tx, "P1", op, amount, "S1", func(bool) error { return nil })
		return err
	})
	if err != nil {
		t.Fatalf("create %s: %v", op, err)
	}
	return d
}

// TestConsumePacedAtProductionTimings runs a consume with the production
// timings on the bubble's clock. The platform is silent to the first
// request, answers the query NOTFOUND at once (the request never
// arrived), and the consume sent again SUCCESS. The requests go at 0 s,
// 5 s (no answer within the backoff: deposit.query) and 15 s — not at
// 5 s, when the NOTFOUND came: the next request waits out the query's
// 10 s backoff. Every request carries the one out_request_no; the success
// moves the deposit and owes one completion.
func TestConsumePacedAtProductionTimings(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, frozen)
		d := r.create(t, "consume", 30000)
		start := time.Now()
		done := make(chan error, 1)
		run := r.u.Open(d.OutRequestNo)
		go func() { done <- run(context.Background()) }()

		type step struct {
			at  time.Duration
			typ string
		}
		var got []step
		answers := []*wire.DepositStatus{
			nil,
			{OutRequestNo: d.OutRequestNo, State: "NOTFOUND"},
			{OutRequestNo: d.OutRequestNo, State: orders.OpSuccess, Consumed: 30000, Released: 20000},
		}
		for _, ans := range answers {
			m := <-r.link.sent
			got = append(got, step{time.Since(start), m.Type})
			var body wire.DepositRequest
			if err := json.Unmarshal(m.Body, &body); err != nil || body.OutRequestNo != d.OutRequestNo || body.OutTradeNo != "P1" {
				t.Errorf("%s body %s: %v", m.Type, m.Body, err)
			}
			if ans != nil {
				if err := r.u.Deliver(d.OutRequestNo, *ans); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		want := []step{{0, "deposit.consume"}, {5 * time.Second, wire.TypeDepositQuery}, {15 * time.Second, "deposit.consume"}}
		if len(got) != len(want) {
			t.Fatalf("requests %v, want %v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("request %d: %v, want %v", i, got[i], want[i])
			}
		}
		select {
		case m := <-r.link.sent:
			t.Errorf("a request after the success: %s", m.Type)
		default:
		}
		if r.u.Running(d.OutRequestNo) {
			t.Error("inbox still open after the end")
		}
		var op orders.DepositOp
		var p orders.Payment
		r.j.View(func(tx *journal.Tx) error {
			tx.Get(journal.Deposits, d.OutRequestNo, &op)
			p, _, _ = orders.Get(tx, "P1")
			return nil
		})
		if op.State != orders.OpSuccess || op.Tries != 3 || op.Consumed != 30000 || op.Released != 20000 {
			t.Errorf("operation journaled as %+v", op)
		}
		if p.DepositState != orders.DepositConsumed || p.Consumed != 30000 || p.Released != 20000 {
			t.Errorf("deposit journaled as %+v", p)
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if len(r.owed) != 1 || r.owed[0] != (orders.Completion{OrderID: d.OutRequestNo, Kind: "consume", Amount: 30000, Wallet: "wechat", OutTradeNo: "P1", StaffID: "S1", TransactionID: "T1"}) {
			t.Errorf("owed %+v", r.owed)
		}
		if len(r.events) != 2 || r.events[0].State != orders.OpPending || r.events[1].State != orders.OpSuccess || r.events[1].Consumed != 30000 {
			t.Errorf("deposit.result events %+v", r.events)
		}
		if len(r.completed) != 1 || r.completed[0] != d.OutRequestNo {
			t.Errorf("completed %v", r.completed)
		}
	})
}

// TestCreate: an operation is refused with the reason before anything is
// journaled, and the right asked for is the refund right exactly when
// money goes back.
func TestCreate(t *testing.T) {
	consumed := frozen
	consumed.DepositState = orders.DepositConsumed
	notDeposit := frozen
	notDeposit.Deposit = false
	denied := errors.New("denied")
	tests := []struct {
		name        string
		p           orders.Payment
		op          string
		amount      int64
		pending     bool
		want        error
		refundRight bool
	}{
		{"consume all takes the shift", frozen, "consume", 50000, false, nil, false},
		{"consume part gives the rest back", frozen, "consume", 100, false, nil, true},
		{"unfreeze gives it all back", frozen, "unfreeze", 0, false, nil, true},
		{"not a deposit", notDeposit, "consume", 100, false, orders.ErrNotFound, false},
		{"not frozen", consumed, "unfreeze", 0, false, orders.ErrConflict, true},
		{"one at a time", frozen, "unfreeze", 0, true, orders.ErrConflict, true},
		{"more than frozen", frozen, "consume", 50001, false, orders.ErrInvalid, false},
		{"nothing", frozen, "consume", 0, false, orders.ErrInvalid, true},
		{"unknown op", frozen, "refund", 0, false, orders.ErrInvalid, true},
		{"refused by the roster", frozen, "consume", 50000, false, denied, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, tc.p)
			if tc.pending {
				r.create(t, "consume", 50000)
			}
			var asked []bool
			var d orders.DepositOp
			err := r.j.Update(func(tx *journal.Tx) error {
				var err error
				d, err = r.u.Create(tx, "P1", tc.op, tc.amount, "S1", func(refund bool) error {
					asked = append(asked, refund)
					if tc.want == denied {
						return denied
					}
					return nil
				})
				return err
			})
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if tc.want != orders.ErrNotFound && (len(asked) != 1 || asked[0] != tc.refundRight) {
				t.Errorf("rights asked %v, want refund right %v", asked, tc.refundRight)
			}
			if err == nil && (d.State != orders.OpPending || d.OutTradeNo != "P1" || (tc.op == "unfreeze" && d.Amount != 0)) {
				t.Errorf("journaled %+v", d)
			}
			if err != nil && d.OutRequestNo != "" {
				t.Errorf("refused but numbered %+v", d)
			}
		})
	}
}

// TestReleasedByTheProvider: a deposit frozen past the provider's release
// age is asked about; the answer RELEASED shows it released, unless an
// operation of its own is pending (its answer decides).
func TestReleasedByTheProvider(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		old := frozen
		old.CreatedAt = time.Now().Add(-31 * 24 * time.Hour).UnixMilli()
		young := frozen
		young.OutTradeNo, young.CreatedAt = "P2", time.Now().Add(-29*24*time.Hour).UnixMilli()
		r := newRig(t, old, young)
		r.u.CheckOld()
		select {
		case m := <-r.link.sent:
			var ref wire.OrderRef
			if json.Unmarshal(m.Body, &ref); m.Type != wire.TypeDepositQuery || ref.OutTradeNo != "P1" {
				t.Errorf("asked %s %s", m.Type, m.Body)
			}
		default:
			t.Fatal("the old deposit was not asked about")
		}
		select {
		case m := <-r.link.sent:
			t.Errorf("the young deposit was asked about too: %s", m.Body)
		default:
		}
		r.u.Released(wire.DepositStatus{OutTradeNo: "P1", DepositState: orders.DepositReleased})
		var p orders.Payment
		r.j.View(func(tx *journal.Tx) error { p, _, _ = orders.Get(tx, "P1"); return nil })
		if p.DepositState != orders.DepositReleased || p.Released != 50000 || p.ReleasedAt != time.Now().UnixMilli() {
			t.Errorf("after RELEASED: %+v", p)
		}

		r.create2(t)
		r.u.Released(wire.DepositStatus{OutTradeNo: "P2", DepositState: orders.DepositReleased})
		r.j.View(func(tx *journal.Tx) error { p, _, _ = orders.Get(tx, "P2"); return nil })
		if p.DepositState != orders.DepositFrozen {
			t.Errorf("released over a pending operation: %+v", p)
		}
	})
}

// create2 journals an unfreeze of P2, left pending.
func (r *rig) create2(t *testing.T) {
	if err := r.j.Update(func(tx *journal.Tx) error {
		_, err := r.u.Create(tx, "P2", "unfreeze", 0, "S1", func(bool) error { return nil })
		return err
	}); err != nil {
		t.Fatal(err)
	}
}
