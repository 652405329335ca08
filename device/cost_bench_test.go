package device

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/posagent/posagent/drivers/serialtest"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/platform"
	"github.com/posagent/posagent/platform/mosquittotest"
	"github.com/posagent/posagent/printer"
)

// The cost of a command near its floor (make bench): what one command
// costs the disk (journal commits, each one fdatasync of the journal's
// log, and the checkpoints that fold the log into the bbolt file, each
// two; bytes the process sent to the block layer, from /proc/self/io,
// with a checkpoint at the end of the run so that its share is counted)
// and how long it takes from the platform's publish to the answering
// event, against the floor measured in the same run: one small bbolt
// update on the same disk plus one QoS 1 publish round trip through the
// same broker. The speaker is silent and instant (speaker below) so that
// what is measured is the agent, not the WAV files a test speaker writes.

// speaker plays nothing and remembers the order of what it was given.
type speaker struct {
	mu    sync.Mutex
	order []string
}

func (s *speaker) Play(_ context.Context, id string, _ []int16) error {
	s.mu.Lock()
	s.order = append(s.order, id)
	s.mu.Unlock()
	return nil
}

func (s *speaker) said() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.order)
}

// writeBytes is this process's write_bytes from /proc/self/io: bytes it
// caused to be sent to storage (page-cache pages dirtied), 0 when the
// kernel does not say.
func writeBytes() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte("write_bytes: ")); ok {
			n, _ := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
			return n
		}
	}
	return 0
}

// floorMeter measures the floor: one small update of a bbolt file beside
// the agent's journal (the same disk) plus one QoS 1 publish round trip
// through the rig's broker. Its samples are taken between the commands of
// the run, so that the floor and the commands see the same disk and the
// same machine load.
type floorMeter struct {
	b        *testing.B
	r        *rig
	db       *bolt.DB
	upd, pub []time.Duration
	written  int64 // the bytes its updates wrote (not the agent's)
}

