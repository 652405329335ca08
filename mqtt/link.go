package mqtt

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/posagent/posagent/journal"
)

// LinkConfig is what the device needs to reach its broker.
type LinkConfig struct {
	URL      string // tcp://host:1883, tls://host:8883 (also ssl://, mqtts://)
	Username string
	Password string
	CAFile   string // PEM bundle trusted for tls:// (empty: system roots)
	Prefix   string
	DeviceID string // also the client id

	Keepalive      time.Duration
	ConnectTimeout time.Duration // one attempt; default 10 s
	BackoffMin     time.Duration // first wait after a failed attempt; default 1 s
	BackoffMax     time.Duration // cap; default 60 s
	AckTimeout     time.Duration // PUBACK wait per event; default 10 s
	EventTTL       time.Duration // exp of signed events, from sending; default 24 h
	// AckFlush is how long the deletes of acknowledged events wait for a
	// commit to ride on (journal.AckLater) before they are committed on
	// their own; default 2 s.
	AckFlush time.Duration

	Keys Keys
	Log  *slog.Logger
	// Now is the clock used to sign; default time.Now.
	Now func() time.Time
	// Dial, when set, makes the connection to the broker in place of a
	// TCP (or TLS) dial of URL: a link over another transport, or the
	// in-memory network of tests whose time is a bubble's
	// (testing/synctest), where a real socket would not do.
	Dial func() (net.Conn, error)
}

// Handlers are the link's callbacks into the device. They run on the link's
// goroutines and must not block for long.
type Handlers struct {
	// Command receives each payload published on the device's cmd topic
	// and says whether it is done with it. The broker's PUBACK is sent
	// after it returns true, so a command journaled inside it survives a
	// crash; on false (it could not be journaled: a full disk) no PUBACK
	// goes, and the broker sends it again when Redeliver reconnects.
	Command func(payload []byte) bool
	// Commands, when set, takes the place of Command: the payloads that
	// arrived together (a burst; a queue the broker held through an
	// outage), in order, so they can share one commit. It says of each
	// whether it is done with it, as Command does; each PUBACK follows.
	// then, when not nil, is run once the PUBACKs are queued (ackLoop):
	// the work the commands wake (their workers) starts after the
	// acknowledgements are on their way, so that the goroutines writing
	// them do not run ahead of it, and never waits for them to be written.
	Commands func(payloads [][]byte) (done []bool, then func())
	// Hello gives the message sent first on every connect (device.hello).
	Hello func() Message
	// Connected is told of each connect and disconnect.
	Connected func(up bool)
}

// Link is the device's connection to its broker. One per process; create it
// with NewLink and drive it with Run.
type Link struct {
	cfg     LinkConfig
	topics  Topics
	h       Handlers
	j       *journal.Journal
	client  paho.Client
	log     *slog.Logger
	up      atomic.Bool   // connected and device.hello sent: the outbox may flow
	unacked atomic.Bool   // a command was left unacknowledged (Redeliver)
	drops   atomic.Uint64 // connections lost so far (sendWindow)
	open    atomic.Bool   // connected: direct requests (Send) may go
	lost    chan struct{}
	kick    chan struct{}
	inbox   chan paho.Message // commands for Handlers.Commands (acceptLoop)
	acks    chan paho.Message // commands taken, to acknowledge in order (ackLoop)
	stopped chan struct{}     // closed as Run returns: the inbox is no longer read
	stateMu sync.Mutex
	state   []byte
	closing bool // shutting down: state updates are no longer published
}

