package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/device"
	"github.com/posagent/posagent/device/notify"
	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/pinhash"
	"github.com/posagent/posagent/platform"
	"github.com/posagent/posagent/platform/mosquittotest"
	"github.com/posagent/posagent/printer"
)

// answers records every event that answers a command, by the command's jti,
// and feeds the payment tracker.
type answers struct {
	mu   sync.Mutex
	byID map[string]map[string]mqtt.Message // command jti → event jti → event
}

func watchAnswers(ctx context.Context, events <-chan platform.Event, tr *tracker) *answers {
	a := &answers{byID: map[string]map[string]mqtt.Message{}}
	fwd := make(chan platform.Event, 1024)
	go tr.run(ctx, fwd)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-events:
				if ev.Err == nil && ev.State == nil && ev.Message.Ref != "" {
					a.mu.Lock()
					if a.byID[ev.Message.Ref] == nil {
						a.byID[ev.Message.Ref] = map[string]mqtt.Message{}
					}
					a.byID[ev.Message.Ref][ev.Message.ID] = ev.Message
					a.mu.Unlock()
				}
				fwd <- ev
			}
		}
	}()
	return a
}

// get returns the distinct answers to jti (a redelivered answer keeps its
// event jti, so it is not counted twice).
func (a *answers) get(jti string) []mqtt.Message {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []mqtt.Message
	for _, m := range a.byID[jti] {
		out = append(out, m)
	}
	return out
}