func newFloor(b *testing.B, r *rig) *floorMeter {
	db, err := bolt.Open(filepath.Join(r.cfg.DataDir, "floor.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return &floorMeter{b: b, r: r, db: db}
}

func (f *floorMeter) sample() {
	w0 := writeBytes()
	defer func() { f.written += writeBytes() - w0 }()
	t0 := time.Now()
	if err := f.db.Update(func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucketIfNotExists([]byte("floor"))
		if err != nil {
			return err
		}
		return bk.Put([]byte("k"), []byte(strconv.Itoa(len(f.upd))))
	}); err != nil {
		f.b.Fatal(err)
	}
	f.upd = append(f.upd, time.Since(t0))
	t0 = time.Now()
	// A device id nobody listens for: the broker's PUBACK only.
	if err := f.r.plat.Publish("floor-0001", "x"); err != nil {
		f.b.Fatal(err)
	}
	f.pub = append(f.pub, time.Since(t0))
}

// floor is the median update plus the median round trip.
func (f *floorMeter) floor() time.Duration { return median(f.upd) + median(f.pub) }

func median(d []time.Duration) time.Duration {
	d = slices.Clone(d)
	slices.Sort(d)
	return d[len(d)/2]
}

func percentile(d []time.Duration, p int) time.Duration {
	d = slices.Clone(d)
	slices.Sort(d)
	return d[min(len(d)-1, len(d)*p/100)]
}

// settle waits until the outbox is empty and no commit has happened for
// quiet: the commits a command causes after its answer (the outbox's
// delete on PUBACK) are counted too.
func settle(b *testing.B, j *journal.Journal, quiet time.Duration) {
	deadline := time.Now().Add(30 * time.Second)
	last, since := j.Commits(), time.Now()
	for time.Now().Before(deadline) {
		time.Sleep(quiet / 10)
		if c := j.Commits(); c != last {
			last, since = c, time.Now()
			continue
		}
		if n, err := j.OutboxLen(); err == nil && n == 0 && time.Since(since) >= quiet {
			return
		}
	}
	b.Fatal("the journal did not settle")
}

// BenchmarkCommandCost sends commands one at a time, each after the
// previous one's answer: device.volume (answered at once), notify.payment
// without and with a receipt.
func BenchmarkCommandCost(b *testing.B) {
	cases := []struct {
		name, typ string
		body      func(i int) any
	}{
		{"volume", "device.volume", func(i int) any { return map[string]any{"level": 1 + i%9} }},
		{"notify", "notify.payment", func(i int) any {
			return map[string]any{"order_id": fmt.Sprintf("c-%d", i), "amount": 12850, "wallet": "wechat"}
		}},
		{"notify-print", "notify.payment", func(i int) any {
			return map[string]any{"order_id": fmt.Sprintf("p-%d", i), "amount": 12850, "wallet": "wechat", "print": true}
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			r := newRig(b)
			r.startWith(&speaker{}, nil)
			fl := newFloor(b, r)
			for range 20 {
				fl.sample()
			}
			j := r.agent.j
			settle(b, j, 200*time.Millisecond)
			if err := j.Checkpoint(); err != nil {
				b.Fatal(err)
			}
			c0, s0, k0, w0, t0 := j.Commits(), j.Syncs(), j.Checkpoints(), writeBytes(), j.CommitTime()
			fl.written = 0
			var lat []time.Duration
			i := 0
			for b.Loop() {
				i++
				start := time.Now()
				m := r.send(c.typ, c.body(i))
				r.answer(m.ID, 10*time.Second)
				lat = append(lat, time.Since(start))
				if i%4 == 0 {
					b.StopTimer()
					fl.sample()
					b.StartTimer()
				}
			}
			b.StopTimer()
			settle(b, j, 200*time.Millisecond)
			if err := j.Checkpoint(); err != nil {
				b.Fatal(err)
			}
			n := float64(len(lat))
			b.ReportMetric(float64(j.Commits()-c0)/n, "commits/op")
			b.ReportMetric(float64(j.Syncs()-s0)/n, "fdatasync/op")
			b.ReportMetric(float64(j.Checkpoints()-k0), "checkpoints")
			b.ReportMetric(float64(writeBytes()-w0-fl.written)/n/1024, "KB/op")
			b.ReportMetric(ms(median(lat)), "p50-ms")
			b.ReportMetric(ms(fl.floor()), "floor-ms")
			b.ReportMetric(float64(median(lat))/float64(fl.floor()), "x-floor")
			b.ReportMetric(ms(j.CommitTime()-t0)/n, "commit-ms/op")
		})
	}
}

// BenchmarkHeldBurst is a reconnect after an outage: held notifications
// (with receipts) wait at the broker for the agent's persistent session,
// then arrive at once. It reports the time from the agent's start to each
// notify.done (p50, p99), the throughput, the cost per notification, and
// how many were announced out of their arrival order (the goal is 0).
func BenchmarkHeldBurst(b *testing.B) {
	for _, held := range []int{1000, 5000} {
		b.Run(strconv.Itoa(held), func(b *testing.B) {
			for range b.N {
				heldBurst(b, held)
			}
		})
	}
}

func heldBurst(b *testing.B, held int) {
	b.StopTimer()
	r := mosquittoRig(b)
	spk := &speaker{}
	r.startWith(spk, nil)
	r.stop() // the session stays at the broker: it holds what comes now
	sent := make([]mqtt.Message, held)
	index := map[string]int{}
	for i := range held {
		sent[i] = r.send("notify.payment", map[string]any{"order_id": fmt.Sprintf("h-%d", i), "amount": 100 + i, "wallet": "alipay", "print": true})
		index[sent[i].ID] = i
	}
	w0 := writeBytes()
	b.StartTimer()
	t0 := time.Now()
	r.startWith(spk, nil)
	j := r.agent.j
	var lat []time.Duration
	got := map[string]bool{}
	timeout := time.After(10 * time.Minute)
	for len(got) < held {
		select {
		case e := <-r.events:
			if e.Err == nil && e.State == nil && e.Message.Type == "notify.done" {
				if _, ok := index[e.Message.Ref]; ok && !got[e.Message.Ref] {
					got[e.Message.Ref] = true
					lat = append(lat, time.Since(t0))
				}
			}
		case <-timeout:
			b.Fatalf("%d of %d answered", len(got), held)
		}
	}
	total := time.Since(t0)
	b.StopTimer()
	settle(b, j, 200*time.Millisecond)
	violations, last := 0, -1
	for _, id := range spk.said() {
		i, err := strconv.Atoi(strings.TrimPrefix(id, "h-"))
		if err != nil || !strings.HasPrefix(id, "h-") {
			continue
		}
		if i < last {
			violations++
		}
		last = max(last, i)
	}
	if err := j.Checkpoint(); err != nil {
		b.Fatal(err)
	}
	n := float64(held)
	// A journal opened by this start: its counters are this burst's.
	b.ReportMetric(ms(percentile(lat, 50)), "p50-ms")
	b.ReportMetric(ms(percentile(lat, 99)), "p99-ms")
	b.ReportMetric(n/total.Seconds(), "notify/s")
	b.ReportMetric(float64(j.Commits())/n, "commits/notify")
	b.ReportMetric(float64(j.Syncs())/n, "fdatasync/notify")
	b.ReportMetric(float64(j.Checkpoints()), "checkpoints")
	b.ReportMetric(ms(j.CheckpointTime()), "checkpoint-ms")
	b.ReportMetric(float64(writeBytes()-w0)/n/1024, "KB/notify")
	b.ReportMetric(float64(violations), "out-of-order")
	r.stop()
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// mosquittoRig is a rig on a real mosquitto (plain TCP, a password per
// client) instead of the embedded broker: mochi-mqtt v2.7.9 sends the
// messages it held for an away session in map order, not in the order
// they were published (MQTT 3.1.1 §4.6 requires that order), which would
// make any order measured through it the broker's.
func mosquittoRig(b *testing.B) *rig {
	mb := mosquittotest.Start(b, mosquittotest.Options{
		Plain: true, MaxQueued: -1,
		Devices:  map[string]string{devID: "device-pw"},
		Platform: map[string]string{"platform": "platform-pw"},
	})
	r := &rig{t: b, cfg: newConfig(b, mb.URL()), printer: &jobs{}}
	r.cfg.MQTT.Username, r.cfg.MQTT.Password = devID, "device-pw"
	r.wavDir = strings.TrimPrefix(r.cfg.Audio.Out, "wav:")
	r.dbPath = filepath.Join(r.cfg.DataDir, "journal.db")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	plat, err := platform.Dial(ctx, platform.Options{URL: mb.URL(), ClientID: "platform", Username: "platform", Password: "platform-pw", Log: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	plat.AddDevice(platform.Device{ID: devID, AuthKey: r.cfg.AuthKeyBytes()})
	ev, err := plat.Subscribe(context.Background(), "+", "")
	if err != nil {
		b.Fatal(err)
	}
	r.plat, r.events = plat, ev
	b.Cleanup(func() {
		if r.stop != nil {
			r.stop()
		}
		plat.Close()
	})
	return r
}

// uart is a printer's end of the line that plays the wire a real UART
// drives: bytes the driver hands over while the line is still sending
// wait in the port's buffer, and each byte takes 10 bit times (8N1). On a
// pseudo-terminal the bytes arrive at once; the driver's pacing decides.
type uart struct {
	io.ReadWriter
	baud       int
	mu         sync.Mutex
	first      time.Time
	free       time.Time     // when the line has sent all it was given
	busy, idle time.Duration // sending, and waiting for the driver
}

func (u *uart) Read(p []byte) (int, error) {
	n, err := u.ReadWriter.Read(p)
	if n > 0 {
		now := time.Now()
		u.mu.Lock()
		if u.first.IsZero() {
			u.first, u.free = now, now
		}
		if now.After(u.free) {
			u.idle += now.Sub(u.free)
			u.free = now
		}
		d := time.Duration(n) * 10 * time.Second / time.Duration(u.baud)
		u.free = u.free.Add(d)
		u.busy += d
		u.mu.Unlock()
	}
	return n, err
}

// busyShare is the share of the time from the first byte to the last
// byte's end that the line was sending.
func (u *uart) busyShare() float64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return float64(u.busy) / float64(u.busy+u.idle)
}

// BenchmarkPrintLine queues payment receipts back to back (print.job) on
// the real agent, its serial driver and a printer on a pseudo-terminal
// that answers the status queries (printer.status query): how busy the
// line is, the bytes' time at the baud rate over the time from the first
// byte to the last.
func BenchmarkPrintLine(b *testing.B) {
	for _, c := range []struct{ baud, jobs int }{{9600, 8}, {115200, 40}} {
		b.Run(strconv.Itoa(c.baud), func(b *testing.B) {
			for range b.N {
				printLine(b, c.baud, c.jobs)
			}
		})
	}
}

func printLine(b *testing.B, baud, jobs int) {
	b.StopTimer()
	r := newRig(b)
	pair := serialtest.NewPair(b)
	line := &uart{ReadWriter: pair.Master, baud: baud}
	vp := serialtest.NewPrinter(line)
	go vp.Run()
	r.cfg.Printer.Port, r.cfg.Printer.Status, r.cfg.Printer.Baud = pair.SlavePath, "query", baud
	pr := &ptyRig{rig: r, vp: vp}
	pr.start()
	doc := printer.Receipt{Kind: "pay", Store: "测试小店", Device: devID, OrderID: "P20261202120000123456",
		Wallet: "wechat", Amount: 12850, Time: time.Now()}.Markup(32)
	b.StartTimer()
	for i := range jobs {
		r.send("print.job", map[string]any{"job_id": fmt.Sprintf("line-%d", i), "doc": doc})
	}
	done := make(chan struct{})
	defer close(done)
	if !vp.Wait(done, func(p *serialtest.Printer) bool { return len(printer.SplitJobs(p.Printed())) >= jobs }) {
		b.Fatal("not all printed")
	}
	b.StopTimer()
	b.ReportMetric(100*line.busyShare(), "line-busy-%")
	b.ReportMetric(float64(len(vp.Printed()))/float64(jobs), "bytes/job")
	pr.stop()
}
