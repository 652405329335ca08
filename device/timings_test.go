package device

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/device/orders"
	"github.com/posagent/posagent/internal/memnet"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/platform"
	"github.com/posagent/posagent/wire"
)

// The flows under their production timings (config.Default: a 5 s poll,
// a 45 s timeout, a reverse no sooner than 15 s), in a testing/synctest
// bubble: every timer of the agent, of the MQTT client and of the broker
// runs on the bubble's clock, which moves only when every goroutine in it
// is waiting, so a minute of the flow passes in milliseconds, and what
// happens when is exact. The broker, the platform with its simulator and
// the agent share a network in memory (internal/memnet); the journal is a
// real one on disk.

// bubble is an agent, its broker and the platform simulator, all inside
// one synctest bubble.
type bubble struct {
	t      *testing.T
	cfg    config.Config
	plat   *platform.Client
	events <-chan platform.Event
	sim    *platform.Sim
	agent  *Agent
	scans  chan string

	mu   sync.Mutex
	reqs []seen // the requests the simulator took, with the bubble's time
}

type seen struct {
	typ string
	at  time.Duration // since the bubble's start
}

// newBubble must be called inside synctest.Test; everything it starts
// stops at the test's cleanup, still inside the bubble, as synctest
// requires.
func newBubble(t *testing.T, pay config.Pay) *bubble {
	start := time.Now()
	ln := memnet.Listen()
	broker, err := platform.ServeBroker(ln, nil)
	if err != nil {
		t.Fatal(err)
	}
	bb := &bubble{t: t, scans: make(chan string, 4)}
	c := newConfig(t, "tcp://memnet:1883") // reached through Dial
	c.API.Listen = ""
	c.Audio.Out = "null"
	c.Pay = pay
	bb.cfg = c
	ctx, cancel := context.WithCancel(context.Background())
	dial := func() *platform.Client {
		cl, err := platform.Dial(ctx, platform.Options{URL: c.MQTT.URL, Dial: ln.Dial, Log: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		cl.AddDevice(platform.Device{ID: devID, AuthKey: c.AuthKeyBytes()})
		return cl
	}
	bb.plat = dial()
	if bb.events, err = bb.plat.Subscribe(ctx, "+", ""); err != nil {
		t.Fatal(err)
	}
	simc := dial()
	bb.sim = &platform.Sim{Client: simc, Log: quiet(), OnEvent: func(e platform.Event) {
		bb.mu.Lock()
		bb.reqs = append(bb.reqs, seen{e.Message.Type, time.Since(start)})
		bb.mu.Unlock()
	}}
	if err := bb.sim.Start(ctx); err != nil {
		t.Fatal(err)
	}
	o, err := journal.OpenDir(c.DataDir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{Config: c, Journal: o.Journal, Key: deviceKey(t), Scans: bb.scans, Log: quiet(),
		NewLink: func(lc mqtt.LinkConfig, j *journal.Journal, h mqtt.Handlers) (Link, error) {
			lc.Dial = ln.Dial
			return mqtt.NewLink(lc, j, h)
		}})
	if err != nil {
		t.Fatal(err)
	}
	bb.agent = a
	actx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(actx); close(done) }()
	t.Cleanup(func() {
		stop()
		<-done
		o.Journal.Close()
		cancel()
		simc.Close()
		bb.plat.Close()
		broker.Close()
		ln.Close()
	})
	return bb
}

// send sends a signed command from the platform.
func (bb *bubble) send(typ string, body any) mqtt.Message {
	bb.t.Helper()
	m, err := bb.plat.Send(devID, typ, body)
	if err != nil {
		bb.t.Fatal(err)
	}
	return m
}

// result waits for the pay.result of out_trade_no no (the bubble's clock
// moves meanwhile).
func (bb *bubble) result(no string) wire.PayResult {
	bb.t.Helper()
	for e := range bb.events {
		if e.Err != nil || e.State != nil || e.Message.Type != wire.TypePayResult {
			continue
		}
		r := body[wire.PayResult](bb.t, e.Message)
		if r.OutTradeNo == no {
			return r
		}
	}
	bb.t.Fatal("the events ended")
	return wire.PayResult{}
}

// requests are the types and times of the requests the simulator took.
func (bb *bubble) requests() []seen {
	bb.mu.Lock()
	defer bb.mu.Unlock()
	return slices.Clone(bb.reqs)
}

// schedule renders the requests from the submit on ("submit",
// "pay.query@5s", ...), the times in the bubble's clock.
func schedule(reqs []seen) []string {
	var got []string
	var submit time.Duration
	for _, r := range reqs {
		switch r.typ {
		case wire.TypePaySubmit:
			if got == nil {
				submit = r.at
			}
			got = append(got, fmt.Sprintf("submit@%v", r.at-submit))
		case wire.TypePayQuery, wire.TypePayReverse:
			got = append(got, fmt.Sprintf("%s@%v", strings.TrimPrefix(r.typ, "pay."), r.at-submit))
		}
	}
	return got
}

// every is "step@from", "step@from+d", ... up to before to.
func every(step string, from, d, to time.Duration) []string {
	var out []string
	for at := from; at < to; at += d {
		out = append(out, fmt.Sprintf("%s@%v", step, at))
	}
	return out
}

// Payments under the production timings, each to its end, to the
// millisecond of the bubble's clock: which request went when, the state
// the platform was told, and the ledger. The provider's behaviours are
// the simulator's table (platform/provider.go), after WeChat Pay's
// micropay and Alipay's trade.pay: USERPAYING is polled, never taken for
// failure; reversed only after the poll timeout, and re-sent when the
// answer says recall.
func TestPaymentProductionTimings(t *testing.T) {
	pay := config.Default().Pay
	poll, timeout := config.MS(pay.PollIntervalMS), config.MS(pay.PollTimeoutMS)
	for _, c := range []struct {
		name     string
		amount   int64
		state    string
		charged  bool
		schedule []string
	}{
		// A customer who never confirms on the phone: asked every 5 s, and
		// 45 s after the submit the order is reversed; never charged.
		{"userpaying to the end", 10002, Reversed, false,
			slices.Concat([]string{"submit@0s"}, every("query", poll, poll, timeout), []string{"reverse@45s"})},
		// The customer confirms (the second query says SUCCESS): paid 10 s
		// after the submit, nothing more asked.
		{"userpaying then paid", 10001, Paid, true, []string{"submit@0s", "query@5s", "query@10s"}},
		// Paid at once.
		{"paid", 10000, Paid, true, []string{"submit@0s"}},
		// A decline with a reason: failed at the submit's answer.
		{"not enough money", 10004, Failed, false, []string{"submit@0s"}},
		// Reversed after the timeout, and the first two reverses answer
		// recall: each is sent again after the reverse backoff.
		{"reverse with recall", 10009, Reversed, false,
			slices.Concat([]string{"submit@0s"}, every("query", poll, poll, timeout), []string{"reverse@45s", "reverse@50s", "reverse@1m0s"})},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				bb := newBubble(t, pay)
				synctest.Wait()
				no := "PT-" + strconv.FormatInt(c.amount, 10)
				bb.send(wire.TypePayCollect, map[string]any{"out_trade_no": no, "amount": c.amount})
				synctest.Wait()
				bb.scans <- "13456789012345" + fmt.Sprintf("%04d", c.amount%10000)
				res := bb.result(no)
				if res.State != c.state {
					t.Errorf("ended %s %s, want %s", res.State, res.ErrCode, c.state)
				}
				if e, ok := bb.sim.Provider.Entry(no); !ok || e.Charged != c.charged || e.Reversed != (c.state == Reversed) {
					t.Errorf("ledger %+v %v: want charged %v", e, ok, c.charged)
				}
				if got := schedule(bb.requests()); !slices.Equal(got, c.schedule) {
					t.Errorf("requests, from the submit:\n got %v\nwant %v", got, c.schedule)
				}
			})
		})
	}
}

