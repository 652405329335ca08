package platform

import (
	"context"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/wire"
)

// Sim is the platform simulator: it takes the events of every device as a
// shared-subscription worker (group "sim"), verifies them, learns each
// device's public key from device.hello, and answers the money-flow requests
// as a platform in front of WeChat Pay / Alipay would (see Provider for the
// outcomes, chosen by amount or scripted). Each answer is a cmd signed HS256
// whose ref is the request's jti.
//
// It can misbehave the way a real link and platform do (Faults): drop an
// answer, delay it, answer twice. A correct device survives all three,
// because it matches answers by business key and resolves by query.
//
// Set the fields before Start or Run; the zero values are usable.
type Sim struct {
	Client *Client
	Log    *slog.Logger
	// OnEvent, if set, is told of every verified event (the dev kit prints
	// them). A pay.submit's auth_code is masked in what it is given.
	OnEvent func(Event)
	// OnAnswer, if set, is told of every answer when it is decided, before
	// it is sent (or dropped).
	OnAnswer func(Answer)
	// Now is the clock of the ledger and paid_at; default time.Now.
	Now func() time.Time
	// Provider is the payment provider behind this platform. Nil makes one
	// (with Now, PayingQueries and Recalls); Sims sharing one are workers of
	// the same platform.
	Provider *Provider
	// PayingQueries and Recalls configure the Provider the Sim makes (see
	// Provider); 0 means the default, 2.
	PayingQueries, Recalls int
	// Faults are the misbehaviours to inject; SetFaults changes them later.
	Faults Faults
	// OmitOp sends pay.status without its op (as does Provider.OmitOp): a
	// platform that does not implement that extension. The device must
	// then match answers by ref and business key alone.
	OmitOp bool

	once     sync.Once
	mu       sync.Mutex
	counts   map[string]int
	rng      *rand.Rand
	pending  map[*time.Timer]struct{}
	inflight sync.WaitGroup
}

// Faults are the answers' misbehaviours. The choices come from a PRNG seeded
// with Seed and drawn in the order the Sim handles requests, the same number
// of draws per answer whatever the settings, so a run with the same requests
// in the same order misbehaves the same way.
type Faults struct {
	// Drop is the fraction (0-1) of answers never sent.
	Drop float64
	// Delay holds each answer back this long, plus a uniform random part of
	// up to Jitter (answers can then overtake each other, as they do behind
	// a clustered platform).
	Delay, Jitter time.Duration
	// Dup is the fraction of answers sent twice: the second copy is a new
	// command (new jti) with the same body and ref, as when two platform
	// workers answer the same request.
	Dup  float64
	Seed uint64
}

// Answer is an answer the Sim decided on.
type Answer struct {
	Dev string
	// Request is the request it answers (auth_code masked).
	Request mqtt.Message
	Type    string
	// Body is a PayStatus (Op "" when sent without op), OrderFound,
	// RefundStatus or DepositStatus.
	Body any
	// Delays holds one delay per copy sent: none when the answer is dropped,
	// two when it is sent twice.
	Delays []time.Duration
}

func (s *Sim) init() {
	s.once.Do(func() {
		if s.Log == nil {
			s.Log = slog.Default()
		}
		if s.Now == nil {
			s.Now = time.Now
		}
		if s.Provider == nil {
			s.Provider = &Provider{Now: s.Now, PayingQueries: s.PayingQueries, Recalls: s.Recalls}
		}
		s.mu.Lock()
		s.counts = map[string]int{}
		s.pending = map[*time.Timer]struct{}{}
		s.rng = rand.New(rand.NewPCG(s.Faults.Seed, 0x706f7361))
		s.mu.Unlock()
	})
}

// SetFaults changes the faults and restarts their PRNG from f.Seed.
func (s *Sim) SetFaults(f Faults) {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Faults = f
	s.rng = rand.New(rand.NewPCG(f.Seed, 0x706f7361))
}

// Script sets the outcome of the order outTradeNo, or with "" of the next
// new order (see Provider.Script).
func (s *Sim) Script(outTradeNo string, o Outcome) {
	s.init()
	s.Provider.Script(outTradeNo, o)
}

// ScriptRefund sets the outcome of the refund outRefundNo, or with "" of
// the next new refund (see Provider.ScriptRefund).
func (s *Sim) ScriptRefund(outRefundNo string, o Outcome) {
	s.init()
	s.Provider.ScriptRefund(outRefundNo, o)
}

// Check returns the violations of the provider's invariants (see
// Provider.Check).
func (s *Sim) Check() []string {
	s.init()
	return s.Provider.Check()
}

// Ledger is the provider's ledger (see Provider.Ledger).
func (s *Sim) Ledger() []LedgerEntry {
	s.init()
	return s.Provider.Ledger()
}

// Summary totals the ledger.
func (s *Sim) Summary() LedgerSummary {
	s.init()
	return s.Provider.Summary()
}

