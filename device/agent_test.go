package device

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/drivers/audioout"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/platform"
	"github.com/posagent/posagent/printer"
	"github.com/posagent/posagent/wire"

	"github.com/posagent/posagent/internal/testkit"
)

var (
	testKeyOnce sync.Once
	testKey     *rsa.PrivateKey
)

// deviceKey is shared by the tests: RSA generation costs ~100 ms each.
func deviceKey(t testing.TB) *rsa.PrivateKey {
	testKeyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		testKey = k
	})
	return testKey
}

// jobs is the printer of these tests: it keeps each job's bytes. The real
// serial path is covered by the black-box tests of the e2e module.
type jobs struct {
	mu   sync.Mutex
	jobs [][]byte
}

func (p *jobs) Print(_ context.Context, job []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.jobs = append(p.jobs, append([]byte(nil), job...))
	return nil
}

func (p *jobs) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.jobs)
}

type rig struct {
	t       testing.TB
	broker  *platform.Broker
	plat    *platform.Client
	events  <-chan platform.Event
	cfg     config.Config
	wavDir  string
	printer *jobs
	dbPath  string
	stop    func()
	scans   chan string
	agent   *Agent
	logs    *lockedBuffer   // when set, the agent logs here too
	key     *rsa.PrivateKey // the device key; nil: deviceKey
}

// lockedBuffer is a log sink the test reads while the agent writes.
type lockedBuffer = testkit.Log

func logSink() io.Writer {
	if os.Getenv("POSAGENT_TEST_LOG") != "" {
		return os.Stderr
	}
	return io.Discard
}

const devID = "dev-0001"

func newConfig(t testing.TB, url string) config.Config {
	c := config.Default()
	c.DeviceID, c.Serial, c.Board = devID, "SN0001", "sim"
	c.DataDir = t.TempDir()
	c.MQTT.URL = url
	key := make([]byte, 32)
	rand.Read(key)
	c.AuthKey = base64.StdEncoding.EncodeToString(key)
	c.Audio.Out = "wav:" + filepath.Join(c.DataDir, "wav")
	c.Store.Name = "测试小店"
	c.API.Listen = "127.0.0.1:0"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

func quiet() *slog.Logger {
	if os.Getenv("POSAGENT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newRig(t testing.TB) *rig {
	b, err := platform.StartBroker("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, broker: b, cfg: newConfig(t, b.URL()), printer: &jobs{}}
	r.wavDir = strings.TrimPrefix(r.cfg.Audio.Out, "wav:")
	r.dbPath = filepath.Join(r.cfg.DataDir, "journal.db")
	r.connectPlatform()
	t.Cleanup(func() {
		if r.stop != nil {
			r.stop()
		}
		r.plat.Close()
		r.broker.Close()
	})
	return r
}

func (r *rig) connectPlatform() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	plat, err := platform.Dial(ctx, platform.Options{URL: r.broker.URL(), Log: quiet()})
	if err != nil {
		r.t.Fatal(err)
	}
	plat.AddDevice(platform.Device{ID: devID, AuthKey: r.cfg.AuthKeyBytes()})
	ev, err := plat.Subscribe(context.Background(), "+", "")
	if err != nil {
		r.t.Fatal(err)
	}
	r.plat, r.events = plat, ev
}

// start runs an agent on the rig's journal, speaking through the
// configured output, until stop is called.
func (r *rig) start() {
	r.t.Helper()
	out, err := audioout.Open(r.cfg.Audio.Out)
	if err != nil {
		r.t.Fatal(err)
	}
	r.startWith(out, nil)
}

// startWith is start with the speaker and clock (nil: the wall clock)
// chosen by the test.
func (r *rig) startWith(out AudioOut, clk Clock) {
	r.t.Helper()
	o, err := journal.OpenDir(filepath.Dir(r.dbPath), time.Now())
	if err != nil {
		r.t.Fatal(err)
	}
	j := o.Journal
	if r.scans == nil {
		r.scans = make(chan string, 16)
	}
	log := quiet()
	if r.logs != nil {
		log = slog.New(slog.NewTextHandler(io.MultiWriter(r.logs, logSink()), nil))
	}
	key := r.key
	if key == nil {
		key = deviceKey(r.t)
	}
	a, err := New(Options{Config: r.cfg, Journal: j, Key: key, Audio: out, Printer: r.printer, Scans: r.scans, Clock: clk, Log: log})
	if err != nil {
		r.t.Fatal(err)
	}
	r.agent = a
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	r.stop = func() {
		cancel()
		<-done
		if c, ok := out.(io.Closer); ok {
			c.Close()
		}
		j.Close()
		r.stop = nil
	}
	r.waitFor("device.hello", 15*time.Second)
}

// waitFor returns the next event of type typ.
func (r *rig) waitFor(typ string, d time.Duration) mqtt.Message {
	r.t.Helper()
	timeout := time.After(d)
	for {
		select {
		case e := <-r.events:
			if e.Err != nil {
				r.t.Fatalf("event failed verification: %v", e.Err)
			}
			if e.State == nil && e.Message.Type == typ {
				return e.Message
			}
		case <-timeout:
			r.t.Fatalf("no %s event within %v", typ, d)
		}
	}
}

// answer waits for the event answering jti.
func (r *rig) answer(jti string, d time.Duration) mqtt.Message {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	m, err := platform.Await(ctx, r.events, jti)
	if err != nil {
		r.t.Fatal(err)
	}
	return m
}

// noEvent asserts that no event (other than state) arrives for d.
func (r *rig) noEvent(d time.Duration) {
	r.t.Helper()
	timeout := time.After(d)
	for {
		select {
		case e := <-r.events:
			if e.State == nil {
				r.t.Fatalf("unexpected event %s %s", e.Message.Type, e.Message.Body)
			}
		case <-timeout:
			return
		}
	}
}

func (r *rig) send(typ string, body any) mqtt.Message {
	r.t.Helper()
	m, err := r.plat.Send(devID, typ, body)
	if err != nil {
		r.t.Fatal(err)
	}
	return m
}

func body[T any](t testing.TB, m mqtt.Message) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(m.Body, &v); err != nil {
		t.Fatalf("%s body %s: %v", m.Type, m.Body, err)
	}
	return v
}

func (r *rig) wavs() []string {
	ents, _ := os.ReadDir(r.wavDir)
	var n []string
	for _, e := range ents {
		// network.wav and the temporary file it is written to (.tmp-*)
		// come and go with the link; the rest are the announcements.
		if strings.HasSuffix(e.Name(), ".wav") && e.Name() != "network.wav" && !strings.HasPrefix(e.Name(), ".tmp-") {
			n = append(n, e.Name())
		}
	}
	return n
}

// The device says when its link comes up.
func TestNetworkPrompt(t *testing.T) {
	r := newRig(t)
	r.start()
	waitTrue(t, 15*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(r.wavDir, "network.wav"))
		return err == nil
	})
}