// No answer at all (the platform's answers lost): the submit is sent again
// every 5 s (same out_trade_no and content, which the provider takes as
// one order), never reversed blind, and at 45 s the payment is UNKNOWN,
// never failed, told to the platform as pay.progress. Once answers come
// back it ends paid, charged once.
func TestUnansweredPaymentUnderProductionTimings(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pay := config.Default().Pay
		bb := newBubble(t, pay)
		bb.sim.SetFaults(platform.Faults{Drop: 1})
		synctest.Wait()
		no := "PT-UNANSWERED"
		bb.send(wire.TypePayCollect, map[string]any{"out_trade_no": no, "amount": 2000})
		synctest.Wait()
		bb.scans <- "134567890123452000"
		t0 := time.Now()
		time.Sleep(config.MS(pay.PollTimeoutMS) + time.Second)
		p, err := bb.agent.pays.Load(no)
		if err != nil {
			t.Fatal(err)
		}
		if p.State != Unknown {
			t.Fatalf("after %v unanswered: %s", time.Since(t0), p.State)
		}
		synctest.Wait()
		var told []string
		for len(bb.events) > 0 {
			if e := <-bb.events; e.Err == nil && e.State == nil && e.Message.Type == wire.TypePayProgress {
				told = append(told, body[wire.PayProgress](t, e.Message).State)
			}
		}
		if !slices.Contains(told, Unknown) || slices.Contains(told, Failed) {
			t.Errorf("the platform was told %v, want UNKNOWN and never FAILED", told)
		}
		want := every("submit", 0, config.MS(pay.PollIntervalMS), config.MS(pay.PollTimeoutMS)+time.Second)
		if got := schedule(bb.requests()); !slices.Equal(got, want) {
			t.Errorf("requests, from the submit:\n got %v\nwant %v", got, want)
		}
		bb.sim.SetFaults(platform.Faults{})
		res := bb.result(no)
		if res.State != Paid {
			t.Fatalf("ended %s %s", res.State, res.ErrCode)
		}
		if e, ok := bb.sim.Provider.Entry(no); !ok || !e.Charged || e.Reversed {
			t.Fatalf("ledger %+v", e)
		}
		if sum := bb.sim.Summary(); sum.Charged != 1 {
			t.Fatalf("ledger %+v: want one charge", sum)
		}
	})
}

