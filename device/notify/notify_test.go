package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/posagent/posagent/audio"
	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/device/exchange"
	"github.com/posagent/posagent/device/printq"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/printer"
	"github.com/posagent/posagent/wire"
)

// speaker records what it is asked to say; while broken it fails.
type speaker struct {
	mu       sync.Mutex
	broken   bool
	asked    []audio.Request
	prepared []string
	at       []time.Time
}

func (s *speaker) Say(_ context.Context, r audio.Request) (audio.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked = append(s.asked, r)
	s.at = append(s.at, time.Now())
	if s.broken {
		return audio.Result{}, errors.New("alsa: write: device busy")
	}
	said := r.Text
	if r.Again {
		said = "<补播>" + said
	}
	return audio.Result{Said: said, Replay: r.Again}, nil
}

func (s *speaker) Prepare(text string) {
	s.mu.Lock()
	s.prepared = append(s.prepared, text)
	s.mu.Unlock()
}

func (s *speaker) requests() ([]audio.Request, []time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]audio.Request(nil), s.asked...), append([]time.Time(nil), s.at...)
}

type answer struct {
	ref string
	at  time.Time
	wire.NotifyDone
}

type rig struct {
	w       *Worker
	j       *journal.Journal
	s       *speaker
	answers chan answer
	said    chan audio.Record
}

// newRig is a worker on a real journal with the recording speaker and no
// printer, at the production sweep (30 s).
func newRig(t *testing.T, path string) *rig {
	j, err := journal.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	r := &rig{j: j, s: &speaker{}, answers: make(chan answer, 16), said: make(chan audio.Record, 16)}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := Host{
		Journal: j, Now: time.Now, Log: log,
		Events: exchange.Events{
			Emit: func(tx *journal.Tx, typ, ref string, body any) (mqtt.Message, error) {
				if typ != wire.TypeNotifyDone {
					t.Errorf("emitted %s", typ)
				}
				b := body.(wire.NotifyDone)
				tx.OnCommit(func() { r.answers <- answer{ref, time.Now(), b} })
				raw, _ := json.Marshal(b)
				return mqtt.Message{ID: "E-" + ref, Type: typ, Ref: ref, Body: raw}, nil
			},
			Answered: func(*journal.Tx, string, mqtt.Message) error { return nil },
			Flush:    func() {},
		},
		Fault: func(error) bool { return false },
		Unreadable: func(bucket, key string, err error) {
			t.Errorf("unreadable %s/%s: %v", bucket, key, err)
		},
		Said: func(tx *journal.Tx, rec audio.Record) error {
			tx.OnCommit(func() { r.said <- rec })
			return nil
		},
		Receipt: func(b wire.NotifyPayment, at time.Time) printer.Receipt {
			return printer.Receipt{Kind: b.Kind, OrderID: b.OrderID, Amount: b.Amount, Time: at}
		},
	}
	q := printq.New(printq.Host{Journal: j, Now: time.Now, Log: log}, nil, config.Printer{PaperMM: 58})
	_, words, err := audio.VoiceFor("zh")
	if err != nil {
		t.Fatal(err)
	}
	r.w = New(h, r.s, q, words)
	return r
}

func (r *rig) run() func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.w.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

// accept files notify.payment {order_id: id, amount} as command jti.
func (r *rig) accept(t *testing.T, jti, id string, amount int64) *wire.NotifyDone {
	t.Helper()
	b := wire.NotifyPayment{OrderID: id, Amount: amount, Wallet: "wechat"}
	if err := Check(&b); err != nil {
		t.Fatal(err)
	}
	var dup *wire.NotifyDone
	var kick func()
	if err := r.j.Update(func(tx *journal.Tx) error {
		var err error
		dup, kick, err = r.w.Accept(tx, jti, b)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if kick != nil {
		kick()
	}
	return dup
}

// A burst waits in the journal and is said in arrival order, each once,
// none as a replay, each answered with its words; it costs two commits per
// notification (its accept and its answer) — the begun marks ride on
// commits made anyway. A second notify.payment for an order is answered
// at once as a duplicate and not said again.
func TestBurstInOrderTwoCommitsEach(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, filepath.Join(t.TempDir(), "journal.db"))
		commits := r.j.Commits()
		ids := []string{"A1", "A2", "A3"}
		for i, id := range ids {
			if dup := r.accept(t, "C"+id, id, int64(12850+i)); dup != nil {
				t.Fatalf("%s duplicate: %+v", id, dup)
			}
		}
		stop := r.run()
		defer stop()
		for _, id := range ids {
			a := <-r.answers
			if a.ref != "C"+id || a.OrderID != id || !a.Announced || a.Printed || a.Said == "" || strings.Contains(a.Said, "补播") {
				t.Fatalf("answer %+v, want %s announced, not a replay", a, id)
			}
			if rec := <-r.said; rec.Name != id || rec.Said != a.Said {
				t.Fatalf("said record %+v for %s", rec, id)
			}
		}
		synctest.Wait()
		if n := r.j.Commits() - commits; n != 6 {
			t.Fatalf("%d commits for 3 notifications, want 6", n)
		}
		asked, _ := r.s.requests()
		if len(asked) != 3 || asked[0].Name != "A1" || asked[1].Name != "A2" || asked[2].Name != "A3" {
			t.Fatalf("asked %+v", asked)
		}
		for i, q := range asked {
			if i >= len(r.s.prepared) || r.s.prepared[i] != q.Text {
				t.Fatalf("%s's words were not prepared at accept (prepared %q)", q.Name, r.s.prepared)
			}
		}
		if !strings.Contains(asked[0].Text, "一百二十八点五") {
			t.Fatalf("words %q do not read ¥128.50", asked[0].Text)
		}
		if dup := r.accept(t, "C-again", "A2", 12851); dup == nil || !dup.Duplicate || dup.Announced {
			t.Fatalf("second notify.payment for A2: %+v", dup)
		}
		synctest.Wait()
		if asked, _ := r.s.requests(); len(asked) != 3 {
			t.Fatalf("said %d times", len(asked))
		}
	})
}