// Start subscribes and serves events in the background until ctx is done.
// Once it returns, every event published afterwards reaches the Sim.
func (s *Sim) Start(ctx context.Context) error {
	_, err := s.start(ctx)
	return err
}

// Run serves events until ctx is done. It returns after the answers being
// published have been; answers still waiting out a fault delay are dropped.
func (s *Sim) Run(ctx context.Context) error {
	done, err := s.start(ctx)
	if err != nil {
		return err
	}
	<-done
	return nil
}

func (s *Sim) start(ctx context.Context) (<-chan struct{}, error) {
	s.init()
	events, err := s.Client.Subscribe(ctx, "+", "sim")
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				s.stop()
				return
			case e, ok := <-events:
				if !ok {
					s.stop()
					return
				}
				s.Handle(e)
			}
		}
	}()
	return done, nil
}

// stop cancels the delayed answers and waits for those being published.
func (s *Sim) stop() {
	s.mu.Lock()
	for t := range s.pending {
		if t.Stop() {
			s.inflight.Done()
		}
	}
	clear(s.pending)
	s.mu.Unlock()
	s.inflight.Wait()
}

// Handle takes one event. Requests are answered in the order they are
// handled; Run calls it from one goroutine.
func (s *Sim) Handle(e Event) {
	s.init()
	if e.State != nil {
		return
	}
	if e.Err != nil {
		s.count("rejected")
		s.Log.Warn("event rejected", "dev", e.Dev, "err", e.Err)
		return
	}
	// Everything passed on (OnEvent, OnAnswer, logs) gets the body with the
	// payment code masked; only the provider sees it in clear.
	raw := e.Message.Body
	e.Message.Body = RedactBody(raw)
	m := e.Message
	s.count(m.Type)
	s.Log.Debug("event", "dev", e.Dev, "type", m.Type, "alg", m.Alg)
	if s.OnEvent != nil {
		s.OnEvent(e)
	}
	// The requests that move money back to the customer or out of a
	// freeze: only the device's own key may ask for them (protocol §2),
	// so a leaked auth key alone cannot reverse or refund.
	if wire.MoneyOut(m.Type) && m.Alg != mqtt.PS256 {
		s.count("refused")
		s.Log.Warn("money-out request not signed with the device key: refused", "dev", e.Dev, "type", m.Type, "alg", m.Alg, "jti", m.ID)
		return
	}
	p := s.Provider
	switch m.Type {
	case wire.TypePaySubmit:
		var r PaySubmit
		if s.decode(e, raw, &r) || s.missing(e, r.OutTradeNo) {
			return
		}
		s.answer(e, wire.TypePayStatus, p.Submit(e.Dev, r))
	case wire.TypePayQuery, wire.TypePayReverse, wire.TypeOrderLookup:
		var r wire.OrderRef
		if s.decode(e, raw, &r) || s.missing(e, r.OutTradeNo) {
			return
		}
		switch m.Type {
		case wire.TypePayQuery:
			s.answer(e, wire.TypePayStatus, p.Query(e.Dev, r.OutTradeNo))
		case wire.TypePayReverse:
			s.answer(e, wire.TypePayStatus, p.Reverse(e.Dev, r.OutTradeNo))
		default:
			s.answer(e, wire.TypeOrderFound, p.Lookup(e.Dev, r.OutTradeNo))
		}
	case wire.TypeRefundRequest:
		var r RefundRequest
		if s.decode(e, raw, &r) || s.missing(e, r.OutTradeNo) || s.missing(e, r.OutRefundNo) {
			return
		}
		s.answer(e, wire.TypeRefundStatus, p.Refund(e.Dev, r))
	case wire.TypeRefundQuery:
		// HS256 is enough: it only reads (and moves a PROCESSING refund on,
		// as time would).
		var r RefundQuery
		if s.decode(e, raw, &r) || s.missing(e, r.OutRefundNo) {
			return
		}
		s.answer(e, wire.TypeRefundStatus, p.RefundQuery(e.Dev, r))
	case wire.TypeDepositQuery:
		// An empty out_request_no asks for the deposit's own state.
		var r DepositRequest
		if s.decode(e, raw, &r) || s.missing(e, r.OutTradeNo) {
			return
		}
		s.answer(e, wire.TypeDepositStatus, p.DepositQuery(e.Dev, r))
	case wire.TypeDepositConsume, wire.TypeDepositUnfreeze:
		var r DepositRequest
		if s.decode(e, raw, &r) || s.missing(e, r.OutTradeNo) || s.missing(e, r.OutRequestNo) {
			return
		}
		s.answer(e, wire.TypeDepositStatus, p.Deposit(e.Dev, m.Type[len("deposit."):], r))
	default:
		if wire.Catalogue[m.Type].Class != wire.Event { // events need no answer
			s.count("ignored")
			s.Log.Info("request type not simulated: ignored", "dev", e.Dev, "type", m.Type)
		}
	}
}