// NewLink checks cfg and prepares the client; nothing is dialled until Run.
func NewLink(cfg LinkConfig, j *journal.Journal, h Handlers) (*Link, error) {
	topics, err := TopicsFor(cfg.Prefix, cfg.DeviceID)
	if err != nil {
		return nil, err
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Keepalive, 120*time.Second)
	def(&cfg.ConnectTimeout, 10*time.Second)
	def(&cfg.BackoffMin, time.Second)
	def(&cfg.BackoffMax, 60*time.Second)
	// A broker that does not acknowledge within two keepalives is gone;
	// waiting longer only holds up the flow that sent.
	def(&cfg.AckTimeout, min(10*time.Second, 2*cfg.Keepalive))
	def(&cfg.AckFlush, 2*time.Second)
	def(&cfg.EventTTL, 24*time.Hour)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	l := &Link{cfg: cfg, topics: topics, h: h, j: j, log: cfg.Log,
		lost: make(chan struct{}, 1), kick: make(chan struct{}, 1),
		inbox: make(chan paho.Message, maxBatch), acks: make(chan paho.Message, maxBatch),
		stopped: make(chan struct{})}

	opts := paho.NewClientOptions().
		AddBroker(cfg.URL).
		SetClientID(cfg.DeviceID).
		SetUsername(cfg.Username).
		SetPassword(cfg.Password).
		SetCleanSession(false). // commands queued while offline are delivered
		SetKeepAlive(cfg.Keepalive).
		SetPingTimeout(min(10*time.Second, cfg.Keepalive)).
		SetConnectTimeout(cfg.ConnectTimeout).
		SetAutoReconnect(false). // Run reconnects, with jitter
		SetConnectRetry(false).
		SetStore(newOrderedStore()). // in-flight events resent in the order they went
		SetOrderMatters(true).       // handler returns before PUBACK, in order
		SetAutoAckDisabled(true).    // PUBACK only for what the handler took (onMessage)
		SetBinaryWill(topics.State, []byte(`{"online":false}`), 1, true).
		SetDefaultPublishHandler(l.onMessage).
		SetOnConnectHandler(l.onConnect).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			l.log.Warn("mqtt connection lost", "err", err)
			l.setUp(false)
			select {
			case l.lost <- struct{}{}:
			default:
			}
		})
	if cfg.Dial != nil {
		opts.SetCustomOpenConnectionFn(func(*url.URL, paho.ClientOptions) (net.Conn, error) { return cfg.Dial() })
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("mqtt.ca_file %s: no PEM certificate in it", cfg.CAFile)
		}
		opts.SetTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	}
	l.client = paho.NewClient(opts)
	return l, nil
}

// Topics are the device's topics.
func (l *Link) Topics() Topics { return l.topics }

// Connected reports whether the link is up now.
func (l *Link) Connected() bool { return l.up.Load() }

func (l *Link) setUp(up bool) {
	if !up {
		l.open.Store(false)
		l.drops.Add(1)
	}
	if l.up.Swap(up) != up && l.h.Connected != nil {
		l.h.Connected(up)
	}
}

// Kick tells the sender that the outbox has something new.
func (l *Link) Kick() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// SetState publishes state (retained) now if connected, and on every
// connect from now on.
func (l *Link) SetState(state []byte) {
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	l.state = state
	if l.up.Load() && !l.closing {
		l.client.Publish(l.topics.State, 1, true, state) // best effort; re-sent on connect
	}
}

func (l *Link) onMessage(_ paho.Client, m paho.Message) {
	if m.Topic() != l.topics.Cmd {
		l.log.Warn("mqtt message on unexpected topic dropped", "topic", m.Topic())
		return
	}
	if l.h.Commands != nil {
		select {
		case l.inbox <- m: // taken by acceptLoop, acknowledged after its commit
		case <-l.stopped: // not acknowledged: sent again after the restart
		}
		return
	}
	if l.h.Command == nil || l.h.Command(m.Payload()) {
		m.Ack()
		return
	}
	l.unacked.Store(true)
}

// maxBatch bounds the commands taken in one commit (onMessage waits when
// that many are waiting: the broker holds the rest).
const maxBatch = 64

// acceptLoop hands the commands waiting in the inbox to Handlers.Commands,
// all that are there at once, has each it took acknowledged (ackLoop),
// then runs the work they started (then). Those left when ctx ends are
// not acknowledged: the broker sends them again.
func (l *Link) acceptLoop(ctx context.Context) {
	var batch []paho.Message
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-l.inbox:
			batch = append(batch[:0], m)
		}
	more:
		for len(batch) < maxBatch {
			select {
			case m := <-l.inbox:
				batch = append(batch, m)
			default:
				break more
			}
		}
		payloads := make([][]byte, len(batch))
		for i, m := range batch {
			payloads[i] = m.Payload()
		}
		done, then := l.h.Commands(payloads)
		for i, ok := range done {
			if !ok {
				l.unacked.Store(true)
				continue
			}
			select {
			case l.acks <- batch[i]:
			case <-ctx.Done():
				return // not acknowledged: sent again after the restart
			}
		}
		if then != nil {
			then()
		}
	}
}

