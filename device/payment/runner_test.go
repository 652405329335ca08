package payment

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/posagent/posagent/audio"
	"github.com/posagent/posagent/device/exchange"
	"github.com/posagent/posagent/device/orders"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/wire"
)

// sent is a request the flow sent, with when.
type sent struct {
	mqtt.Message
	at time.Time
}

type link struct{ sent chan sent }

func (l *link) Send(m mqtt.Message) error { l.sent <- sent{m, time.Now()}; return nil }

// event is a pay.progress or pay.result the flow enqueued, with its ref.
type event struct {
	typ, ref, state string
}

type rig struct {
	u        *Runner
	j        *journal.Journal
	path     string
	link     *link
	mu       sync.Mutex
	events   []event
	said     []string
	owed     []orders.Completion
	answered []string
	done     chan string // Completed
}

// newRig is a Runner at the production timings (pc: 5 s poll, 45 s
// timeout, 15 s reverse_after) on a real journal, its requests recorded.
func newRig(t *testing.T) *rig {
	r := &rig{path: filepath.Join(t.TempDir(), "journal.db"), link: &link{sent: make(chan sent, 64)}, done: make(chan string, 4)}
	j, err := journal.Open(r.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	r.j = j
	_, words, err := audio.VoiceFor("zh")
	if err != nil {
		t.Fatal(err)
	}
	r.u = &Runner{Host: exchange.Host{
		Journal: j, Requests: exchange.NewRequests(r.link, "dev-1", time.Now), Pay: pc, Now: time.Now,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Events: exchange.Events{
			Emit: func(tx *journal.Tx, typ, ref string, body any) (mqtt.Message, error) {
				var st string
				switch b := body.(type) {
				case wire.PayProgress:
					st = b.State
				case wire.PayResult:
					st = b.State
				default:
					t.Errorf("emitted %s %T", typ, body)
				}
				tx.OnCommit(func() { r.mu.Lock(); r.events = append(r.events, event{typ, ref, st}); r.mu.Unlock() })
				return mqtt.Message{ID: "E", Type: typ, Ref: ref}, nil
			},
			Answered: func(tx *journal.Tx, jti string, _ mqtt.Message) error {
				tx.OnCommit(func() { r.mu.Lock(); r.answered = append(r.answered, jti); r.mu.Unlock() })
				return nil
			},
			Flush: func() {},
		},
		Owe: func(tx *journal.Tx, c orders.Completion) error {
			tx.OnCommit(func() { r.mu.Lock(); r.owed = append(r.owed, c); r.mu.Unlock() })
			return nil
		},
		Completed: func(no string) { r.done <- no },
	},
		Say:   func(w string) { r.mu.Lock(); r.said = append(r.said, w); r.mu.Unlock() },
		Words: words,
		Saved: func(*journal.Tx, orders.Payment) {},
	}
	return r
}

func (r *rig) create(t *testing.T, p orders.Payment) error {
	t.Helper()
	return r.j.Update(func(tx *journal.Tx) error { return r.u.Create(tx, p, nil) })
}

// run runs payment no; the returned func waits for its end.
func (r *rig) run(ctx context.Context, no string) func() error {
	done := make(chan error, 1)
	go func() { done <- r.u.Run(ctx, no) }()
	return func() error { return <-done }
}

func (r *rig) answer(no, op, state string) {
	r.u.Deliver(wire.PayStatus{OutTradeNo: no, Op: op, State: state, TransactionID: "4200001", Wallet: "wechat"})
}

func (r *rig) snapshot() ([]event, []string, []orders.Completion, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event(nil), r.events...), append([]string(nil), r.said...), append([]orders.Completion(nil), r.owed...), append([]string(nil), r.answered...)
}