// decode parses the request body into v; true means it was unusable and the
// request is dropped (no answer can be tied to a business key it lacks).
func (s *Sim) decode(e Event, raw json.RawMessage, v any) bool {
	if err := json.Unmarshal(raw, v); err != nil {
		s.count("bad_request")
		s.Log.Warn("request body unusable: ignored", "dev", e.Dev, "type", e.Message.Type, "err", err)
		return true
	}
	return false
}

func (s *Sim) missing(e Event, key string) bool {
	if key == "" {
		s.count("bad_request")
		s.Log.Warn("request without its business key: ignored", "dev", e.Dev, "type", e.Message.Type)
		return true
	}
	return false
}

// answer applies the faults and sends body as typ to the requesting device.
func (s *Sim) answer(e Event, typ string, body any) {
	if ps, ok := body.(PayStatus); ok && s.OmitOp {
		ps.Op = ""
		body = ps
	}
	s.mu.Lock()
	f := s.Faults
	// Always four draws, so the pattern for a seed does not depend on which
	// faults are switched on.
	dropDraw, dupDraw := s.rng.Float64(), s.rng.Float64()
	j1, j2 := s.rng.Float64(), s.rng.Float64()
	s.mu.Unlock()

	a := Answer{Dev: e.Dev, Request: e.Message, Type: typ, Body: body}
	if dropDraw >= f.Drop {
		jitter := func(x float64) time.Duration { return f.Delay + time.Duration(x*float64(f.Jitter)) }
		a.Delays = append(a.Delays, jitter(j1))
		if dupDraw < f.Dup {
			a.Delays = append(a.Delays, jitter(j2))
		}
	}
	s.count("answers")
	switch len(a.Delays) {
	case 0:
		s.count("answers.dropped")
	case 2:
		s.count("answers.duplicated")
	}
	s.Log.Debug("answer", "dev", e.Dev, "type", typ, "ref", e.Message.ID, "copies", len(a.Delays))
	if s.OnAnswer != nil {
		s.OnAnswer(a)
	}
	for _, d := range a.Delays {
		if d <= 0 {
			s.send(e.Dev, typ, e.Message.ID, body)
			continue
		}
		s.inflight.Add(1)
		s.mu.Lock()
		var t *time.Timer
		t = time.AfterFunc(d, func() {
			defer s.inflight.Done()
			s.mu.Lock()
			delete(s.pending, t)
			s.mu.Unlock()
			s.send(e.Dev, typ, e.Message.ID, body)
		})
		s.pending[t] = struct{}{}
		s.mu.Unlock()
	}
}

func (s *Sim) send(dev, typ, ref string, body any) {
	if s.Client == nil { // Handle driven directly, without a broker
		s.count("answers.failed")
		return
	}
	if ps, ok := body.(PayStatus); ok && ps.Op == "" {
		body = payStatusNoOp{PayStatus: ps}
	}
	if _, err := s.Client.SendRef(dev, typ, ref, body); err != nil {
		s.count("answers.failed")
		s.Log.Warn("answer not sent", "dev", dev, "type", typ, "ref", ref, "err", err)
		return
	}
	s.count("answers.sent")
}

func (s *Sim) count(k string) {
	s.mu.Lock()
	s.counts[k]++
	s.mu.Unlock()
}

// Counts returns how many events of each type were taken, and, under these
// keys: "rejected" (failed verification), "refused" (money-out request not
// PS256), "bad_request", "ignored" (request types not simulated), "answers"
// (decided), "answers.sent" (copies published), "answers.dropped",
// "answers.duplicated", "answers.failed" (publish failed).
func (s *Sim) Counts() map[string]int {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.counts))
	for k, v := range s.counts {
		out[k] = v
	}
	return out
}

// MaskCode masks a payment code but for its last 4 characters: the code is
// a bearer secret (protocol §4.2), and the last 4 are what a cashier and the
// journal use to tell payments apart.
func MaskCode(code string) string {
	if len(code) <= 4 {
		return strings.Repeat("*", len(code))
	}
	return strings.Repeat("*", len(code)-4) + code[len(code)-4:]
}

// RedactBody returns an object body with its "auth_code" masked by MaskCode
// (the key matched without case, as encoding/json matches it), for printing
// or logging an event body. Anything else is returned as is.
func RedactBody(body json.RawMessage) json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return body
	}
	found := false
	for k, v := range m {
		if !strings.EqualFold(k, "auth_code") {
			continue
		}
		var code string
		if json.Unmarshal(v, &code) != nil {
			code = string(v)
		}
		m[k], _ = json.Marshal(MaskCode(code))
		found = true
	}
	if !found {
		return body
	}
	out, err := json.Marshal(m)
	if err != nil {
		return body
	}
	return out
}

// payStatusNoOp is a pay.status sent without its op key (Sim.OmitOp,
// Provider.OmitOp): the shallower Op field, empty and omitempty, hides the
// wire struct's, which has no omitempty. The wire type itself is not
// changed: the op extension stays in the contract.
type payStatusNoOp struct {
	PayStatus
	Op string `json:"op,omitempty"`
}
