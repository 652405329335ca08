package platform

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/posagent/posagent/mqtt"

	"github.com/posagent/posagent/internal/testkit"
)

// The test device's RSA key: made once, 2048-bit generation is slow.
var testDeviceKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// simClock is the Sim's injected clock: paid_at must come from it.
var simClock = time.Date(2025, 11, 23, 2, 0, 0, 0, time.UTC)

const testDev = "dev-0001"

var testAuthKey = bytes.Repeat([]byte("k"), 32)

// env is a real embedded broker, a Sim on it, and one test device.
type env struct {
	t   *testing.T
	sim *Sim
	dev *testDevice
	log *syncBuffer
	url string // the broker's

	mu      sync.Mutex
	answers []Answer
	events  []Event
}

// newEnv starts the broker, the Sim (configured by conf before it starts)
// and a device that has said hello, unless hello is false.
func newEnv(t *testing.T, hello bool, conf func(*Sim)) *env {
	t.Helper()
	b, err := StartBroker("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	e := &env{t: t, log: &syncBuffer{}, url: b.URL()}
	logger := slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cl, err := Dial(ctx, Options{URL: b.URL(), Log: logger})
	if err != nil {
		t.Fatal(err)
	}
	cl.AddDevice(Device{ID: testDev, AuthKey: testAuthKey})
	e.sim = &Sim{Client: cl, Log: logger, Now: func() time.Time { return simClock },
		OnAnswer: func(a Answer) {
			e.mu.Lock()
			e.answers = append(e.answers, a)
			e.mu.Unlock()
		},
		OnEvent: func(ev Event) {
			e.mu.Lock()
			e.events = append(e.events, ev)
			e.mu.Unlock()
		},
	}
	if conf != nil {
		conf(e.sim)
	}
	done, err := e.sim.start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		<-done
		cl.Close()
	})
	e.dev = newTestDevice(t, b.URL(), testDev)
	if hello {
		e.dev.hello(t)
		e.waitCount("device.hello", 1)
		if d, _ := cl.DeviceInfo(testDev); d.Pub == nil {
			t.Fatal("the Sim did not learn the device key from device.hello")
		}
	}
	return e
}

// waitCount waits until the Sim's count of k reaches n (it fails the test
// after 10 s: a liveness bound, not a timing assertion).
func (e *env) waitCount(k string, n int) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for e.sim.Counts()[k] < n {
		if time.Now().After(deadline) {
			e.t.Fatalf("count %q never reached %d: %v", k, n, e.sim.Counts())
		}
		time.Sleep(2 * time.Millisecond)
	}
	if got := e.sim.Counts()[k]; got != n {
		e.t.Fatalf("count %q = %d, want %d", k, got, n)
	}
}

func (e *env) entry(no string) LedgerEntry {
	e.t.Helper()
	le, ok := e.sim.Provider.Entry(no)
	if !ok {
		e.t.Fatalf("no ledger entry for %s", no)
	}
	return le
}

func (e *env) submit(no string, amount int64, code string) PayStatus {
	e.t.Helper()
	return e.submitW(no, amount, code, "wechat")
}

func (e *env) submitW(no string, amount int64, code, wallet string) PayStatus {
	e.t.Helper()
	var st PayStatus
	e.dev.call(e.t, "pay.submit", PaySubmit{OutTradeNo: no, AuthCode: code, Amount: amount, Wallet: wallet}, mqtt.HS256, "pay.status", &st)
	return st
}

// second connects another device (same auth key, its hello said), for the
// tests of what one device may see of another's orders.
func (e *env) second(id string) *testDevice {
	e.t.Helper()
	e.sim.Client.AddDevice(Device{ID: id, AuthKey: testAuthKey})
	d := newTestDevice(e.t, e.url, id)
	n := e.sim.Counts()["device.hello"]
	d.hello(e.t)
	e.waitCount("device.hello", n+1)
	return d
}

func (e *env) query(no string) PayStatus {
	e.t.Helper()
	var st PayStatus
	e.dev.call(e.t, "pay.query", map[string]string{"out_trade_no": no}, mqtt.HS256, "pay.status", &st)
	return st
}

func (e *env) reverse(no string) PayStatus {
	e.t.Helper()
	var st PayStatus
	e.dev.call(e.t, "pay.reverse", map[string]string{"out_trade_no": no}, mqtt.PS256, "pay.status", &st)
	return st
}