func (a *answers) wait(t *testing.T, jti string, d time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(d)
	for len(a.get(jti)) == 0 {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// freeLoopback returns a free 127.0.0.1 port for the agent's local API.
func freeLoopback(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// localAPI is the real binary's local API: its address and the token the
// agent made in its data dir (read as the cashier app reads it).
type localAPI struct{ addr, token string }

// api waits for the agent's token file and returns its local API.
func (e *env) api() localAPI {
	e.t.Helper()
	path := filepath.Join(e.cfg.DataDir, device.TokenFileName)
	deadline := time.Now().Add(15 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if tok := strings.TrimSpace(string(b)); err == nil && len(tok) >= 32 {
			return localAPI{e.cfg.API.Listen, tok}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("no API token in %s: %v", path, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The staff PIN of the tests' roster entries, with the cheapest hash a
// device takes.
const staffPIN = "2468"

var staffPINHash = sync.OnceValue(func() string {
	h, err := pinhash.Make(staffPIN, pinhash.MinN, 8, 1)
	if err != nil {
		panic(err)
	}
	return h
})

// apiCall calls the real binary's local API.
func apiCall(t *testing.T, api localAPI, method, path string, body any, out any) int {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, "http://"+api.addr+path, rd)
	req.Header.Set("Authorization", "Bearer "+api.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// Link faults (toxiproxy between the real binary and mosquitto, TLS through
// the proxy) set in the
// middle of each kind of flow: a payment's submit, a deposit's consume, a
// notification with its receipt, a print job. Each fault holds for a while
// and clears. Then every flow has ended: each payment terminal (a payment
// that was UNKNOWN was resolved), its ledger entry agreeing with the
// journal; each notification answered and announced once; each print job
// answered and printed once; the deposit consumed once.
func TestLinkFaultsMidFlow(t *testing.T) {
	e := newEnv(t)
	mb, proxy := e.withProxiedMosquitto()
	e.cfg.Pay = config.Pay{PollIntervalMS: 25, PollTimeoutMS: 600, ReverseAfterMS: 200, CollectTimeoutMS: 20000, ReverseMaxTries: 10, RefundPollMS: 25, DepositReleaseAfterMS: 2592000000}
	e.cfg.Printer.Baud = 921600
	e.cfg.API.Listen = freeLoopback(t)
	e.cfg.Store.Mode = "both"
	e.writeConfig()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim := e.startSimOn(ctx, mb)
	tr := newTracker()
	p := startAgent(t, e.bin, e.cfgPath)
	defer func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		<-p.done
		if t.Failed() {
			t.Logf("agent log:\n%s", p.log)
		}
	}()
	e.waitHello(10 * time.Second)
	ans := watchAnswers(ctx, e.events, tr)
	api := e.api()
	if _, err := e.plat.Send(e.cfg.DeviceID, "staff.roster", map[string]any{"version": 1,
		"staff": []map[string]any{{"staff_id": "s01", "staff_name": "王", "refund": true, "pin_hash": staffPINHash()}}}); err != nil {
		t.Fatal(err)
	}
	// The roster is in once the PIN opens the shift.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		st := apiCall(t, api, "POST", "/v1/shift/start", map[string]any{"staff_id": "s01", "pin": staffPIN}, nil)
		if st == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("shift start: %d", st)
		}
	}

	kinds := []struct {
		name    string
		on, off func()
	}{
		{"latency 300±100 ms", func() { proxy.Latency(300, 100) }, proxy.Clear},
		{"bandwidth 1 KB/s", func() { proxy.Bandwidth(1) }, proxy.Clear},
		{"reset", func() { proxy.Reset() }, proxy.Clear},
		{"black hole", func() { proxy.BlackHole() }, proxy.Clear},
		{"cut", proxy.Down, func() { proxy.Up() }},
	}
	// Amounts pick the simulator's outcomes: paid at once, paid after
	// polling, unknown then paid, never paid (reversed), and a deposit.
	amounts := []int64{1000, 1001, 1006, 1002, 5000}
	var notifies, jobs []mqtt.Message
	var payments []string
	deposit := ""
	for i, k := range kinds {
		no := fmt.Sprintf("F%d-%d", i, amounts[i%len(amounts)])
		isDeposit := i == len(kinds)-1
		if _, err := e.plat.Send(e.cfg.DeviceID, "pay.collect", map[string]any{"out_trade_no": no, "amount": amounts[i%len(amounts)], "timeout_s": 20, "deposit": isDeposit}); err != nil {
			t.Fatal(err)
		}
		if !tr.wait(20*time.Second, func() bool { return tr.awaiting[no] }) {
			t.Fatalf("%s: %s never awaited a code", k.name, no)
		}
		payments = append(payments, no)
		k.on() // the code goes out into the fault
		e.scan(fmt.Sprintf("13%016d", 7_000_000+i))
		n, err := e.plat.Send(e.cfg.DeviceID, "notify.payment", map[string]any{"order_id": fmt.Sprintf("FN%d", i), "amount": 200 + i, "wallet": "alipay", "print": true})
		if err != nil {
			t.Fatal(err)
		}
		notifies = append(notifies, n)
		j, err := e.plat.Send(e.cfg.DeviceID, "print.job", map[string]any{"job_id": fmt.Sprintf("FJ%d", i), "doc": fmt.Sprintf("<C>FAULTJOB-%d</C><BR>", i)})
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, j)
		time.Sleep(1200 * time.Millisecond)
		k.off()
		if !tr.wait(60*time.Second, func() bool { return tr.result[no] != "" }) {
			t.Fatalf("%s: payment %s never ended", k.name, no)
		}
		t.Logf("%s: payment %s %s", k.name, no, tr.result[no])
		if isDeposit && tr.result[no] == device.Paid {
			deposit = no
		}
	}
	// A deposit's consume in the middle of a black hole.
	if deposit != "" {
		proxy.BlackHole()
		st := apiCall(t, api, "POST", "/v1/deposits/"+deposit+"/consume", map[string]any{"amount": 3000, "staff_id": "s01", "pin": staffPIN}, nil)
		time.Sleep(1500 * time.Millisecond)
		proxy.Clear()
		if st != http.StatusAccepted {
			t.Fatalf("consume: %d", st)
		}
		var v struct {
			DepositState string `json:"deposit_state"`
		}
		deadline := time.Now().Add(60 * time.Second)
		for v.DepositState != device.DepositConsumed && time.Now().Before(deadline) {
			apiCall(t, api, "GET", "/v1/payments/"+deposit, nil, &v)
			time.Sleep(50 * time.Millisecond)
		}
		if v.DepositState != device.DepositConsumed {
			t.Errorf("deposit %s: %q after the consume", deposit, v.DepositState)
		}
	} else {
		t.Error("the deposit was not frozen")
	}
	for _, m := range append(append([]mqtt.Message{}, notifies...), jobs...) {
		if !ans.wait(t, m.ID, 60*time.Second) {
			t.Errorf("%s %s never answered", m.Type, m.Body)
		}
	}
	// Let the last receipts and announcements finish, then stop.
	time.Sleep(500 * time.Millisecond)
	p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.done

	lc := checkLedger(t, sim, e.cfg.DataDir)
	for _, no := range payments {
		if !device.Terminal(lc.Orders[no].State) {
			t.Errorf("payment %s: %q", no, lc.Orders[no].State)
		}
	}
	if deposit != "" {
		if le, _ := sim.Provider.Entry(deposit); le.Consumed != 3000 || le.Charges != 1 {
			t.Errorf("deposit ledger %+v", le)
		}
	}
	said, _ := wavCounts(e.wavDir)
	text := printedTexts(e.prn.bytes())
	for i, m := range notifies {
		id := fmt.Sprintf("FN%d", i)
		if a := ans.get(m.ID); len(a) != 1 || a[0].Type != "notify.done" {
			t.Errorf("%s answered %d times: %v", id, len(a), a)
		}
		if said[id] != 1 {
			t.Errorf("%s announced %d times", id, said[id])
		}
		if n := countUnmarked(text, id); n != 1 {
			t.Errorf("%s receipt printed %d times unmarked", id, n)
		}
	}
	for i, m := range jobs {
		if a := ans.get(m.ID); len(a) != 1 || a[0].Type != "print.result" || !strings.Contains(string(a[0].Body), `"done"`) {
			t.Errorf("job %d answered %v", i, a)
		}
		if n := countUnmarked(text, fmt.Sprintf("FAULTJOB-%d", i)); n != 1 {
			t.Errorf("job %d printed %d times unmarked", i, n)
		}
	}
	for _, no := range payments {
		if lc.Orders[no].State == device.Paid && said[no] != 1 {
			t.Errorf("paid %s announced %d times", no, said[no])
		}
	}
	t.Logf("payments %v; ledger %s", lc.States, sim.Summary())
}

// printedTexts decodes every job the printer received.
func printedTexts(b []byte) []string {
	var out []string
	for _, job := range printer.SplitJobs(b) {
		doc, _ := printer.Decode(job)
		out = append(out, doc.Text())
	}
	return out
}

// countUnmarked counts the jobs that mention id and are not marked 重打印.
func countUnmarked(texts []string, id string) int {
	n := 0
	for _, s := range texts {
		if strings.Contains(s, id) && !strings.Contains(s, "重打印") {
			n++
		}
	}
	return n
}

// The broker itself restarts (mosquitto, persistent sessions saved) in the
// middle of payments and notifications: the agent reconnects, its session
// and the commands queued for it survive, and every flow ends once.
func TestBrokerRestartMidFlow(t *testing.T) {
	e := newEnv(t)
	mb := e.withMosquitto(mosquittotest.Options{})
	// The platform's clients keep their sessions, as production workers
	// do: an event published while they reconnect is queued for them.
	e.plat.Close()
	e.plat, e.events = e.dialPlatformOpts(mb, "platform", true)
	e.cfg.MQTT.KeepaliveMS = 1000
	e.cfg.MQTT.ReconnectMinMS, e.cfg.MQTT.ReconnectMaxMS = 50, 300
	e.cfg.Pay = config.Pay{PollIntervalMS: 25, PollTimeoutMS: 600, ReverseAfterMS: 200, CollectTimeoutMS: 20000, ReverseMaxTries: 10, RefundPollMS: 25, DepositReleaseAfterMS: 2592000000}
	e.cfg.Printer.Baud = 921600
	e.writeConfig()
	simCl, _ := e.dialPlatformOpts(mb, "sim", true)
	sim := &platform.Sim{Client: simCl}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := sim.Start(ctx); err != nil {
		t.Fatal(err)
	}
	tr := newTracker()
	p := startAgent(t, e.bin, e.cfgPath)
	defer func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		<-p.done
		if t.Failed() {
			t.Logf("agent log:\n%s\nbroker log:\n%s", p.log, mb.Log())
		}
	}()
	e.waitHello(20 * time.Second)
	ans := watchAnswers(ctx, e.events, tr)

	send := func(typ string, body any) mqtt.Message {
		t.Helper()
		for try := 0; ; try++ {
			m, err := e.plat.Send(e.cfg.DeviceID, typ, body)
			if err == nil {
				return m
			}
			if try > 100 {
				t.Fatalf("send %s: %v", typ, err)
			}
			time.Sleep(100 * time.Millisecond) // the broker is restarting
		}
	}
	var notifies []mqtt.Message
	var payments []string
	for round := 0; round < 3; round++ {
		no := fmt.Sprintf("R%d", round)
		send("pay.collect", map[string]any{"out_trade_no": no, "amount": []int64{1000, 1001, 1006}[round], "timeout_s": 20})
		if !tr.wait(30*time.Second, func() bool { return tr.awaiting[no] }) {
			t.Fatalf("%s never awaited a code", no)
		}
		payments = append(payments, no)
		e.scan(fmt.Sprintf("13%016d", 8_000_000+round))
		notifies = append(notifies, send("notify.payment", map[string]any{"order_id": fmt.Sprintf("RN%d", round), "amount": 300 + round, "wallet": "wechat", "print": true}))
		mb.Stop()
		time.Sleep(500 * time.Millisecond)
		mb.Start()
		// Sent while the agent is still reconnecting: queued in its session.
		notifies = append(notifies, send("notify.payment", map[string]any{"order_id": fmt.Sprintf("RQ%d", round), "amount": 400 + round, "wallet": "wechat"}))
		if !tr.wait(60*time.Second, func() bool { return tr.result[no] != "" }) {
			t.Fatalf("payment %s never ended after the broker restart", no)
		}
	}
	for _, m := range notifies {
		if !ans.wait(t, m.ID, 60*time.Second) {
			t.Errorf("%s never answered", m.Body)
		}
	}
	time.Sleep(500 * time.Millisecond)
	p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.done
	lc := checkLedger(t, sim, e.cfg.DataDir)
	said, _ := wavCounts(e.wavDir)
	for _, m := range notifies {
		var b struct {
			OrderID string `json:"order_id"`
		}
		json.Unmarshal(m.Body, &b)
		if said[b.OrderID] != 1 {
			t.Errorf("%s announced %d times", b.OrderID, said[b.OrderID])
		}
		if a := ans.get(m.ID); len(a) != 1 {
			t.Errorf("%s answered %d times", b.OrderID, len(a))
		}
	}
	for _, no := range payments {
		if !device.Terminal(lc.Orders[no].State) {
			t.Errorf("%s: %q", no, lc.Orders[no].State)
		}
	}
	t.Logf("payments %v; ledger %s", lc.States, sim.Summary())
}

// smallDisk gives the agent a data dir on a filesystem that can be filled:
// a tmpfs of size bytes mounted by the test (root). Where mounting is
// impossible, the agent is run through a shell wrapper with RLIMIT_FSIZE
// (ulimit -f) at the journal's current size, SIGXFSZ ignored so that a write
// past it fails with EFBIG instead of killing the process.
type smallDisk struct {
	dir        string
	mounted    bool
	fillerPath string
}

func newSmallDisk(t *testing.T, dir string, size int) *smallDisk {
	t.Helper()
	d := &smallDisk{dir: dir, fillerPath: filepath.Join(dir, "filler")}
	os.MkdirAll(dir, 0o700)
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0700", size), "tmpfs", dir).CombinedOutput()
	if err == nil {
		d.mounted = true
		t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
		return d
	}
	t.Logf("cannot mount a tmpfs (%v: %s): limiting the file size with ulimit -f instead", err, strings.TrimSpace(string(out)))
	return d
}

// limited returns a wrapper that runs bin unable to grow any file past
// the journal's present size.
func (d *smallDisk) limited(t *testing.T, bin string) string {
	fi, err := os.Stat(filepath.Join(d.dir, "journal.db"))
	if err != nil {
		t.Fatal(err)
	}
	w := filepath.Join(t.TempDir(), "posagent-ulimit")
	script := fmt.Sprintf("#!/bin/sh\ntrap '' XFSZ\nulimit -f %d\nexec %s \"$@\"\n", fi.Size()/512, bin)
	if err := os.WriteFile(w, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	return w
}

// fill writes a file until the filesystem is full (tmpfs only).
func (d *smallDisk) fill(t *testing.T) {
	f, err := os.Create(d.fillerPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
}

func (d *smallDisk) free() { os.Remove(d.fillerPath) }

// The journal on a full disk: commands the agent cannot journal are
// refused with a clear error in the log and no answer (the platform sends
// them again), nothing is half-written, the agent keeps running, and once
// space is back the same commands are done, each once (what was journaled
// but not finished is picked up by the agent's own sweep). The journal
// file opens and passes bbolt's consistency check afterwards.
func TestJournalOnFullDisk(t *testing.T) {
	e := newEnv(t)
	// The journal's log is made at its full size and written in place: a
	// full disk stops the journal only when a checkpoint must grow the
	// bbolt file. A small log has that happen within the test's commands.
	e.cfg.Journal.LogKB = 16
	e.writeConfig()
	disk := newSmallDisk(t, e.cfg.DataDir, 1<<20)
	p := startAgent(t, e.bin, e.cfgPath)
	e.waitHello(10 * time.Second)
	if disk.mounted {
		disk.fill(t)
	} else {
		// The file-size limit hits every file the process writes: the
		// WAV "speaker" too. Announcements are not counted then.
		p.cmd.Process.Signal(syscall.SIGTERM)
		<-p.done
		e.cfg.Audio.Out = "null"
		e.writeConfig()
		p = startAgent(t, disk.limited(t, e.bin), e.cfgPath)
		e.waitHello(10 * time.Second)
	}
	defer func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		<-p.done
		if t.Failed() {
			t.Logf("agent log:\n%s", p.log)
		}
	}()
	tr := newTracker()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The retained state, seen on the way to the answers.
	var sawFull atomic.Bool
	events := make(chan platform.Event, 1024)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-e.events:
				if ev.State != nil && strings.Contains(string(ev.State), `"storage":"full"`) {
					sawFull.Store(true)
				}
				events <- ev
			}
		}
	}()
	ans := watchAnswers(ctx, events, tr)

	// Signed once: a platform retrying resends the same command (same
	// jti), as QoS 1 redelivery would.
	var toks []string
	var ids []mqtt.Message
	for i := 0; i < 60; i++ {
		now := time.Now()
		m := mqtt.Message{ID: mqtt.NewID(), Type: "notify.payment", Dev: e.cfg.DeviceID, IssuedAt: now, ExpiresAt: now.Add(10 * time.Minute),
			Body: json.RawMessage(fmt.Sprintf(`{"order_id":"D%03d","amount":%d,"wallet":"wechat","print":true}`, i, 100+i))}
		tok, err := e.plat.Sign(m)
		if err != nil {
			t.Fatal(err)
		}
		toks, ids = append(toks, tok), append(ids, m)
	}
	for _, tok := range toks {
		if err := e.plat.Publish(e.cfg.DeviceID, tok); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2 * time.Second)
	select {
	case <-p.done:
		t.Fatalf("the agent died on a full disk:\n%s", p.log)
	default:
	}
	answeredFull := 0
	for _, m := range ids {
		if len(ans.get(m.ID)) > 0 {
			answeredFull++
		}
	}
	// Space is back (without a mount: the agent restarts unlimited).
	full := ""
	if disk.mounted {
		disk.free()
	} else {
		p.cmd.Process.Signal(syscall.SIGTERM)
		<-p.done
		full = p.log.String()
		p = startAgent(t, e.bin, e.cfgPath)
	}
	// Nothing is published again: the broker still holds every command
	// the agent could not journal (it was never acknowledged), and sends
	// it again when the agent reconnects once its journal takes writes.
	deadline := time.Now().Add(notify.Sweep + 30*time.Second)
	for {
		var missing []string
		for _, m := range ids {
			if len(ans.get(m.ID)) == 0 {
				missing = append(missing, m.ID)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d commands never answered once space was back: %v\n%s", len(missing), len(ids), missing, p.log)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, m := range ids {
		a := ans.get(m.ID)
		if len(a) != 1 || a[0].Type != "notify.done" {
			t.Errorf("%s answered %v", m.Body, a)
			continue
		}
		// Done means done: announced, with the words said.
		var done struct {
			Announced bool   `json:"announced"`
			Said      string `json:"said"`
		}
		json.Unmarshal(a[0].Body, &done)
		if disk.mounted && (!done.Announced || done.Said == "") {
			t.Errorf("%s answered %s", m.Body, a[0].Body)
		}
	}
	time.Sleep(500 * time.Millisecond)
	p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.done
	full += p.log.String() // read once the process is gone
	if !strings.Contains(full, "no space left on device") && !strings.Contains(full, "file too large") {
		t.Errorf("no clear disk-full error in the log:\n%s", full)
	}
	if disk.mounted {
		if n := strings.Count(full, "text=存储空间已满"); n != 1 {
			t.Errorf("存储空间已满 said %d times", n)
		}
		if !strings.Contains(full, "text=存储已恢复") {
			t.Error("存储已恢复 never said")
		}
		if !sawFull.Load() {
			t.Error("the retained state never said storage full")
		}
	}
	said, _ := wavCounts(e.wavDir)
	for i := range ids {
		if id := fmt.Sprintf("D%03d", i); disk.mounted && said[id] != 1 {
			t.Errorf("%s announced %d times", id, said[id])
		}
	}
	db, err := bolt.Open(filepath.Join(e.cfg.DataDir, "journal.db"), 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatalf("journal after the full disk: %v", err)
	}
	defer db.Close()
	if err := db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	}); err != nil {
		t.Fatalf("journal inconsistent after the full disk: %v", err)
	}
	t.Logf("disk full (tmpfs: %v): %d of %d answered while full; refusals logged: %d", disk.mounted, answeredFull, len(ids),
		strings.Count(full, "command not journaled"))
}
