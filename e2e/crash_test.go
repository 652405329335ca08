package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/device"
	"github.com/posagent/posagent/platform"
	"github.com/posagent/posagent/printer"
)

// tracker follows the device's payment events as the platform sees them.
type tracker struct {
	mu       sync.Mutex
	awaiting map[string]bool
	result   map[string]string
	busy     map[string]bool // collect jti answered busy
	changed  chan struct{}
}

func newTracker() *tracker {
	return &tracker{awaiting: map[string]bool{}, result: map[string]string{}, busy: map[string]bool{}, changed: make(chan struct{}, 1)}
}

func (tr *tracker) run(ctx context.Context, events <-chan platform.Event) {
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-events:
			if e.Err != nil || e.State != nil {
				continue
			}
			var b struct {
				OutTradeNo string `json:"out_trade_no"`
				State      string `json:"state"`
				Code       string `json:"code"`
			}
			json.Unmarshal(e.Message.Body, &b)
			tr.mu.Lock()
			switch e.Message.Type {
			case "pay.progress":
				if b.State == device.AwaitingCode {
					tr.awaiting[b.OutTradeNo] = true
				}
			case "pay.result":
				tr.result[b.OutTradeNo] = b.State
			case "error":
				if b.Code == device.CodeBusy {
					tr.busy[e.Message.Ref] = true
				}
			}
			tr.mu.Unlock()
			select {
			case tr.changed <- struct{}{}:
			default:
			}
		}
	}
}