// ackLoop acknowledges the commands acceptLoop took, in the order taken.
// paho's Ack waits for the goroutine that writes to the socket, which a
// stalled uplink (a backlog of events going out) holds up: here it holds
// up the acknowledgements only, not the work the commands started.
// Those not acknowledged when ctx ends are sent again by the broker.
func (l *Link) ackLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-l.acks:
			m.Ack()
		}
	}
}

// Redeliver has the broker send again every command not acknowledged
// (Command said false): MQTT redelivers unacknowledged messages of a
// persistent session only when the client reconnects, so it drops the
// connection and Run connects again. Nothing happens when all were taken.
func (l *Link) Redeliver() {
	if !l.up.Load() || !l.unacked.Swap(false) {
		return // not connected: the next connect redelivers anyway
	}
	l.log.Info("mqtt reconnecting for the commands not acknowledged")
	l.client.Disconnect(100)
	l.setUp(false)
	select {
	case l.lost <- struct{}{}:
	default:
	}
}

func (l *Link) onConnect(c paho.Client) {
	// The session is persistent, so the broker remembers the subscription;
	// subscribing again is harmless and covers a broker that lost it.
	if t := c.Subscribe(l.topics.Cmd, 1, l.onMessage); !t.WaitTimeout(l.cfg.AckTimeout) || t.Error() != nil {
		l.log.Warn("mqtt subscribe failed", "err", t.Error())
	}
	// Under stateMu, so it is queued before shutdown's offline state or
	// not at all: no online state may follow the offline one.
	l.stateMu.Lock()
	if l.state != nil && !l.closing {
		c.Publish(l.topics.State, 1, true, l.state)
	}
	l.stateMu.Unlock()
	// Direct requests may go from now on (a flow that sees the hello may
	// act at once); the outbox waits until the hello is out, so the
	// platform always hears hello (and the device's key) first.
	l.open.Store(true)
	if l.h.Hello != nil {
		if err := l.publish(l.h.Hello()); err != nil {
			l.log.Warn("device.hello not sent", "err", err)
		}
	}
	l.log.Info("mqtt connected", "url", l.cfg.URL, "client_id", l.cfg.DeviceID)
	l.setUp(true)
	l.Kick()
}

// Run connects and keeps the link up until ctx is done, sending the outbox
// in order. On the way out it publishes {"online":false} itself and
// disconnects cleanly, so the will is not fired.
func (l *Link) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); l.sendLoop(ctx) }()
	go func() { defer wg.Done(); l.acceptLoop(ctx) }()
	go func() { defer wg.Done(); l.ackLoop(ctx) }()
	defer wg.Wait()
	defer close(l.stopped)

	attempt := 0
	for ctx.Err() == nil {
		t := l.client.Connect()
		select {
		case <-t.Done():
		case <-ctx.Done():
			// The connection may be up already: the CONNACK and the stop
			// can arrive together, and onConnect may have published the
			// online state. Then it must say offline itself, as a clean
			// disconnect fires no will.
			t.WaitTimeout(time.Second)
			l.shutdown()
			return nil
		}
		if err := t.Error(); err != nil {
			wait := Backoff(attempt, l.cfg.BackoffMin, l.cfg.BackoffMax)
			l.log.Warn("mqtt connect failed", "url", l.cfg.URL, "err", err, "retry_in", wait.Round(time.Millisecond))
			attempt++
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return nil
			}
			continue
		}
		attempt = 0
		select {
		case <-l.lost:
		case <-ctx.Done():
			l.shutdown()
			return nil
		}
	}
	return nil
}