func (e *env) lookup(no string) OrderFound {
	e.t.Helper()
	var f OrderFound
	e.dev.call(e.t, "order.lookup", map[string]string{"out_trade_no": no}, mqtt.HS256, "order.found", &f)
	return f
}

func (e *env) refund(no, refundNo string, amount int64) RefundStatus {
	e.t.Helper()
	var rs RefundStatus
	e.dev.call(e.t, "refund.request", RefundRequest{OutTradeNo: no, OutRefundNo: refundNo, Amount: amount, StaffID: "s01"}, mqtt.PS256, "refund.status", &rs)
	return rs
}

// testDevice signs events as a device would (HS256 with the auth key, PS256
// with its RSA key) and verifies the commands it gets.
type testDevice struct {
	id     string
	topics mqtt.Topics
	c      paho.Client
	msgs   chan mqtt.Message
}

func newTestDevice(t *testing.T, url, id string) *testDevice {
	t.Helper()
	topics, err := mqtt.TopicsFor("", id)
	if err != nil {
		t.Fatal(err)
	}
	d := &testDevice{id: id, topics: topics, msgs: make(chan mqtt.Message, 1024)}
	d.c = paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(true))
	if tok := d.c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("device connect: %v", tok.Error())
	}
	t.Cleanup(func() { d.c.Disconnect(50) })
	tok := d.c.Subscribe(topics.Cmd, 1, func(_ paho.Client, pm paho.Message) {
		m, err := mqtt.Verify(pm.Payload(), mqtt.Keys{Auth: testAuthKey}, mqtt.Policy{Algs: []string{mqtt.HS256}, Dev: id, Now: time.Now()})
		if err != nil {
			m = mqtt.Message{Type: "INVALID: " + err.Error()}
		}
		d.msgs <- m
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("device subscribe: %v", tok.Error())
	}
	return d
}

// sign makes an event token; alg is HS256 or PS256.
func (d *testDevice) sign(t *testing.T, typ string, body any, alg string) (string, string) {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	m := mqtt.Message{ID: mqtt.NewID(), Type: typ, Dev: d.id, IssuedAt: now, ExpiresAt: now.Add(time.Hour), Body: raw, Alg: alg}
	tok, err := mqtt.Sign(m, mqtt.Keys{Auth: testAuthKey, Device: testDeviceKey()})
	if err != nil {
		t.Fatal(err)
	}
	return m.ID, tok
}

func (d *testDevice) publishRaw(t *testing.T, tok string) {
	t.Helper()
	pt := d.c.Publish(d.topics.Evt, 1, false, tok)
	if !pt.WaitTimeout(10*time.Second) || pt.Error() != nil {
		t.Fatalf("publish: %v", pt.Error())
	}
}

// publish sends an event and returns its jti.
func (d *testDevice) publish(t *testing.T, typ string, body any, alg string) string {
	t.Helper()
	jti, tok := d.sign(t, typ, body, alg)
	d.publishRaw(t, tok)
	return jti
}

func (d *testDevice) hello(t *testing.T) {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&testDeviceKey().PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pub := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	d.publish(t, "device.hello", map[string]string{"fw": "test", "board": "sim", "serial": "SN1", "public_key": pub}, mqtt.HS256)
}

// next is the next command the device gets.
func (d *testDevice) next(t *testing.T) mqtt.Message {
	t.Helper()
	select {
	case m := <-d.msgs:
		if m.ID == "" {
			t.Fatalf("device got a command it cannot verify: %s", m.Type)
		}
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no command for the device")
		return mqtt.Message{}
	}
}

// call publishes a request and decodes its answer into out. The answer must
// be the next command the device gets: anything else first (an answer that
// should not exist) fails the test.
func (d *testDevice) call(t *testing.T, typ string, body any, alg, wantType string, out any) mqtt.Message {
	t.Helper()
	jti := d.publish(t, typ, body, alg)
	m := d.next(t)
	if m.Ref != jti {
		t.Fatalf("%s: got %s ref=%s body=%s before the answer (ref %s)", typ, m.Type, m.Ref, m.Body, jti)
	}
	if m.Type != wantType {
		t.Fatalf("%s answered %s, want %s", typ, m.Type, wantType)
	}
	if err := json.Unmarshal(m.Body, out); err != nil {
		t.Fatal(err)
	}
	return m
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer = testkit.Log

// code is a WeChat-like payment code, distinct per n.
func code(n int) string { return fmt.Sprintf("1345%014d", 67890000+n) }
