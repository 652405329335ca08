package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/device"
	"github.com/posagent/posagent/drivers/audioout"
	"github.com/posagent/posagent/internal/testkit"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/pinhash"
	"github.com/posagent/posagent/platform"
)

// agentRig is one agent in this process, put together from the product's
// exported parts as cmd/posagent puts it together (journal.OpenDir,
// device.New), on the embedded broker with the platform simulator: the
// scanner is a channel the test types into, the printer keeps its jobs,
// the speaker writes WAV files. The console tests drive it through a
// browser; they see it as a cashier does, through the local API.
type agentRig struct {
	t       *testing.T
	cfg     config.Config
	broker  *platform.Broker
	plat    *platform.Client
	events  <-chan platform.Event
	sim     *platform.Sim
	j       *journal.Journal
	agent   *device.Agent
	scans   chan string
	printer *jobPrinter
	logs    *testkit.Log
}

const rigDevice = "dev-web1"

// The staff PIN of the tests' shifts.
const testPIN = "2468"

var rigKey = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })

// jobPrinter is a printer that keeps each job's bytes.
type jobPrinter struct {
	mu   sync.Mutex
	jobs [][]byte
}

func (p *jobPrinter) Print(_ context.Context, job []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.jobs = append(p.jobs, bytes.Clone(job))
	return nil
}

func (p *jobPrinter) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.jobs)
}