func (l *Link) shutdown() {
	// No state may follow the offline one: it is the last word retained.
	l.stateMu.Lock()
	l.closing = true
	l.stateMu.Unlock()
	if l.client.IsConnectionOpen() {
		t := l.client.Publish(l.topics.State, 1, true, []byte(`{"online":false}`))
		t.WaitTimeout(2 * time.Second)
	}
	l.setUp(false)
	l.client.Disconnect(250)
}

// Backoff is the wait before reconnect attempt n (from 0): doubling from
// min, capped at max, with "equal jitter" (half fixed, half random) so a
// fleet that lost its broker at once does not come back at once.
func Backoff(n int, min, max time.Duration) time.Duration {
	d := min
	for i := 0; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	half := d / 2
	return half + rand.N(half+1)
}

// queued is an outbox entry: the message, signed when sent so that a long
// outage cannot make it expire before it leaves.
type queued struct {
	Message
	Iat int64 `json:"iat"`
}

// Enqueue adds m to the outbox within tx, so the event is durable in the
// same commit as the state change it reports. Call Kick after the commit.
func Enqueue(tx *journal.Tx, m Message) error {
	if m.ID == "" {
		m.ID = NewID()
	}
	_, err := tx.Enqueue(queued{Message: m, Iat: m.IssuedAt.Unix()})
	return err
}

// OutboxWindow is how many outbox events may be in flight at once. MQTT
// lets a client publish many QoS 1 messages before their PUBACKs, and a
// broker delivers them in the order sent, so a backlog drains at a window
// per round trip instead of one event per round trip and commit.
const OutboxWindow = 32

// sendLoop publishes outbox entries in order, a window at a time. The
// acknowledged ones (a prefix of the window, in order) are deleted by the
// journal's next commit (journal.AckLater), or after AckFlush by one of
// their own, or at once when maxAcked wait. A failure leaves that entry and
// the ones after it for the next round or connect: they are sent again, in
// order (events are at least once; the platform keys them by jti).
func (l *Link) sendLoop(ctx context.Context) {
	retry := time.NewTicker(time.Second)
	defer retry.Stop()
	flush := time.NewTimer(time.Hour)
	flush.Stop()
	defer flush.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.kick:
		case <-retry.C:
		case <-flush.C:
			if err := l.j.FlushAcks(); err != nil {
				l.log.Error("outbox ack failed", "err", err)
			}
			continue
		}
		for l.up.Load() && ctx.Err() == nil {
			entries, err := l.j.Pending(OutboxWindow)
			if err != nil {
				l.log.Error("outbox read failed", "err", err)
				break
			}
			if len(entries) == 0 {
				break
			}
			if !l.sendWindow(entries) {
				break
			}
		}
		if l.j.Acked() > 0 {
			flush.Reset(l.cfg.AckFlush)
		}
	}
}

// sendWindow publishes entries without waiting between them, then waits
// for their PUBACKs in order and deletes the acknowledged prefix; false
// when one failed (the rest stay queued).
func (l *Link) sendWindow(entries []journal.Entry) bool {
	type inflight struct {
		seq uint64
		typ string
		tok paho.Token
	}
	var sent []inflight
	var done []uint64
	ok := true
	// A token is not a PUBACK once the connection dropped: on the
	// reconnect paho sends the window again itself and completes the
	// tokens it had, without an error, as it claims their message ids for
	// its copies. An event of a window a drop cut through is taken as not
	// acknowledged and sent again from the journal.
	drops := l.drops.Load()
	for _, e := range entries {
		var q queued
		if err := json.Unmarshal(e.Data, &q); err != nil {
			// Cannot happen for entries written by Enqueue; dropping
			// keeps one bad record from blocking every later event.
			l.log.Error("outbox entry unreadable, dropped", "seq", e.Seq, "err", err)
			if len(sent) == 0 {
				done = append(done, e.Seq)
			}
			continue
		}
		q.Message.IssuedAt = time.Unix(q.Iat, 0)
		tok, err := l.publishAsync(q.Message)
		if err != nil {
			l.log.Warn("event not sent, will retry", "type", q.Type, "err", err)
			ok = false
			break
		}
		sent = append(sent, inflight{e.Seq, q.Type, tok})
	}
	for _, f := range sent {
		if !f.tok.WaitTimeout(l.cfg.AckTimeout) {
			l.log.Warn("event not sent, will retry", "type", f.typ, "err", errNotAcked)
			ok = false
			break
		}
		if err := f.tok.Error(); err != nil {
			l.log.Warn("event not sent, will retry", "type", f.typ, "err", err)
			ok = false
			break
		}
		if l.drops.Load() != drops {
			l.log.Warn("event not sent, will retry", "type", f.typ, "err", "connection lost with it in flight")
			ok = false
			break
		}
		done = append(done, f.seq)
	}
	l.j.AckLater(done)
	if l.j.Acked() >= maxAcked {
		if err := l.j.FlushAcks(); err != nil {
			l.log.Error("outbox ack failed", "seq", done[0], "err", err)
			return false
		}
	}
	return ok
}