func TestNotifyPaymentEndToEnd(t *testing.T) {
	r := newRig(t)
	r.start()
	cmd := r.send("notify.payment", map[string]any{"order_id": "o-128", "amount": 12850, "wallet": "wechat", "print": true, "copies": 1})
	ans := r.answer(cmd.ID, 10*time.Second)
	if ans.Type != "notify.done" {
		t.Fatalf("answer %s %s", ans.Type, ans.Body)
	}
	d := body[wire.NotifyDone](t, ans)
	if !d.Announced || !d.Printed || d.Duplicate || d.OrderID != "o-128" || d.Said != "微信收款一百二十八点五元" {
		t.Fatalf("notify.done %+v", d)
	}
	// The WAV holds the speech: 16 kHz mono, at least a second and a half of it.
	data, err := os.ReadFile(filepath.Join(r.wavDir, "o-128.wav"))
	if err != nil {
		t.Fatal(err)
	}
	if secs := float64(len(data)-44) / 32000; secs < 1.5 {
		t.Fatalf("announcement is %.2f s long", secs)
	}
	if r.printer.count() != 1 {
		t.Fatalf("%d print jobs", r.printer.count())
	}
	doc, err := printer.Decode(r.printer.jobs[0])
	if err != nil {
		t.Fatal(err)
	}
	text := doc.Text()
	for _, want := range []string{"测试小店", "128.50", "微信", "o-128"} {
		if !strings.Contains(text, want) {
			t.Errorf("receipt lacks %q:\n%s", want, text)
		}
	}
}

