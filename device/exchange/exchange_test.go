package exchange

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/wire"
)

// script is a flow whose steps are given: what each answer and each tick
// returns, in order. It records when each step came, on the bubble's
// clock, from the start.
type script struct {
	start   time.Time
	wait    time.Duration
	answers []Next // returned by Answer, in turn
	ticks   []Next // returned by Tick, in turn
	err     error  // returned by the step after the scripted ones
	steps   []string
}

func (s *script) at() time.Duration { return time.Since(s.start) }

func (s *script) Send() (time.Duration, error) {
	s.steps = append(s.steps, fmt.Sprintf("send@%v", s.at()))
	return s.wait, nil
}

func (s *script) Answer(v string) (Next, error) {
	return s.step(&s.answers, fmt.Sprintf("answer %s", v))
}

func (s *script) Tick(answered bool) (Next, error) {
	return s.step(&s.ticks, fmt.Sprintf("tick %v", answered))
}

// step records what came and returns the next of its scripted results;
// past them, Done with s.err.
func (s *script) step(results *[]Next, what string) (Next, error) {
	s.steps = append(s.steps, fmt.Sprintf("%s@%v", what, s.at()))
	if len(*results) == 0 {
		return Done, s.err
	}
	n := (*results)[0]
	*results = (*results)[1:]
	return n, nil
}

// TestRun: the order and the time of each step, on the runtime's timers in
// a synctest bubble. "answer x@d" is an answer that arrives d from the
// start (an input); the recorded steps are what Run made of it.
func TestRun(t *testing.T) {
	type arrival struct {
		at time.Duration
		v  string
	}
	cases := []struct {
		name    string
		answers []Next
		ticks   []Next
		arrive  []arrival
		wakes   []time.Duration
		err     error
		want    []string
		wantErr error
	}{{
		name:  "no answer: one request a wait, until the flow ends",
		ticks: []Next{Send, Send},
		want:  []string{"send@0s", "tick false@5s", "send@5s", "tick false@10s", "send@10s", "tick false@15s"},
	}, {
		name:    "an answer that leaves the flow open does not bring the next request forward",
		answers: []Next{Wait},
		ticks:   []Next{Send},
		arrive:  []arrival{{1 * time.Second, "PROCESSING"}},
		want:    []string{"send@0s", "answer PROCESSING@1s", "tick true@5s", "send@5s", "tick false@10s"},
	}, {
		name:    "answers keep coming while it waits",
		answers: []Next{Wait, Wait},
		arrive:  []arrival{{1 * time.Second, "a"}, {2 * time.Second, "b"}},
		want:    []string{"send@0s", "answer a@1s", "answer b@2s", "tick true@5s"},
	}, {
		name:    "an answer that says send sends at once",
		answers: []Next{Send},
		arrive:  []arrival{{1 * time.Second, "NOTFOUND"}},
		want:    []string{"send@0s", "answer NOTFOUND@1s", "send@1s", "tick false@6s"},
	}, {
		name:    "an answer that ends the flow ends it",
		answers: []Next{Done},
		ticks:   []Next{Send},
		arrive:  []arrival{{2 * time.Second, "SUCCESS"}},
		want:    []string{"send@0s", "answer SUCCESS@2s"},
	}, {
		name:  "a wake ticks early, and a wait after it keeps the timer",
		ticks: []Next{Wait, Send},
		wakes: []time.Duration{2 * time.Second},
		want:  []string{"send@0s", "tick false@2s", "tick false@5s", "send@5s", "tick false@10s"},
	}, {
		name:  "at the wait's end a wait is a send",
		ticks: []Next{Wait},
		want:  []string{"send@0s", "tick false@5s", "send@5s", "tick false@10s"},
	}, {
		name:    "a step's error stops the flow",
		ticks:   []Next{},
		err:     errors.New("journal: disk full"),
		want:    []string{"send@0s", "tick false@5s"},
		wantErr: errors.New("journal: disk full"),
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &script{start: time.Now(), wait: 5 * time.Second, answers: c.answers, ticks: c.ticks, err: c.err}
				answers := make(chan string, InboxSize)
				wake := make(chan struct{}, 1)
				for _, a := range c.arrive {
					time.AfterFunc(a.at, func() { answers <- a.v })
				}
				for _, w := range c.wakes {
					time.AfterFunc(w, func() { wake <- struct{}{} })
				}
				err := Run(context.Background(), s, answers, wake)
				if fmt.Sprint(err) != fmt.Sprint(c.wantErr) {
					t.Errorf("Run: %v, want %v", err, c.wantErr)
				}
				if !reflect.DeepEqual(s.steps, c.want) {
					t.Errorf("steps\n got %q\nwant %q", s.steps, c.want)
				}
			})
		})
	}
}

// TestRunStopsWithItsContext: a flow waiting on an answer stops when its
// context ends, with the context's error and no further step.
func TestRunStopsWithItsContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &script{start: time.Now(), wait: time.Minute}
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(3*time.Second, cancel)
		err := Run[string](ctx, s, nil, nil)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v", err)
		}
		if want := []string{"send@0s"}; !reflect.DeepEqual(s.steps, want) {
			t.Errorf("steps %q, want %q", s.steps, want)
		}
	})
}