// newAgentRig starts a broker, the platform simulator (its provider
// answering the happy way unless a test sets faults) and the agent, with
// the payment timings shortened to milliseconds.
func newAgentRig(t *testing.T) *agentRig {
	t.Helper()
	b, err := platform.StartBroker("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	r := &agentRig{t: t, broker: b, scans: make(chan string, 16), printer: &jobPrinter{}, logs: &testkit.Log{}}

	c := config.Default()
	c.DeviceID, c.Serial, c.Board, c.DataDir = rigDevice, "SNWEB1", "sim", t.TempDir()
	c.MQTT.URL = b.URL()
	key := make([]byte, 32)
	rand.Read(key)
	c.AuthKey = base64.StdEncoding.EncodeToString(key)
	c.Audio.Out = "wav:" + filepath.Join(c.DataDir, "wav")
	c.Store.Name = "测试小店"
	c.API.Listen = "127.0.0.1:0"
	c.Pay = config.Pay{PollIntervalMS: 20, PollTimeoutMS: 400, ReverseAfterMS: 150, CollectTimeoutMS: 3000,
		ReverseMaxTries: 10, RefundPollMS: 20, DepositReleaseAfterMS: 2592000000}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	r.cfg = c

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	dial := func() *platform.Client {
		cl, err := platform.Dial(ctx, platform.Options{URL: b.URL(), Log: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		cl.AddDevice(platform.Device{ID: rigDevice, AuthKey: c.AuthKeyBytes()})
		return cl
	}
	r.plat = dial()
	if r.events, err = r.plat.Subscribe(ctx, "+", ""); err != nil {
		t.Fatal(err)
	}
	r.sim = &platform.Sim{Client: dial(), Log: slog.New(slog.DiscardHandler)}
	if err := r.sim.Start(ctx); err != nil {
		t.Fatal(err)
	}

	o, err := journal.OpenDir(c.DataDir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r.j = o.Journal
	out, err := audioout.Open(c.Audio.Out)
	if err != nil {
		t.Fatal(err)
	}
	dk, err := rigKey()
	if err != nil {
		t.Fatal(err)
	}
	a, err := device.New(device.Options{Config: c, Journal: r.j, Key: dk, Audio: out, Printer: r.printer, Scans: r.scans,
		Log: slog.New(slog.NewTextHandler(r.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	r.agent = a
	done := make(chan struct{})
	actx, stop := context.WithCancel(context.Background())
	go func() { a.Run(actx); close(done) }()
	t.Cleanup(func() {
		stop()
		<-done
		if c, ok := out.(io.Closer); ok {
			c.Close()
		}
		r.j.Close()
	})
	deadline := time.Now().Add(10 * time.Second)
	for a.APIAddr() == "" || !a.State().Online {
		if time.Now().After(deadline) {
			t.Fatal("the agent's API never came up")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return r
}

// api calls the agent's local API as the cashier app does and decodes the
// JSON answer into out.
func (r *agentRig) api(method, path string, body, out any) int {
	r.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, "http://"+r.agent.APIAddr()+path, rd)
	req.Header.Set("Authorization", "Bearer "+r.agent.APIToken())
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// command sends a signed command from the platform and waits for its
// answer, which must be of type want.
func (r *agentRig) command(typ string, body any, want string) mqtt.Message {
	r.t.Helper()
	m, err := r.plat.Send(rigDevice, typ, body)
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	ans, err := platform.Await(ctx, r.events, m.ID)
	if err != nil {
		r.t.Fatal(err)
	}
	if ans.Type != want {
		r.t.Fatalf("%s answered %s %s", typ, ans.Type, ans.Body)
	}
	return ans
}

var pinHashes sync.Map

func pinHash(pin string) string {
	if h, ok := pinHashes.Load(pin); ok {
		return h.(string)
	}
	h, err := pinhash.Make(pin, pinhash.MinN, 8, 1)
	if err != nil {
		panic(err)
	}
	pinHashes.Store(pin, h)
	return h
}

func person(id, name, pin string, refund, manager bool) map[string]any {
	return map[string]any{"staff_id": id, "staff_name": name, "pin_hash": pinHash(pin), "refund": refund, "manager": manager}
}

// roster sends the platform's staff roster.
func (r *agentRig) roster(version int64, staff ...map[string]any) {
	r.t.Helper()
	r.command("staff.roster", map[string]any{"version": version, "staff": staff}, "staff.roster.applied")
}

// shift starts a shift from the platform (signed shift.start), with the
// tests' PIN.
func (r *agentRig) shift(id, name string, refund, manager bool) {
	r.t.Helper()
	r.command("shift.start", map[string]any{"staff_id": id, "staff_name": name, "refund": refund, "manager": manager, "pin_hash": pinHash(testPIN)}, "shift.changed")
}

// pay runs one payment (or deposit) through the local API: start, scan
// the customer's code, wait for its end.
func (r *agentRig) pay(amount int64, code string, deposit bool) device.View {
	r.t.Helper()
	var v device.View
	if st := r.api("POST", "/v1/payments", map[string]any{"amount": amount, "deposit": deposit}, &v); st != http.StatusCreated {
		r.t.Fatalf("start payment: %d", st)
	}
	r.scans <- code
	deadline := time.Now().Add(10 * time.Second)
	for !device.Terminal(v.State) {
		if time.Now().After(deadline) {
			r.t.Fatalf("payment %s still %s", v.OutTradeNo, v.State)
		}
		time.Sleep(10 * time.Millisecond)
		r.api("GET", "/v1/payments/"+v.OutTradeNo, nil, &v)
	}
	if v.State != device.Paid {
		r.t.Fatalf("payment %s ended %s", v.OutTradeNo, v.State)
	}
	return v
}

// refused counts the requests the local API turned away, from its log.
func (r *agentRig) refused() int {
	return strings.Count(r.logs.String(), "local API refused a request")
}

func waitTrue(t *testing.T, d time.Duration, f func() bool) {
	t.Helper()
	testkit.WaitUntil(t, d, "the condition", f)
}

// paymentView is GET /v1/payments/{no}.
func (r *agentRig) paymentView(no string) device.View {
	r.t.Helper()
	var v device.View
	if st := r.api("GET", "/v1/payments/"+no, nil, &v); st != http.StatusOK {
		r.t.Fatalf("GET /v1/payments/%s: %d", no, st)
	}
	return v
}