// No code scanned: the payment waits for it the collect timeout (60 s)
// and not a moment more, then is cancelled TIMEOUT; nothing was sent to
// the provider.
func TestCollectTimeoutUnderProductionTimings(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pay := config.Default().Pay
		bb := newBubble(t, pay)
		synctest.Wait()
		no := "PT-NOSCAN"
		t0 := time.Now()
		bb.send(wire.TypePayCollect, map[string]any{"out_trade_no": no, "amount": 2000})
		res := bb.result(no)
		if took := time.Since(t0); res.State != Cancelled || res.ErrCode != "TIMEOUT" || took != config.MS(pay.CollectTimeoutMS) {
			t.Fatalf("%s %s after %v, want Cancelled TIMEOUT after %v", res.State, res.ErrCode, took, config.MS(pay.CollectTimeoutMS))
		}
		if got := schedule(bb.requests()); len(got) != 0 {
			t.Fatalf("sent %v for a payment never scanned", got)
		}
	})
}

// A refund the provider takes as PROCESSING (WeChat: 退款处理中; the
// result comes later): asked about every 5 s (pay.refund_poll_ms) until
// SUCCESS, however soon each PROCESSING comes back (paced), the customer
// refunded once on the provider's ledger.
func TestRefundUnderProductionTimings(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pay := config.Default().Pay
		bb := newBubble(t, pay)
		synctest.Wait()
		no := "PT-REFUND"
		bb.send(wire.TypePayCollect, map[string]any{"out_trade_no": no, "amount": 10000})
		synctest.Wait()
		bb.scans <- "134567890123450100"
		if res := bb.result(no); res.State != Paid {
			t.Fatalf("payment ended %s", res.State)
		}
		m := bb.send(wire.TypeShiftStart, map[string]any{"staff_id": "s1", "staff_name": "王芳", "refund": true, "pin_hash": testPINHash()})
		if ans, err := platform.Await(context.Background(), bb.events, m.ID); err != nil || ans.Type != wire.TypeShiftChanged {
			t.Fatalf("shift.start answered %s %v", ans.Type, err)
		}
		bb.sim.ScriptRefund("", platform.OutcomeRefundProcessing)
		before := len(bb.requests())
		ref, err := bb.agent.StartRefund(no, 3000, "s1", testPIN)
		if err != nil {
			t.Fatal(err)
		}
		var res wire.RefundResult
		for e := range bb.events {
			if e.Err == nil && e.State == nil && e.Message.Type == wire.TypeRefundResult {
				// PENDING first, as it is sent; then its end.
				if res = body[wire.RefundResult](t, e.Message); res.OutRefundNo == ref.OutRefundNo && orders.RefundFinal(res.State) {
					break
				}
			}
		}
		if res.State != RefundSuccess || res.Amount != 3000 {
			t.Fatalf("refund.result %+v", res)
		}
		var got []string
		var start time.Duration
		for _, r := range bb.requests()[before:] {
			if r.typ != wire.TypeRefundRequest && r.typ != wire.TypeRefundQuery {
				continue // the device's events
			}
			if got == nil {
				start = r.at
			}
			got = append(got, fmt.Sprintf("%s@%v", r.typ, r.at-start))
		}
		poll := config.MS(pay.RefundPollMS)
		want := []string{wire.TypeRefundRequest + "@0s"}
		for i := 1; i <= 3; i++ { // PROCESSING to the first two queries, SUCCESS to the third
			want = append(want, fmt.Sprintf("%s@%v", wire.TypeRefundQuery, time.Duration(i)*poll))
		}
		if !slices.Equal(got, want) {
			t.Errorf("requests, from the refund's:\n got %v\nwant %v", got, want)
		}
		if e, _ := bb.sim.Provider.Entry(no); e.Refunded != 3000 || e.RefundCount != 1 || e.DoubleRefunds != 0 {
			t.Fatalf("ledger %+v", e)
		}
	})
}