func TestNotifyDuplicateOrderAnnouncedOnce(t *testing.T) {
	r := newRig(t)
	r.start()
	body1 := map[string]any{"order_id": "o-dup", "amount": 100, "wallet": "alipay", "print": true}
	first := r.answer(r.send("notify.payment", body1).ID, 10*time.Second)
	second := r.answer(r.send("notify.payment", body1).ID, 10*time.Second)
	if d := body[wire.NotifyDone](t, first); d.Duplicate || !d.Announced {
		t.Fatalf("first %+v", d)
	}
	if d := body[wire.NotifyDone](t, second); !d.Duplicate || d.Announced || d.Printed {
		t.Fatalf("second %+v", d)
	}
	// And after a restart the order is still known.
	r.stop()
	r.start()
	third := r.answer(r.send("notify.payment", body1).ID, 10*time.Second)
	if d := body[wire.NotifyDone](t, third); !d.Duplicate {
		t.Fatalf("after restart %+v", d)
	}
	if w := r.wavs(); len(w) != 1 || r.printer.count() != 1 {
		t.Fatalf("announced %v, printed %d", w, r.printer.count())
	}
}

func TestRedeliveredJTIAnsweredNotReExecuted(t *testing.T) {
	r := newRig(t)
	r.start()
	now := time.Now()
	m := mqtt.Message{ID: mqtt.NewID(), Type: "notify.payment", Dev: devID, IssuedAt: now, ExpiresAt: now.Add(time.Minute),
		Body: json.RawMessage(`{"order_id":"o-re","amount":500,"wallet":"wechat"}`)}
	tok, err := r.plat.Sign(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.plat.Publish(devID, tok); err != nil {
		t.Fatal(err)
	}
	a1 := r.answer(m.ID, 10*time.Second)
	if err := r.plat.Publish(devID, tok); err != nil {
		t.Fatal(err)
	}
	a2 := r.answer(m.ID, 10*time.Second)
	if a1.ID != a2.ID || string(a1.Body) != string(a2.Body) {
		t.Fatalf("second answer differs: %s %s vs %s %s", a1.ID, a1.Body, a2.ID, a2.Body)
	}
	if d := body[wire.NotifyDone](t, a2); d.Duplicate || !d.Announced {
		t.Fatalf("re-sent answer %+v", d)
	}
	if w := r.wavs(); len(w) != 1 {
		t.Fatalf("announced %v", w)
	}
}

func TestRefusedTokens(t *testing.T) {
	r := newRig(t)
	r.start()
	key := r.cfg.AuthKeyBytes()
	now := time.Now()
	base := func(mod func(*mqtt.Message)) mqtt.Message {
		m := mqtt.Message{ID: mqtt.NewID(), Type: "notify.payment", Dev: devID, IssuedAt: now, ExpiresAt: now.Add(time.Minute),
			Body: json.RawMessage(`{"order_id":"o-bad","amount":100}`)}
		if mod != nil {
			mod(&m)
		}
		return m
	}
	sign := func(m mqtt.Message, k mqtt.Keys) string {
		s, err := mqtt.Sign(m, k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	pubDER, _ := x509.MarshalPKIXPublicKey(&deviceKey(t).PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	claims := jwt.MapClaims{"jti": mqtt.NewID(), "type": "notify.payment", "dev": devID, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
		"body": map[string]any{"order_id": "o-bad", "amount": 100}}
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
	hsWithPub, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(pubPEM)
	ps := sign(base(func(m *mqtt.Message) { m.Alg = mqtt.PS256 }), mqtt.Keys{Device: deviceKey(t)})
	good := sign(base(nil), mqtt.Keys{Auth: key})
	tampered := good[:len(good)-3] + "AAA"

	// Dropped silently: no event at all.
	for name, tok := range map[string]string{
		"alg none": none, "HS256 keyed with the public key": hsWithPub, "PS256 instead of HS256": ps,
		"tampered": tampered, "wrong dev": sign(base(func(m *mqtt.Message) { m.Dev = "dev-9999" }), mqtt.Keys{Auth: key}),
		"garbage": "{}",
	} {
		if err := r.plat.Publish(devID, tok); err != nil {
			t.Fatal(name, err)
		}
	}
	r.noEvent(500 * time.Millisecond)

	// Valid signature, bad time: an error event, nothing done.
	for name, m := range map[string]mqtt.Message{
		"expired": base(func(m *mqtt.Message) { m.ExpiresAt = now.Add(-time.Second) }),
		"future":  base(func(m *mqtt.Message) { m.IssuedAt = now.Add(10 * time.Minute); m.ExpiresAt = now.Add(20 * time.Minute) }),
	} {
		if err := r.plat.Publish(devID, sign(m, mqtt.Keys{Auth: key})); err != nil {
			t.Fatal(err)
		}
		ans := r.answer(m.ID, 15*time.Second)
		if eb := body[errorBody](t, ans); ans.Type != "error" || eb.Code != CodeExpired || eb.Ref != m.ID {
			t.Fatalf("%s: answer %s %s", name, ans.Type, ans.Body)
		}
	}
	if w := r.wavs(); len(w) != 0 || r.printer.count() != 0 {
		t.Fatalf("a refused command ran: %v", w)
	}
}

func TestUnknownAndBadCommands(t *testing.T) {
	r := newRig(t)
	r.start()
	tests := []struct {
		typ  string
		body any
		code string
	}{
		{"coffee.make", map[string]any{}, CodeUnknownType},
		{"pay.result", map[string]any{"out_trade_no": "P1"}, CodeUnknownType}, // an event, sent the wrong way
		{"device.reboot", map[string]any{}, CodeUnsupported},
		{"notify.payment", map[string]any{"order_id": "o1", "amount": 12.5}, CodeBadRequest},
		{"notify.payment", map[string]any{"order_id": "o1", "amount": -1}, CodeBadRequest},
		{"notify.payment", map[string]any{"order_id": "", "amount": 1}, CodeBadRequest},
		{"notify.payment", map[string]any{"order_id": "../../etc", "amount": 1, "kind": "gift"}, CodeBadRequest},
		{"notify.payment", map[string]any{"order_id": "o1", "amount": 1, "colour": "red"}, CodeBadRequest},
		{"notify.payment", "not an object", CodeBadRequest},
		{"device.volume", map[string]any{"level": 11}, CodeBadRequest},
	}
	for _, tc := range tests {
		m := r.send(tc.typ, tc.body)
		ans := r.answer(m.ID, 15*time.Second)
		eb := body[errorBody](t, ans)
		if ans.Type != "error" || eb.Code != tc.code || eb.Ref != m.ID {
			t.Errorf("%s %v: answer %s %s, want code %s", tc.typ, tc.body, ans.Type, ans.Body, tc.code)
		}
	}
}

// Every type the platform may send (wire.Catalogue: commands and the
// answers to the device's requests) has a handler, or is one this build
// answers as unsupported; the agent handles nothing else.
func TestEveryCommandHandled(t *testing.T) {
	h := (&Agent{}).handlers()
	for typ, spec := range wire.Catalogue {
		if spec.Class.FromPlatform() && h[typ] == nil && !unsupported[typ] {
			t.Errorf("%s %s: no handler", spec.Class, typ)
		}
	}
	for typ := range h {
		if !wire.Catalogue[typ].Class.FromPlatform() {
			t.Errorf("a handler for %s, which the platform does not send", typ)
		}
	}
}

func TestVolumePersists(t *testing.T) {
	r := newRig(t)
	r.start()
	ans := r.answer(r.send("device.volume", map[string]any{"level": 3}).ID, 15*time.Second)
	if s := body[State](t, ans); ans.Type != "device.state" || s.Volume != 3 {
		t.Fatalf("answer %s %s", ans.Type, ans.Body)
	}
	r.stop()
	r.start()
	ans = r.answer(r.send("device.volume", map[string]any{"level": 4}).ID, 15*time.Second)
	// The journal kept 3 across the restart; the state now says 4.
	if s := body[State](t, ans); s.Volume != 4 {
		t.Fatalf("answer %s", ans.Body)
	}
}

// The outbox keeps events across a restart of the agent while the broker is
// down, and sends them in order once it is back.
func TestOutboxSurvivesRestartWithBrokerDown(t *testing.T) {
	r := newRig(t)
	r.start()
	addr := r.broker.Addr()
	r.plat.Close()
	r.broker.Close()

	r.stop()
	// Queue three events through an agent that cannot connect, then kill it.
	jj, err := journal.Open(r.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{Config: r.cfg, Journal: jj, Key: deviceKey(t), Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	for i := 1; i <= 3; i++ {
		if err := a.Emit("test.event", map[string]int{"n": i}); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	<-done
	if n, _ := jj.OutboxLen(); n != 3 {
		t.Fatalf("outbox holds %d, want 3", n)
	}
	jj.Close()

	// Broker back on the same address; a new agent process sends them.
	b, err := platform.StartBroker(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.broker = b
	r.connectPlatform()
	r.start()
	for i := 1; i <= 3; i++ {
		m := r.waitFor("test.event", 10*time.Second)
		if got := body[map[string]int](t, m)["n"]; got != i {
			t.Fatalf("event %d arrived as %d-th", got, i)
		}
	}
}