// One payment waits for its code at a time. The slot is held until the
// waiting payment's flow lets go, but what the journal says decides: a
// payment cancelled in the journal (its flow not yet let go) frees it. A
// number taken is refused.
func TestOneAwaitingCode(t *testing.T) {
	r := newRig(t)
	if err := r.create(t, orders.Payment{OutTradeNo: "A1", Amount: 100}); err != nil {
		t.Fatal(err)
	}
	if err := r.create(t, orders.Payment{OutTradeNo: "B1", Amount: 200}); !errors.Is(err, orders.ErrBusy) {
		t.Fatalf("a second payment while one waits: %v, want ErrBusy", err)
	}
	// Busy is said before what the caller would refuse (the mode, the
	// shift): the cashier hears why the till cannot start it now.
	denied := func(*journal.Tx, *orders.Payment) error { return orders.ErrDenied }
	if err := r.j.Update(func(tx *journal.Tx) error {
		return r.u.Create(tx, orders.Payment{OutTradeNo: "B1", Amount: 200, Deposit: true}, denied)
	}); !errors.Is(err, orders.ErrBusy) {
		t.Fatalf("busy and denied: %v, want ErrBusy first", err)
	}
	if r.u.Awaiting() != "A1" || !r.u.IsRunning("A1") {
		t.Fatalf("awaiting %q", r.u.Awaiting())
	}
	if _, err := r.u.Update("A1", func(p *orders.Payment) error { p.State = orders.Cancelled; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := r.create(t, orders.Payment{OutTradeNo: "B1", Amount: 200}); err != nil {
		t.Fatalf("after the cancel: %v", err)
	}
	if p, err := r.u.Load("B1"); err != nil || p.State != orders.AwaitingCode || p.TimeoutMS != pc.CollectTimeoutMS {
		t.Fatalf("B1: %+v %v", p, err)
	}
	if _, err := r.u.Update("B1", func(p *orders.Payment) error { p.State = orders.Cancelled; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := r.create(t, orders.Payment{OutTradeNo: "A1", Amount: 100}); !errors.Is(err, orders.ErrConflict) || orders.Words(err) != "订单号已存在" {
		t.Fatalf("a number taken: %v", err)
	}
}

// A payment of pay.collect: a scan that is no payment code is said so and
// the payment still waits; the code goes out in pay.submit at once and
// never reaches the journal file; USERPAYING is followed by a query one
// poll (5 s) later, not sooner; SUCCESS makes it PAID, owes its
// completion once, and answers the pay.collect with pay.result.
func TestPaidAnswersCollectOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		const code = "134567890123456789"
		if err := r.create(t, orders.Payment{OutTradeNo: "P1", Amount: 12850, CollectRef: "C1", Source: "platform"}); err != nil {
			t.Fatal(err)
		}
		wait := r.run(context.Background(), "P1")
		synctest.Wait()
		if !r.u.Scan("]Q1hello") {
			t.Fatal("no payment took the scan")
		}
		synctest.Wait()
		if !r.u.Scan(code) {
			t.Fatal("no payment took the code")
		}
		start := time.Now()
		m := <-r.link.sent
		var sub wire.PaySubmit
		json.Unmarshal(m.Body, &sub)
		if m.Type != wire.TypePaySubmit || sub.AuthCode != code || sub.Amount != 12850 || sub.Wallet != "wechat" || m.at != start {
			t.Fatalf("first request %s %+v at %v", m.Type, sub, m.at.Sub(start))
		}
		r.answer("P1", "submit", "USERPAYING")
		m = <-r.link.sent
		if m.Type != wire.TypePayQuery || m.at.Sub(start) != 5*time.Second {
			t.Fatalf("second request %s at %v, want pay.query at 5s", m.Type, m.at.Sub(start))
		}
		r.answer("P1", "query", "SUCCESS")
		if err := wait(); err != nil {
			t.Fatal(err)
		}
		if no := <-r.done; no != "P1" {
			t.Fatalf("completed %s", no)
		}
		events, said, owed, answered := r.snapshot()
		if len(owed) != 1 || owed[0].OrderID != "P1" || owed[0].Amount != 12850 || owed[0].Kind != "pay" {
			t.Fatalf("owed %+v", owed)
		}
		if len(answered) != 1 || answered[0] != "C1" {
			t.Fatalf("answered %v", answered)
		}
		last := events[len(events)-1]
		if last != (event{wire.TypePayResult, "C1", orders.Paid}) {
			t.Fatalf("last event %+v", last)
		}
		if len(said) != 2 || !strings.HasPrefix(said[0], audio.PhraseShowCode) || !strings.Contains(said[1], "无法识别付款码") {
			t.Fatalf("said %q", said)
		}
		p, _ := r.u.Load("P1")
		if p.State != orders.Paid || p.CodeTail != "6789" || p.TransactionID != "4200001" || p.ConfirmedAt == 0 {
			t.Fatalf("journaled %+v", p)
		}
		r.j.Close()
		raw, err := os.ReadFile(r.path)
		if err != nil {
			t.Fatal(err)
		}
		if wal, err := os.ReadFile(r.path + "-wal"); err == nil {
			raw = append(raw, wal...)
		}
		if strings.Contains(string(raw), code) || strings.Contains(string(raw), code[:12]) {
			t.Fatal("the payment code is in the journal file")
		}
	})
}

// No answer at all (the link or the platform down): the submit is sent
// again each poll, never reversed blind; at the 45 s deadline the payment
// is UNKNOWN (结果待确认, never shown failed), and it asks on. A cancel
// then is a reverse (the customer may be charged), not a cancellation.
func TestSilenceIsUnknownNotReversed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		if err := r.create(t, orders.Payment{OutTradeNo: "P2", Amount: 500}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		wait := r.run(ctx, "P2")
		synctest.Wait()
		r.u.Scan("281234567890123456")
		start := time.Now()
		var types []string
		for {
			m := <-r.link.sent
			if m.at.Sub(start) > 50*time.Second {
				break
			}
			types = append(types, m.Type)
			if m.Type == wire.TypePayReverse {
				t.Fatalf("reversed blind at %v", m.at.Sub(start))
			}
		}
		if len(types) != 11 { // 0, 5, …, 50 s
			t.Fatalf("%d requests in 50 s: %v", len(types), types)
		}
		p, _ := r.u.Load("P2")
		if p.State != orders.Unknown || p.NeedReverse {
			t.Fatalf("after the deadline: %+v", p)
		}
		_, said, owed, _ := r.snapshot()
		if said[len(said)-1] != audio.PhraseUnknown || len(owed) != 0 {
			t.Fatalf("said %q, owed %v", said, owed)
		}
		cancel()
		if err := wait(); !errors.Is(err, context.Canceled) {
			t.Fatalf("run ended: %v", err)
		}
	})
}
