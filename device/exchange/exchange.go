// Package exchange holds what the money flows (a payment, a refund, a
// deposit operation) share in talking to the platform: the requests in
// flight (Requests), the running flows' inboxes (Inboxes), and the loop
// that drives one flow from request to answer to the next request (Run).
// The flows themselves — what to send, what an answer means, what is
// journaled — stay with their owners in package device.
//
// Invariants:
//   - A request is signed with the algorithm wire.Catalogue gives its
//     type (PS256, the device's own key, for money going out); a type not
//     there is not sent.
//   - An answer reaches the flow whose request it names, or no one: an
//     answer to a flow not running, or one that finds its inbox full, is
//     dropped, and the flow asks again. Nothing waits on a dropped answer.
//   - A flow's next request goes one wait after its last unless the flow
//     says Send: answers that come fast never bring the next request
//     forward on their own. WeChat Pay asks a refund's status be queried a
//     minute apart (查询单笔退款: "推荐每间隔1分钟调用该接口查询一次退款状态",
//     pay.weixin.qq.com/docs/merchant/apis/refund/refunds/query-by-out-refund-no.html),
//     and a flow bounded by its tries would spend them in a few round trips.
//   - Run only orders the steps. Each step is the flow's: it journals an
//     answer before it acts on it, so a crash between two steps resumes
//     from the journal.
//
// The timers are the runtime's, so a flow runs under its production
// timings in a testing/synctest bubble (device/timings_test.go).
package exchange

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/wire"
)

// Next is what a flow does after an answer or a tick.
type Next int

const (
	// Wait keeps waiting for the wait's end, taking answers meanwhile. At
	// the wait's end there is nothing left to wait for: Wait is Send.
	Wait Next = iota
	// Send sends the flow's next request now.
	Send
	// Done: the flow has ended; Run returns.
	Done
)

func (n Next) String() string {
	switch n {
	case Wait:
		return "wait"
	case Send:
		return "send"
	case Done:
		return "done"
	}
	return fmt.Sprintf("Next(%d)", int(n))
}

// Flow is one money flow's steps, as Run drives them. An error from any
// of them (the journal refused a commit) stops the flow; it resumes from
// the journal at the next start.
type Flow[A any] interface {
	// Send sends the flow's next request and says how long to wait for
	// its answer. A request the link could not carry is the flow's to log;
	// the wait is the same.
	Send() (wait time.Duration, err error)
	// Answer takes one answer to the flow's requests.
	Answer(A) (Next, error)
	// Tick is the wait's end, or a wake; answered says whether an answer
	// came since the last request.
	Tick(answered bool) (Next, error)
}

// Run drives f until it is Done or ctx ends: send, then take answers
// (answers) and wakes (wake; nil for a flow that has none) until the wait
// ends or f says Send or Done.
func Run[A any](ctx context.Context, f Flow[A], answers <-chan A, wake <-chan struct{}) error {
	for {
		wait, err := f.Send()
		if err != nil {
			return err
		}
		timer := time.NewTimer(wait)
		answered := false
		next := Wait
		for next == Wait {
			select {
			case <-ctx.Done():
				err = ctx.Err()
			case v := <-answers:
				answered = true
				next, err = f.Answer(v)
			case <-wake:
				next, err = f.Tick(answered)
			case <-timer.C:
				next, err = f.Tick(answered)
				if next == Wait {
					next = Send
				}
			}
			if err != nil {
				timer.Stop()
				return err
			}
		}
		timer.Stop()
		if next == Done {
			return nil
		}
	}
}

// Backoff is the wait before attempt n (from 1) of a request that went
// unanswered or unsettled: first, doubled for each attempt, at most a
// minute — a provider that is down is not asked faster than it recovers.
func Backoff(n int, first time.Duration) time.Duration {
	d := first
	for i := 1; i < n && d < time.Minute; i++ {
		d *= 2
	}
	return min(d, time.Minute)
}

// Sender carries a message now, not through the outbox (the mqtt.Link).
type Sender interface {
	Send(m mqtt.Message) error
}

// Request is a money-flow request in flight: its flow's business key (an
// out_trade_no, out_refund_no or out_request_no) and its type.
type Request struct{ Key, Type string }

// Requests sends the device's money-flow requests and remembers them by
// jti until their flow ends, so an answer that names only its ref
// (protocol §2) finds its flow, and one without op is known by its
// request.
type Requests struct {
	link Sender
	dev  string
	now  func() time.Time

	mu       sync.Mutex
	inflight map[string]Request
}

// NewRequests sends through link as device dev, stamped by now.
func NewRequests(link Sender, dev string, now func() time.Time) *Requests {
	return &Requests{link: link, dev: dev, now: now, inflight: map[string]Request{}}
}

// Send signs and sends a request of type typ for the flow key now (""
// for one no flow waits on), with body as its JSON.
func (r *Requests) Send(typ, key string, body any) error {
	alg, ok := wire.RequestAlg(typ)
	if !ok {
		return fmt.Errorf("request %s: not a device request (wire.Catalogue)", typ)
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	id := mqtt.NewID()
	if key != "" {
		r.mu.Lock()
		r.inflight[id] = Request{Key: key, Type: typ}
		r.mu.Unlock()
	}
	return r.link.Send(mqtt.Message{ID: id, Type: typ, Dev: r.dev, IssuedAt: r.now(), Body: raw, Alg: alg})
}

// Of is the request that ref answers, if this process sent it and its flow
// runs.
func (r *Requests) Of(ref string) (Request, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	q, ok := r.inflight[ref]
	return q, ok
}

// Forget drops the requests of the flow key once it has ended.
func (r *Requests) Forget(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, q := range r.inflight {
		if q.Key == key {
			delete(r.inflight, id)
		}
	}
}

// InboxSize is how many answers wait for a flow busy journaling the last
// one; more are dropped (the flow asks again).
const InboxSize = 8

// Why Deliver did not hand an answer over.
var (
	ErrNotRunning = errors.New("no flow of that key runs (it ended, or the answer is to an earlier copy of its request)")
	ErrFull       = errors.New("inbox full (the flow asks again)")
)

// Inboxes are the inboxes of the running flows of one kind, by business
// key. The zero value is ready.
type Inboxes[T any] struct {
	mu sync.Mutex
	m  map[string]chan T
}

// Open makes the inbox of the flow key, which is starting; answers are
// delivered to it from now until Close.
func (b *Inboxes[T]) Open(key string) <-chan T {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[string]chan T{}
	}
	ch := make(chan T, InboxSize)
	b.m[key] = ch
	return ch
}

// Get is the inbox of the flow key, nil if none runs.
func (b *Inboxes[T]) Get(key string) <-chan T {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.m[key]
}

// Close drops the inbox of the flow key, which has ended.
func (b *Inboxes[T]) Close(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, key)
}

// Running says whether the flow key has an inbox.
func (b *Inboxes[T]) Running(key string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.m[key] != nil
}

// Deliver hands v to the flow key without waiting: ErrNotRunning if none
// runs, ErrFull if its inbox is full.
func (b *Inboxes[T]) Deliver(key string, v T) error {
	b.mu.Lock()
	ch := b.m[key]
	b.mu.Unlock()
	if ch == nil {
		return ErrNotRunning
	}
	select {
	case ch <- v:
		return nil
	default:
		return ErrFull
	}
}