// sent records what the link was asked to carry.
type sent struct {
	mu   sync.Mutex
	msgs []mqtt.Message
	err  error
}

func (s *sent) Send(m mqtt.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	return s.err
}

// TestRequestsSignAsTheTableSays: every device request goes out with the
// algorithm of wire.Catalogue, the device's id and the body as JSON;
// a type not in the table is refused before anything is sent.
func TestRequestsSignAsTheTableSays(t *testing.T) {
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	link := &sent{}
	r := NewRequests(link, "dev-1", func() time.Time { return at })
	for typ, spec := range wire.Catalogue {
		if spec.Class != wire.Request {
			continue
		}
		alg := spec.Alg
		if err := r.Send(typ, "K-"+typ, wire.OrderRef{OutTradeNo: "P1"}); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		m := link.msgs[len(link.msgs)-1]
		if m.Alg != alg || m.Type != typ || m.Dev != "dev-1" || !m.IssuedAt.Equal(at) || string(m.Body) != `{"out_trade_no":"P1"}` || m.ID == "" {
			t.Errorf("%s sent as %+v, want alg %s", typ, m, alg)
		}
		if q, ok := r.Of(m.ID); !ok || q != (Request{Key: "K-" + typ, Type: typ}) {
			t.Errorf("%s: Of(%s) = %+v %v", typ, m.ID, q, ok)
		}
	}
	n := len(link.msgs)
	for _, typ := range []string{wire.TypePayResult, wire.TypeNotifyDone, "pay.refund", ""} {
		if err := r.Send(typ, "K", struct{}{}); err == nil || !strings.Contains(err.Error(), "not a device request") {
			t.Errorf("%q: %v", typ, err)
		}
	}
	if len(link.msgs) != n {
		t.Errorf("%d messages sent for types not in the table", len(link.msgs)-n)
	}
	if err := r.Send(wire.TypePayQuery, "K", func() {}); err == nil {
		t.Error("a body that is not JSON was sent")
	}
}

// TestRequestsForget: a flow's requests are known until it ends, then
// not; another flow's stay; a request sent for no flow is not kept; a
// request the link refused is still known (its answer may come after a
// resend of the same jti by the link's own retry).
func TestRequestsForget(t *testing.T) {
	link := &sent{}
	r := NewRequests(link, "dev-1", time.Now)
	r.Send(wire.TypeRefundRequest, "R1", wire.RefundRequest{OutRefundNo: "R1"})
	r.Send(wire.TypeRefundQuery, "R1", wire.RefundQuery{OutRefundNo: "R1"})
	r.Send(wire.TypePayQuery, "P1", wire.OrderRef{OutTradeNo: "P1"})
	r.Send(wire.TypeOrderLookup, "", wire.OrderRef{OutTradeNo: "P2"})
	link.err = mqtt.ErrOffline
	if err := r.Send(wire.TypePayReverse, "P1", wire.OrderRef{OutTradeNo: "P1"}); !errors.Is(err, mqtt.ErrOffline) {
		t.Errorf("offline send: %v", err)
	}
	ids := make([]string, len(link.msgs))
	for i, m := range link.msgs {
		ids[i] = m.ID
	}
	r.Forget("R1")
	for i, want := range []bool{false, false, true, false, true} {
		if _, ok := r.Of(ids[i]); ok != want {
			t.Errorf("request %d (%s) known: %v, want %v", i, link.msgs[i].Type, ok, want)
		}
	}
}

// TestInboxes: an answer reaches a running flow, in order; one for a flow
// not running or past a full inbox is refused with the reason.
func TestInboxes(t *testing.T) {
	var b Inboxes[int]
	if err := b.Deliver("R1", 1); !errors.Is(err, ErrNotRunning) {
		t.Errorf("before Open: %v", err)
	}
	in := b.Open("R1")
	if !b.Running("R1") || b.Running("R2") || b.Get("R1") != in || b.Get("R2") != nil {
		t.Error("Running/Get do not match Open")
	}
	for i := range InboxSize {
		if err := b.Deliver("R1", i); err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
	}
	if err := b.Deliver("R1", 99); !errors.Is(err, ErrFull) {
		t.Errorf("past a full inbox: %v", err)
	}
	for i := range InboxSize {
		if v := <-in; v != i {
			t.Errorf("answer %d came as %d", i, v)
		}
	}
	b.Close("R1")
	if err := b.Deliver("R1", 1); !errors.Is(err, ErrNotRunning) || b.Running("R1") {
		t.Errorf("after Close: %v", err)
	}
}

// TestRequestBodiesAreTheWireStructs: what Send puts on the wire decodes
// back as the struct it was made from.
func TestRequestBodiesAreTheWireStructs(t *testing.T) {
	link := &sent{}
	r := NewRequests(link, "dev-1", time.Now)
	want := wire.DepositRequest{OutTradeNo: "P1", OutRequestNo: "Q1", Amount: 5000, StaffID: "s1"}
	r.Send(wire.TypeDepositConsume, "Q1", want)
	var got wire.DepositRequest
	if err := json.Unmarshal(link.msgs[0].Body, &got); err != nil || got != want {
		t.Errorf("body %s decodes as %+v, %v", link.msgs[0].Body, got, err)
	}
}