// maxAcked bounds the acknowledged events kept in the journal waiting for
// a commit to delete them: what a crash would have sent again, and what
// Pending steps over.
const maxAcked = 8 * OutboxWindow

// ErrOffline is returned by Send while the link is down.
var ErrOffline = errors.New("mqtt link is down")

// Send signs m and publishes it now, waiting for the broker's PUBACK,
// bypassing the outbox. It is for requests that carry a secret which must
// never be written to disk (a payment code) and for requests that their
// flow re-sends on its own schedule anyway (queries, reverses): a failure is
// the caller's to retry, nothing is queued.
func (l *Link) Send(m Message) error {
	if !l.open.Load() {
		return ErrOffline
	}
	return l.publish(m)
}

// errNotAcked is returned when the broker did not acknowledge in time.
var errNotAcked = errors.New("no PUBACK in time")

// publish signs m and publishes it on evt with QoS 1, waiting for PUBACK.
func (l *Link) publish(m Message) error {
	t, err := l.publishAsync(m)
	if err != nil {
		return err
	}
	if !t.WaitTimeout(l.cfg.AckTimeout) {
		return errNotAcked
	}
	return t.Error()
}

// publishAsync signs m and hands it to the client; the token completes on
// PUBACK.
func (l *Link) publishAsync(m Message) (paho.Token, error) {
	now := l.cfg.Now()
	m.Dev = l.cfg.DeviceID
	if m.IssuedAt.IsZero() || m.IssuedAt.Unix() <= 0 {
		m.IssuedAt = now
	}
	m.ExpiresAt = now.Add(l.cfg.EventTTL)
	tok, err := Sign(m, l.cfg.Keys)
	if err != nil {
		return nil, err
	}
	return l.client.Publish(l.topics.Evt, 1, false, tok), nil
}

// orderedStore is paho's memory store, listing what it holds in the order
// it was put. paho sends the stored in-flight publishes again on a
// reconnect in the store's order, and its MemoryStore lists a map: a
// window of events cut off by a dropped connection would reach the broker
// shuffled (TestOutboxOrderAcrossReconnectAndRestart saw event 165 before
// 161).
type orderedStore struct {
	*paho.MemoryStore
	mu    sync.Mutex
	seq   uint64
	order map[string]uint64
}

func newOrderedStore() *orderedStore {
	return &orderedStore{MemoryStore: paho.NewMemoryStore(), order: map[string]uint64{}}
}

func (s *orderedStore) Put(key string, m packets.ControlPacket) {
	s.MemoryStore.Put(key, m)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.order[key]; !ok {
		s.seq++
		s.order[key] = s.seq
	}
}

func (s *orderedStore) Del(key string) {
	s.MemoryStore.Del(key)
	s.mu.Lock()
	delete(s.order, key)
	s.mu.Unlock()
}

func (s *orderedStore) Reset() {
	s.MemoryStore.Reset()
	s.mu.Lock()
	clear(s.order)
	s.mu.Unlock()
}

func (s *orderedStore) All() []string {
	keys := s.MemoryStore.All()
	s.mu.Lock()
	defer s.mu.Unlock()
	slices.SortFunc(keys, func(a, b string) int { return cmp.Compare(s.order[a], s.order[b]) })
	return keys
}
