package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/device"
	"github.com/posagent/posagent/mqtt"
)

// procStatus reads VmRSS (kB) and Threads from /proc/PID/status.
func procStatus(pid int) (rssKB, threads int) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1, -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			rssKB, _ = strconv.Atoi(f[1])
		case "Threads:":
			threads, _ = strconv.Atoi(f[1])
		}
	}
	return rssKB, threads
}

type soakSample struct {
	at                         time.Duration
	rssKB, threads, goroutines int
	outbox, sent, answered     int
	heapKB                     int
}

// The soak (make soak; not part of make test): the real binary for
// SOAK_DURATION (default 10m) at SOAK_RATE commands a second (default 10)
// of mixed commands — notify.payment (every fifth printed), device.volume,
// print.job, and pay.collect answered by a scan through the simulator —
// printing RSS, threads and goroutines (GET /debug/vars) over time, then the
// ledger comparison.
func TestSoak(t *testing.T) {
	dur, err := time.ParseDuration(os.Getenv("SOAK_DURATION"))
	if err != nil {
		t.Skip("soak: set SOAK_DURATION (make soak)")
	}
	rate := 10
	if v, err := strconv.Atoi(os.Getenv("SOAK_RATE")); err == nil && v > 0 {
		rate = v
	}
	e := newEnv(t)
	e.cfg.Pay = config.Pay{PollIntervalMS: 100, PollTimeoutMS: 3000, ReverseAfterMS: 1000, CollectTimeoutMS: 10000, ReverseMaxTries: 10, RefundPollMS: 100, DepositReleaseAfterMS: 2592000000}
	e.cfg.Printer.Baud = 921600
	e.cfg.Audio.Out = "null" // tens of thousands of WAVs would only fill /tmp
	e.cfg.API.Listen = freeLoopback(t)
	e.writeConfig()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim := e.startSim(ctx)
	p := startAgent(t, e.bin, e.cfgPath)
	defer func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		<-p.done
	}()
	e.waitHello(10 * time.Second)
	tr := newTracker()
	ans := watchAnswers(ctx, e.events, tr)
	pid := p.cmd.Process.Pid
	api := e.api()

	var mu sync.Mutex
	var sent []mqtt.Message
	send := func(typ string, body any) {
		m, err := e.plat.Send(e.cfg.DeviceID, typ, body)
		if err != nil {
			t.Errorf("send %s: %v", typ, err)
			return
		}
		mu.Lock()
		sent = append(sent, m)
		mu.Unlock()
	}
	// The cashier's side of payments: scan as soon as a code is awaited.
	var payMu sync.Mutex
	payments, current := []string{}, ""
	go func() {
		for ctx.Err() == nil {
			payMu.Lock()
			no := current
			payMu.Unlock()
			if no != "" && tr.wait(100*time.Millisecond, func() bool { return tr.awaiting[no] || tr.result[no] != "" }) {
				tr.mu.Lock()
				aw, done := tr.awaiting[no], tr.result[no] != ""
				tr.mu.Unlock()
				if aw && !done {
					e.scan(fmt.Sprintf("13%016d", 9_000_000+len(no)*1000+len(payments)))
				}
				payMu.Lock()
				if current == no {
					current = ""
				}
				payMu.Unlock()
			} else {
				time.Sleep(20 * time.Millisecond)
			}
		}
	}()
	amounts := []int64{1000, 1001, 1006, 2500, 1002}

	sample := func(start time.Time) soakSample {
		s := soakSample{at: time.Since(start).Round(time.Second)}
		s.rssKB, s.threads = procStatus(pid)
		var vars struct {
			Goroutines int `json:"goroutines"`
			Memstats   struct {
				HeapAlloc int `json:"HeapAlloc"`
			} `json:"memstats"`
		}
		if apiCall(t, api, "GET", "/debug/vars", nil, &vars) == http.StatusOK {
			s.goroutines, s.heapKB = vars.Goroutines, vars.Memstats.HeapAlloc>>10
		}
		var st device.State
		apiCall(t, api, "GET", "/v1/state", nil, &st)
		s.outbox = st.Outbox
		mu.Lock()
		s.sent = len(sent)
		for _, m := range sent {
			if len(ans.get(m.ID)) > 0 {
				s.answered++
			}
		}
		mu.Unlock()
		return s
	}
	var samples []soakSample
	report := func(s soakSample) {
		line := fmt.Sprintf("soak %8v  rss %6d kB  heap %6d kB  threads %3d  goroutines %4d  outbox %4d  sent %6d  answered %6d",
			s.at, s.rssKB, s.heapKB, s.threads, s.goroutines, s.outbox, s.sent, s.answered)
		fmt.Println(line)
	}
	every := dur / 20
	if every < 5*time.Second {
		every = 5 * time.Second
	}
	start := time.Now()
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	next := start
	for i := 0; time.Since(start) < dur; i++ {
		<-tick.C
		if time.Now().After(next) {
			s := sample(start)
			samples = append(samples, s)
			report(s)
			next = next.Add(every)
		}
		switch i % 5 {
		case 0, 2:
			send("notify.payment", map[string]any{"order_id": fmt.Sprintf("S%07d", i), "amount": 100 + i%9000, "wallet": []string{"wechat", "alipay", "unionpay"}[i%3], "print": i%25 == 0})
		case 1:
			send("device.volume", map[string]any{"level": i % 11})
		case 3:
			send("print.job", map[string]any{"job_id": fmt.Sprintf("SJ%07d", i), "doc": fmt.Sprintf("<C>SOAK %d</C><BR>第%d单", i, i)})
		case 4:
			payMu.Lock()
			idle := current == ""
			payMu.Unlock()
			if idle {
				no := fmt.Sprintf("SP%07d", i)
				payMu.Lock()
				current = no
				payments = append(payments, no)
				payMu.Unlock()
				send("pay.collect", map[string]any{"out_trade_no": no, "amount": amounts[(i/5)%len(amounts)], "timeout_s": 10})
			} else {
				send("device.volume", map[string]any{"level": 6})
			}
		}
	}
	// Drain: every command answered, every payment ended.
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		s := sample(start)
		payMu.Lock()
		ended := true
		for _, no := range payments {
			tr.mu.Lock()
			if tr.result[no] == "" {
				ended = false
			}
			tr.mu.Unlock()
		}
		payMu.Unlock()
		if s.answered == s.sent && s.outbox == 0 && ended {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	final := sample(start)
	samples = append(samples, final)
	report(final)
	p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.done

	mu.Lock()
	unanswered := final.sent - final.answered
	mu.Unlock()
	lc := checkLedger(t, sim, e.cfg.DataDir)
	summary := fmt.Sprintf("soak %v at %d cmd/s: %d commands, %d unanswered, %d payments %v; ledger %s",
		dur, rate, final.sent, unanswered, len(payments), lc.States, sim.Summary())
	fmt.Println(summary)
	t.Log(summary)
	if out := os.Getenv("SOAK_REPORT"); out != "" {
		var b strings.Builder
		for _, s := range samples {
			fmt.Fprintf(&b, "%v\t%d\t%d\t%d\t%d\t%d\n", s.at, s.rssKB, s.heapKB, s.threads, s.goroutines, s.outbox)
		}
		b.WriteString(summary + "\n")
		os.WriteFile(out, []byte(b.String()), 0o644)
	}
	if unanswered > 0 {
		t.Errorf("%d commands never answered", unanswered)
	}
	if lc.Bad() > 0 {
		t.Error("the ledger and the device disagree")
	}
	// Flat: the goroutines at the end are those of the first quarter, give
	// or take the flows in progress at either moment.
	if len(samples) >= 4 {
		first := samples[1].goroutines
		if last := final.goroutines; first > 0 && last > 2*first+20 {
			t.Errorf("goroutines grew from %d to %d", first, last)
		}
	}
}
