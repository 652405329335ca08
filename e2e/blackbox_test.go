package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/drivers/serialtest"
	"github.com/posagent/posagent/platform"
	"github.com/posagent/posagent/platform/mosquittotest"
	"github.com/posagent/posagent/printer"

	"github.com/posagent/posagent/internal/testkit"
)

// buildAgent builds the real binary, with the race detector when the
// tests have it (go test -race).
func buildAgent(t *testing.T) string {
	t.Helper()
	var flags []string
	if raceBuild {
		flags = append(flags, "-race")
	}
	return buildProduct(t, "posagent", flags...)
}

// buildProduct builds ./cmd/<name> in the product's own module (the
// parent directory), so that the binary tested is the one shipped, built
// from the product's go.mod and not from this module's.
func buildProduct(t *testing.T, name string, flags ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	args := append([]string{"build", "-C", "..", "-o", bin}, flags...)
	out, err := exec.Command(gobin, append(args, "./cmd/"+name)...).CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s: %v\n%s", name, err, out)
	}
	return bin
}

// runBin runs bin with args to its end: its exit code.
func runBin(bin string, stdout, stderr io.Writer, args ...string) int {
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// capture collects everything written to a PTY master.
type capture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *capture) run(f *os.File) {
	b := make([]byte, 4096)
	for {
		n, err := f.Read(b)
		c.mu.Lock()
		c.buf.Write(b[:n])
		c.mu.Unlock()
		if err != nil {
			return
		}
	}
}

func (c *capture) bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.buf.Bytes())
}

// syncBuffer is a log the test reads while the agent writes it.
type syncBuffer = testkit.Log

// plays counts the announcements played ("played" log lines) by file name
// (K001, or K001.replay when marked 补播) across the logs of every run of
// the agent. One said twice under one name is one WAV file but two lines.
// A kill between the play and its line loses the line.
func plays(logs ...*syncBuffer) map[string]int {
	n := map[string]int{}
	for _, l := range logs {
		for _, line := range strings.Split(l.String(), "\n") {
			if _, rest, ok := strings.Cut(line, " msg=played "); ok {
				_, file, _ := strings.Cut(rest, " file=")
				file, _, _ = strings.Cut(file, " ")
				n[file]++
			}
		}
	}
	return n
}

type proc struct {
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{}
}

func startAgent(t *testing.T, bin, cfgPath string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, "-config", cfgPath), log: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		if strings.Contains(p.log.String(), "WARNING: DATA RACE") {
			t.Errorf("the agent reported a data race:\n%s", p.log)
		}
	})
	return p
}