// An announcement that fails is not an announcement: it is tried again at
// each sweep (30 s) and, after MaxTries failures, answered announced:false
// — 2 minutes after it came, with the production timings.
func TestFailingSpeakerAnsweredAfterMaxTries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, filepath.Join(t.TempDir(), "journal.db"))
		r.s.broken = true
		start := time.Now()
		stop := r.run()
		defer stop()
		r.accept(t, "C1", "F1", 500)
		a := <-r.answers
		if a.Announced || a.Said != "" || a.ref != "C1" {
			t.Fatalf("answer %+v", a)
		}
		if d := a.at.Sub(start); d != (MaxTries-1)*Sweep {
			t.Fatalf("answered after %v, want %v", d, (MaxTries-1)*Sweep)
		}
		_, at := r.s.requests()
		if len(at) != MaxTries {
			t.Fatalf("tried %d times, want %d", len(at), MaxTries)
		}
		for i := 1; i < len(at); i++ {
			if d := at[i].Sub(at[i-1]); d != Sweep {
				t.Fatalf("try %d came %v after the one before, want %v", i+1, d, Sweep)
			}
		}
		if len(r.said) != 0 {
			t.Fatal("a failed announcement was filed as said")
		}
	})
}

// A notification whose announcement was marked begun when the process died
// may have been heard: the next process says it again as 补播 (Again), once.
// One owed by a flow of this device (no command) is said and answered to
// no one.
func TestBegunBeforeRestartSaidAsReplay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "journal.db")
		first := newRig(t, path)
		first.accept(t, "C1", "R1", 100) // marked begun at accept: nothing ahead
		if err := first.j.Update(func(tx *journal.Tx) error {
			return first.w.Owe(tx, wire.NotifyPayment{OrderID: "P9", Amount: 200, Wallet: "alipay", Kind: printer.KindPay})
		}); err != nil {
			t.Fatal(err)
		}
		first.j.Close() // the process dies before its worker ran

		r := newRig(t, path)
		stop := r.run()
		defer stop()
		if a := <-r.answers; a.ref != "C1" || !strings.HasPrefix(a.Said, "<补播>") {
			t.Fatalf("answer %+v, want said as a replay", a)
		}
		<-r.said
		<-r.said // P9's, unanswered
		synctest.Wait()
		asked, _ := r.s.requests()
		if len(asked) != 2 || !asked[0].Again || asked[1].Again || asked[1].Name != "P9" {
			t.Fatalf("asked %+v: want R1 again, then P9 fresh", asked)
		}
		if len(r.answers) != 0 {
			t.Fatalf("a notification of this device answered: %+v", <-r.answers)
		}
		rec, err := r.w.Load("P9")
		if err != nil || !rec.Done || !rec.Announced {
			t.Fatalf("P9: %+v %v", rec, err)
		}
	})
}

// A notification record that cannot be read is an error, not a duplicate:
// the command is not answered as already announced.
func TestUnreadableRecordIsNoDuplicate(t *testing.T) {
	r := newRig(t, filepath.Join(t.TempDir(), "journal.db"))
	if err := r.j.Update(func(tx *journal.Tx) error { return tx.PutRaw(journal.Notify, "U1", []byte("{not json")) }); err != nil {
		t.Fatal(err)
	}
	err := r.j.Update(func(tx *journal.Tx) error {
		dup, _, err := r.w.Accept(tx, "C1", wire.NotifyPayment{OrderID: "U1", Amount: 1, Kind: printer.KindPay})
		if dup != nil {
			t.Errorf("answered %+v", dup)
		}
		return err
	})
	if err == nil {
		t.Fatal("an unreadable record accepted")
	}
}

func TestCheck(t *testing.T) {
	ok := wire.NotifyPayment{OrderID: "o1", Amount: 1, Wallet: "wechat"}
	with := func(f func(*wire.NotifyPayment)) wire.NotifyPayment { b := ok; f(&b); return b }
	for _, tc := range []struct {
		b    wire.NotifyPayment
		want string
	}{
		{ok, ""},
		{with(func(b *wire.NotifyPayment) { b.OrderID = "" }), "order_id"},
		{with(func(b *wire.NotifyPayment) { b.OrderID = "有 空格" }), "order_id"},
		{with(func(b *wire.NotifyPayment) { b.Amount = 0 }), "amount"},
		{with(func(b *wire.NotifyPayment) { b.Amount = 99_999_999_999 + 1 }), "amount"},
		{with(func(b *wire.NotifyPayment) { b.Wallet = strings.Repeat("w", 33) }), "wallet"},
		{with(func(b *wire.NotifyPayment) { b.Copies = 6 }), "copies"},
		{with(func(b *wire.NotifyPayment) { b.OutTradeNo = "a b" }), "out_trade_no"},
		{with(func(b *wire.NotifyPayment) { b.Desc = strings.Repeat("菜", 43) }), "desc"},
		{with(func(b *wire.NotifyPayment) { b.Kind = "tip" }), "kind"},
	} {
		b := tc.b
		err := Check(&b)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: %v, want %q", tc.b, err, tc.want)
		}
	}
	b := wire.NotifyPayment{OrderID: "o1", Amount: 1, Print: true}
	if err := Check(&b); err != nil || b.Kind != printer.KindPay || b.Copies != 1 {
		t.Fatalf("defaults: %+v %v", b, err)
	}
}