// wait blocks until cond (called under the lock) holds or d passes.
func (tr *tracker) wait(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		tr.mu.Lock()
		ok := cond()
		tr.mu.Unlock()
		if ok {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-tr.changed:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// crashAmounts mixes the simulator's outcomes (fen part selects the row;
// .08, DUPLICATE_CONTENT, never ends by design and is left out here).
var crashAmounts = []int64{1000, 1000, 1000, 1000, 2500, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1009, 1010, 8800}

// The crash-consistency test of issue 5: payments run through the real
// binary while it is killed with SIGKILL at random points and the link to
// the broker is delayed, cut, black-holed and reset (toxiproxy). Then the
// simulator's ledger is compared with the device journal.
func TestCrashConsistency(t *testing.T) {
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("POSAGENT_CRASH_N")); err == nil {
		n = v
	}
	if testing.Short() {
		n = 100
	}
	e := newEnv(t)
	// mosquitto (TLS through the proxy): the embedded broker can lose a
	// command sent while the restarted agent takes its session over (see
	// TestKillMinusNineLosesNothing), and this test restarts it 100 times.
	mb, proxy := e.withProxiedMosquitto()
	e.cfg.Pay = config.Pay{PollIntervalMS: 25, PollTimeoutMS: 400, ReverseAfterMS: 150, CollectTimeoutMS: 3000, ReverseMaxTries: 10, RefundPollMS: 25, DepositReleaseAfterMS: 2592000000}
	e.cfg.Printer.Baud = 921600
	e.writeConfig()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim := e.startSimOn(ctx, mb)
	tr := newTracker()

	var pmu sync.Mutex
	var logs []*syncBuffer // of the runs killed
	p := startAgent(t, e.bin, e.cfgPath)
	e.waitHello(10 * time.Second)
	go tr.run(ctx, e.events) // after: both read e.events

	// Chaos: kills and link faults until the payments are all sent.
	chaos, stopChaos := context.WithCancel(ctx)
	var kills, linkFaults int
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for chaos.Err() == nil {
			time.Sleep(time.Duration(400+mrand.IntN(1200)) * time.Millisecond)
			if chaos.Err() != nil {
				return
			}
			pmu.Lock()
			logs = append(logs, p.log)
			p = e.restart(p)
			kills++
			pmu.Unlock()
		}
	}()
	go func() {
		defer wg.Done()
		for chaos.Err() == nil {
			time.Sleep(time.Duration(200+mrand.IntN(600)) * time.Millisecond)
			switch mrand.IntN(5) {
			case 0:
				proxy.Latency(30, 20)
			case 1:
				proxy.Down()
				time.Sleep(time.Duration(100+mrand.IntN(400)) * time.Millisecond)
				proxy.Up()
			case 2:
				proxy.BlackHole()
				time.Sleep(time.Duration(100+mrand.IntN(400)) * time.Millisecond)
				proxy.Clear()
			case 3:
				proxy.Reset()
				time.Sleep(50 * time.Millisecond)
				proxy.Clear()
			case 4:
				proxy.Clear()
			}
			linkFaults++
		}
		proxy.Clear()
		proxy.Up()
	}()

	sent := make([]string, 0, n)
	start := time.Now()
	for i := 0; i < n; i++ {
		no := fmt.Sprintf("X%05d", i)
		amount := crashAmounts[i%len(crashAmounts)]
		code := fmt.Sprintf("13%016d", 5_000_000+i)
		for try := 0; ; try++ {
			m, err := e.plat.Send(e.cfg.DeviceID, "pay.collect", map[string]any{"out_trade_no": no, "amount": amount, "timeout_s": 3})
			if err != nil {
				t.Fatal(err)
			}
			started := tr.wait(15*time.Second, func() bool { return tr.awaiting[no] || tr.result[no] != "" || tr.busy[m.ID] })
			tr.mu.Lock()
			busy, awaiting := tr.busy[m.ID], tr.awaiting[no]
			tr.mu.Unlock()
			if busy && try < 50 {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			if !started {
				t.Logf("%s: collect not seen started within 15 s", no)
			}
			if awaiting {
				e.scan(code)
			}
			break
		}
		sent = append(sent, no)
		tr.wait(10*time.Second, func() bool { return tr.result[no] != "" })
	}
	elapsed := time.Since(start)
	stopChaos()
	wg.Wait()

	// Everything must end: wait for a pay.result of every payment.
	if !tr.wait(120*time.Second, func() bool {
		for _, no := range sent {
			if tr.result[no] == "" {
				return false
			}
		}
		return true
	}) {
		t.Error("some payments never reported a result")
	}
	// The announcements and receipts of the last paid orders may still be
	// owed (they are journaled; a stop now would leave them to the next
	// start): let them finish before the final stop.
	tr.wait(30*time.Second, func() bool {
		for no, st := range tr.result {
			_, err := os.Stat(filepath.Join(e.wavDir, no+".wav"))
			_, rerr := os.Stat(filepath.Join(e.wavDir, no+".replay.wav"))
			if st == device.Paid && err != nil && rerr != nil {
				return false
			}
		}
		return true
	})
	time.Sleep(300 * time.Millisecond)
	pmu.Lock()
	p.cmd.Process.Signal(os.Interrupt)
	<-p.done
	logs = append(logs, p.log)
	pmu.Unlock()

	// Compare the ledger with the journal.
	lc := checkLedger(t, sim, e.cfg.DataDir)
	orders, states := lc.Orders, lc.States
	doubles, unknownCharges, paidNotCharged, notTerminal := lc.Doubles, lc.UnknownCharges, lc.PaidNotCharged, lc.NotTerminal
	// Announcements and receipts: once per paid order.
	said, replays := map[string]int{}, 0
	ents, _ := os.ReadDir(e.wavDir)
	for _, w := range ents {
		name := strings.TrimSuffix(w.Name(), ".wav")
		if strings.HasSuffix(name, ".replay") {
			replays++
			name = strings.TrimSuffix(name, ".replay")
		}
		if strings.HasPrefix(name, "X") {
			said[name]++
		}
	}
	printed, reprinted, reprints := map[string]int{}, map[string]int{}, 0
	for _, job := range printer.SplitJobs(e.prn.bytes()) {
		doc, _ := printer.Decode(job)
		text := doc.Text()
		for _, l := range doc.Lines {
			if i := strings.Index(l, "X"); i >= 0 && len(l) >= i+6 {
				no := l[i : i+6]
				if _, ok := orders[no]; ok {
					if strings.Contains(text, "重打印") {
						reprints++
						reprinted[no]++
					} else {
						printed[no]++
					}
					break
				}
			}
		}
	}
	// Said twice unmarked: under one WAV name that is one file but two
	// "played" lines. A kill after the sound and before the journal
	// records it said is redone marked 补播, in replays.
	played := plays(logs...)
	var dupSaid, dupPrinted, missingSaid, missingPrinted int
	for no, o := range orders {
		dupSaid += max(played[no]-1, 0)
		if printed[no] > 1 {
			dupPrinted++
		}
		if o.State == device.Paid {
			if said[no] == 0 {
				missingSaid++
			}
			if printed[no]+reprinted[no] == 0 {
				missingPrinted++
			}
		} else if said[no] > 0 || printed[no] > 0 {
			t.Errorf("%s (%s) announced or printed as paid", no, o.State)
		}
	}
	s := sim.Summary()
	report := fmt.Sprintf("payments %d in %v; SIGKILLs %d, link faults %d; device states %v; ledger: charged %d (%d fen), reversed %d, double charges %d; "+
		"charges the device does not know as paid %d, paid on the device but not charged %d, not terminal %d; "+
		"announcements said twice unmarked %d, missing %d, replays %d; receipts duplicated %d, missing %d, reprints %d",
		len(sent), elapsed.Round(time.Second), kills, linkFaults, states, s.Charged, s.ChargedFen, s.Reversed, doubles,
		unknownCharges, paidNotCharged, notTerminal, dupSaid, missingSaid, replays, dupPrinted, missingPrinted, reprints)
	t.Log(report)
	if out := os.Getenv("POSAGENT_CRASH_REPORT"); out != "" {
		os.WriteFile(out, []byte(report+"\n"), 0o644)
	}
	if replays > kills {
		t.Errorf("%d announcements replayed with %d kills", replays, kills)
	}
	if doubles+unknownCharges+paidNotCharged+notTerminal+dupSaid+dupPrinted+missingSaid+missingPrinted > 0 {
		t.Fatal("the ledger and the device disagree")
	}
}