func (p *proc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

type env struct {
	t       *testing.T
	bin     string
	cfgPath string
	cfg     config.Config
	broker  *platform.Broker
	plat    *platform.Client
	events  <-chan platform.Event
	prn     *capture
	wavDir  string
	pairs   []*serialtest.Pair
}

// scan types a code into the scanner as a scanner does (CR-terminated).
func (e *env) scan(code string) {
	e.pairs[1].Master.Write([]byte(code + "\r"))
}

// restart kills the agent with SIGKILL and starts it again. The port's
// exclusive flag (TIOCEXCL, set by go.bug.st/serial) outlives the killed
// process on a PTY whose slave the test holds open, so it is cleared first,
// as the kernel does on a real port whose last holder died.
func (e *env) restart(p *proc) *proc {
	e.t.Helper()
	p.kill()
	for _, pr := range e.pairs {
		if err := pr.ReleaseExclusive(); err != nil {
			e.t.Fatal(err)
		}
	}
	return startAgent(e.t, e.bin, e.cfgPath)
}

func newEnv(t *testing.T) *env {
	e := &env{t: t, bin: buildAgent(t), prn: &capture{}}
	b, err := platform.StartBroker("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	e.broker = b
	t.Cleanup(func() { b.Close() })
	prn, scn := serialtest.NewPair(t), serialtest.NewPair(t)
	e.pairs = []*serialtest.Pair{prn, scn}
	ps, ss := prn.SlavePath, scn.SlavePath
	go e.prn.run(prn.Master)

	dir := t.TempDir()
	c := config.Default()
	c.DeviceID, c.Serial, c.Board, c.DataDir = "dev-bb", "SNBB", "sim", filepath.Join(dir, "data")
	c.MQTT.URL = b.URL()
	key := make([]byte, 32)
	rand.Read(key)
	c.AuthKey = base64.StdEncoding.EncodeToString(key)
	c.Printer = config.Printer{Port: ps, Baud: 115200, PaperMM: 58, Status: "none"}
	c.Scanner = config.Serial{Port: ss, Baud: 9600}
	e.wavDir = filepath.Join(dir, "wav")
	c.Audio.Out = "wav:" + e.wavDir
	c.Store.Name = "黑盒小店"
	c.API.Listen = "127.0.0.1:0"
	data, _ := json.Marshal(c)
	e.cfgPath = filepath.Join(dir, "config.json")
	os.WriteFile(e.cfgPath, data, 0o600)
	e.cfg = c

	plat, err := platform.Dial(context.Background(), platform.Options{URL: b.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(plat.Close)
	plat.AddDevice(platform.Device{ID: c.DeviceID, AuthKey: key})
	ev, err := plat.Subscribe(context.Background(), c.DeviceID, "")
	if err != nil {
		t.Fatal(err)
	}
	e.plat, e.events = plat, ev
	return e
}

func (e *env) waitHello(d time.Duration) {
	e.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev := <-e.events:
			if ev.Err == nil && ev.Message.Type == "device.hello" {
				return
			}
		case <-deadline:
			e.t.Fatal("no device.hello")
		}
	}
}

// The agent is killed with SIGKILL at random points while payments are
// notified; after the last restart every order is announced once and
// printed once, none is lost, and nothing owed is done twice. A step cut
// off mid-way is redone: the receipt marked 重打印, the announcement marked
// 补播 when over a minute old, plainly before that.
//
// The broker is mosquitto: commands published while the agent is down wait
// in its persistent session. The embedded broker (mochi-mqtt v2.7.9) can
// lose one that arrives while a reconnecting client takes the session over
// (it copies the old client's in-flight messages, then clears them, and a
// message routed to the old client in between is gone), which is a fault
// of that broker, not of the agent.
func TestKillMinusNineLosesNothing(t *testing.T) {
	e := newEnv(t)
	e.withMosquitto(mosquittotest.Options{})
	p := startAgent(t, e.bin, e.cfgPath)
	all := []*proc{p}
	e.waitHello(10 * time.Second)

	const orders, kills = 40, 4
	sent := map[string]string{} // jti → order id
	answered := map[string]bool{}
	var killed int
	collect := func(d time.Duration) {
		deadline := time.After(d)
		for {
			select {
			case ev := <-e.events:
				if ev.Err != nil {
					t.Fatalf("bad event: %v", ev.Err)
				}
				if ev.Message.Type == "notify.done" {
					if _, ok := sent[ev.Message.Ref]; ok {
						answered[ev.Message.Ref] = true
					}
				}
			case <-deadline:
				return
			}
		}
	}
	for i := 0; i < orders; i++ {
		id := fmt.Sprintf("K%03d", i)
		m, err := e.plat.Send(e.cfg.DeviceID, "notify.payment", map[string]any{
			"order_id": id, "amount": 100 + i, "wallet": "wechat", "print": true,
		})
		if err != nil {
			t.Fatal(err)
		}
		sent[m.ID] = id
		if i%(orders/kills) == orders/kills-1 {
			// Kill it while it works on what was just sent.
			time.Sleep(time.Duration(mrand.IntN(40)) * time.Millisecond)
			p = e.restart(p)
			all = append(all, p)
			killed++
		} else {
			collect(time.Duration(mrand.IntN(20)) * time.Millisecond)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for len(answered) < orders && time.Now().Before(deadline) {
		collect(200 * time.Millisecond)
	}
	// Receipts: one per order, plus a 重打印 copy only where a print was cut
	// off. A copy cut off before its order number reached the printer does
	// not name the order: that order's whole receipt is its 重打印 copy. A
	// 重打印 copy cut off by a later kill is redone again: a kill cuts off
	// at most one copy, so reprints are bounded by kills, not by orders.
	receipts := func() (printed, reprinted map[string]int, reprints int) {
		printed, reprinted = map[string]int{}, map[string]int{}
		for _, job := range printer.SplitJobs(e.prn.bytes()) {
			doc, _ := printer.Decode(job) // a job cut off by the kill decodes partly
			text := doc.Text()
			for i := 0; i < orders; i++ {
				id := fmt.Sprintf("K%03d", i)
				if strings.Contains(text, id) && strings.Contains(text, "收款凭证") {
					if strings.Contains(text, "重打印") {
						reprints++
						reprinted[id]++
					} else {
						printed[id]++
					}
				}
			}
		}
		return printed, reprinted, reprints
	}
	// notify.done means the receipt and the announcement are queued
	// durably, not yet done: let the queues drain before the final stop.
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		printed, reprinted, _ := receipts()
		done := 0
		for i := 0; i < orders; i++ {
			id := fmt.Sprintf("K%03d", i)
			_, err := os.Stat(filepath.Join(e.wavDir, id+".wav"))
			_, rerr := os.Stat(filepath.Join(e.wavDir, id+".replay.wav"))
			if printed[id]+reprinted[id] > 0 && (err == nil || rerr == nil) {
				done++
			}
		}
		if done == orders {
			break
		}
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.done
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("SIGTERM exit code %d\n%s", code, p.log)
	}
	if len(answered) != orders {
		var missing []string
		for jti, id := range sent {
			if !answered[jti] {
				missing = append(missing, id+" (jti "+jti+")")
			}
		}
		var logs strings.Builder
		for i, q := range all {
			fmt.Fprintf(&logs, "--- run %d\n%s", i+1, q.log)
		}
		t.Fatalf("%d of %d notifications answered; not answered: %v\nagent logs:\n%s", len(answered), orders, missing, &logs)
	}

	// Announcements: exactly one per order; replays only for cut-off ones.
	wavs, _ := os.ReadDir(e.wavDir)
	said, replays := map[string]int{}, 0
	for _, w := range wavs {
		name := strings.TrimSuffix(w.Name(), ".wav")
		if strings.HasSuffix(name, ".replay") {
			replays++
			name = strings.TrimSuffix(name, ".replay")
		}
		said[name]++
	}
	printed, reprinted, reprints := receipts()
	for i := 0; i < orders; i++ {
		id := fmt.Sprintf("K%03d", i)
		if said[id] < 1 {
			t.Errorf("order %s not announced", id)
		}
		if printed[id]+reprinted[id] < 1 {
			t.Errorf("order %s has no receipt", id)
		}
		if printed[id] > 1 {
			t.Errorf("order %s printed %d times unmarked", id, printed[id])
		}
	}
	if replays > killed || reprints > killed {
		t.Errorf("%d replays and %d reprints for %d kills", replays, reprints, killed)
	}
	// Said twice unmarked: none. A kill after the sound and before the
	// journal records it said is redone marked 补播 (counted in replays).
	var logs []*syncBuffer
	for _, q := range all {
		logs = append(logs, q.log)
	}
	played, total, twice := plays(logs...), 0, 0
	for i := 0; i < orders; i++ {
		id := fmt.Sprintf("K%03d", i)
		total += played[id] + played[id+".replay"]
		twice += max(played[id]-1, 0)
	}
	if total < orders-killed || twice > 0 {
		t.Errorf("%d plays logged for %d orders and %d kills; %d said twice unmarked", total, orders, killed, twice)
	}
	t.Logf("%d orders, %d kills: %d announcement replays, %d said twice unmarked, %d reprints", orders, killed, replays, twice, reprints)
}

// A process that dies without a word leaves the broker to publish its will:
// the retained state turns {"online":false}; a restart turns it back.
func TestWillOnKill(t *testing.T) {
	e := newEnv(t)
	online := func(want bool) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case ev := <-e.events:
				var s struct {
					Online bool `json:"online"`
				}
				if ev.State != nil && json.Unmarshal(ev.State, &s) == nil && s.Online == want {
					return
				}
			case <-deadline:
				t.Fatalf("state never said online:%v", want)
			}
		}
	}
	p := startAgent(t, e.bin, e.cfgPath)
	online(true)
	p.kill()
	online(false)
	p = e.restart(p) // already dead: kill is a no-op
	online(true)
	p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.done
	online(false)
	if !strings.Contains(p.log.String(), "stopped cleanly") {
		t.Errorf("no clean stop in the log:\n%s", p.log)
	}
}

// startSim runs the platform simulator on the env's broker until ctx ends.
func (e *env) startSim(ctx context.Context) *platform.Sim {
	e.t.Helper()
	cl, err := platform.Dial(ctx, platform.Options{URL: e.broker.URL()})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(cl.Close)
	cl.AddDevice(platform.Device{ID: e.cfg.DeviceID, AuthKey: e.cfg.AuthKeyBytes()})
	sim := &platform.Sim{Client: cl}
	if err := sim.Start(ctx); err != nil {
		e.t.Fatal(err)
	}
	return sim
}
