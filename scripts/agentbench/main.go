// Command agentbench runs the real posagent binary against an embedded broker
// and measures it from outside: cold start to connected, RSS at idle and
// under a steady command load, and idle bytes on the wire through a counting
// TCP proxy. With -check it is also the arm smoke test (make test-arm): every
// command sent must be answered and the agent must stop cleanly on SIGTERM.
//
//	go run ./scripts/agentbench -agent bin/posagent -duration 10m -rate 10
//	go run ./scripts/agentbench -wrap qemu-arm-static -agent bin/posagent-armv7 -check
//
// Figures are printed, not asserted: timings belong in benchmarks, not tests.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/device"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/platform"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "agentbench:", err)
		os.Exit(1)
	}
}

type opts struct {
	agent, wrap         string
	idle, duration      time.Duration
	rate                float64
	check, wire         bool
	wireKeepalive       time.Duration
	wireWindow, connect time.Duration
	orders              int
}

func run() error {
	var o opts
	flag.StringVar(&o.agent, "agent", "bin/posagent", "posagent binary")
	flag.StringVar(&o.wrap, "wrap", "", "run the agent under this program (qemu-arm-static)")
	flag.DurationVar(&o.idle, "idle", 10*time.Second, "idle time before the idle RSS sample")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "load phase length")
	flag.Float64Var(&o.rate, "rate", 10, "notify.payment commands per second in the load phase")
	flag.BoolVar(&o.check, "check", false, "fail unless every command is answered and the agent exits 0 on SIGTERM")
	flag.BoolVar(&o.wire, "wire", true, "measure idle bytes on the wire (a second, short-keepalive run)")
	flag.DurationVar(&o.wireKeepalive, "wire-keepalive", 2*time.Second, "keepalive of the wire run (extrapolated to 120 s)")
	flag.DurationVar(&o.wireWindow, "wire-window", 20*time.Second, "length of the wire run's idle window")
	flag.DurationVar(&o.connect, "connect-timeout", 60*time.Second, "how long the agent has to connect (qemu is slow)")
	flag.IntVar(&o.orders, "orders", 0, "paid orders in the journal before the load run (spread over 300 days; the agent builds its indexes in a first start, then is measured in a second)")
	flag.Parse()

	b, err := platform.StartBroker("127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	defer b.Close()

	fmt.Printf("agent: %s %s\n", o.wrap, o.agent)
	if err := loadRun(o, b); err != nil {
		return err
	}
	if o.wire {
		return wireRun(o, b)
	}
	return nil
}

// session is one agent process with its platform connection.
type session struct {
	cmd     *exec.Cmd
	done    chan error
	plat    *platform.Client
	events  <-chan platform.Event
	devID   string
	log     *lockedBuf
	proxy   *proxy
	start   time.Time
	state   int // size of the retained state document, bytes
	dataDir string
	args    []string
}

func startSession(o opts, b *platform.Broker, devID string, keepalive time.Duration, orders int) (*session, error) {
	dir, err := os.MkdirTemp("", "agentbench")
	if err != nil {
		return nil, err
	}
	px, err := newProxy(b.Addr())
	if err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	rand.Read(key)
	c := config.Default()
	c.DeviceID, c.Board, c.DataDir = devID, "sim", filepath.Join(dir, "data")
	c.MQTT.URL = "tcp://" + px.addr()
	c.MQTT.KeepaliveMS = keepalive.Milliseconds()
	c.AuthKey = base64.StdEncoding.EncodeToString(key)
	c.Audio.Out = "null"
	c.Printer.Status = "none"
	c.API.Listen = "127.0.0.1:0"
	data, _ := json.Marshal(c)
	cfgPath := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfgPath, data, 0o600); err != nil {
		return nil, err
	}

	plat, err := platform.Dial(context.Background(), platform.Options{URL: b.URL(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return nil, err
	}
	plat.AddDevice(platform.Device{ID: devID, AuthKey: key})
	ev, err := plat.Subscribe(context.Background(), devID, "")
	if err != nil {
		return nil, err
	}

	args := []string{o.agent, "-config", cfgPath}
	if o.wrap != "" {
		args = append([]string{o.wrap}, args...)
	}
	s := &session{plat: plat, events: ev, devID: devID, log: &lockedBuf{}, proxy: px, dataDir: c.DataDir, args: args}
	if orders > 0 {
		if err := prefill(c.DataDir, orders); err != nil {
			return nil, err
		}
		// The first start builds the indexes (a one-time cost, and it maps
		// every page): measured apart, then the agent is started again.
		if err := s.launch(); err != nil {
			return nil, err
		}
		up, err := s.waitConnected(o.connect)
		if err != nil {
			s.cmd.Process.Kill()
			return nil, err
		}
		s.cmd.Process.Signal(syscall.SIGTERM)
		<-s.done
		// Its last word is the state going offline: read up to it, so the
		// second start's wait sees only its own.
		for drained := time.After(10 * time.Second); ; {
			select {
			case e := <-s.events:
				if e.State == nil || !strings.Contains(string(e.State), `"online":false`) {
					continue
				}
			case <-drained:
			}
			break
		}
		fmt.Printf("first start with %d orders (indexes built): %v, journal %d KiB\n", orders, up.Round(time.Millisecond), s.dbSize())
	}
	return s, s.launch()
}

func (s *session) launch() error {
	s.done = make(chan error, 1)
	s.cmd = exec.Command(s.args[0], s.args[1:]...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.start = time.Now()
	if err := s.cmd.Start(); err != nil {
		return err
	}
	go func(cmd *exec.Cmd, done chan error) { done <- cmd.Wait() }(s.cmd, s.done)
	return nil
}

// prefill writes n paid orders, newest now and one every 300 days / n
// back, as records only: the agent files them in its indexes at start.
func prefill(dataDir string, n int) error {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return err
	}
	j, err := journal.Open(filepath.Join(dataDir, "journal.db"))
	if err != nil {
		return err
	}
	defer j.Close()
	now := time.Now()
	step := 300 * 24 * time.Hour / time.Duration(n)
	for i := 0; i < n; {
		err := j.Update(func(tx *journal.Tx) error {
			for k := 0; k < 5000 && i < n; k, i = k+1, i+1 {
				at := now.Add(-time.Duration(i+1) * step).UnixMilli()
				p := device.Payment{OutTradeNo: fmt.Sprintf("P%013d%05d", at, i), Amount: 100 + int64(i%9900), State: device.Paid,
					Wallet: "wechat", TransactionID: fmt.Sprintf("42%016d", i), CreatedAt: at, ConfirmedAt: at, UpdatedAt: at}
				if err := tx.Put(journal.Orders, p.OutTradeNo, p); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// waitConnected returns the time from start to the retained state saying
// online (the agent publishes it on connect).
func (s *session) waitConnected(d time.Duration) (time.Duration, error) {
	timeout := time.After(d)
	for {
		select {
		case e := <-s.events:
			if e.State != nil && strings.Contains(string(e.State), `"online":true`) {
				s.state = len(e.State)
				return time.Since(s.start), nil
			}
		case err := <-s.done:
			return 0, fmt.Errorf("agent exited before connecting: %v\n%s", err, s.log)
		case <-timeout:
			return 0, fmt.Errorf("agent not connected within %v\n%s", d, s.log)
		}
	}
}

// stop sends SIGTERM and returns the exit error.
func (s *session) stop() error {
	s.cmd.Process.Signal(syscall.SIGTERM)
	defer s.plat.Close()
	defer s.proxy.close()
	select {
	case err := <-s.done:
		return err
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		return errors.New("agent did not stop within 30 s of SIGTERM")
	}
}

// rss is the agent process's resident set in KiB (under -wrap, the
// emulator's: guest and emulator together).
func (s *session) rss() int { return s.status("VmRSS") }

// rssFile is the file-backed part of rss: mostly the journal's mmap, which
// grows with the journal (records are pruned after 48 h / 7 days), not heap.
func (s *session) rssFile() int { return s.status("RssFile") }

func (s *session) status(key string) int {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+":"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}

// guestRSS is, under a 32-bit qemu-user (-wrap qemu-arm-static), the
// resident set of the guest alone, in KiB, and its anonymous part: qemu
// lays the guest's 4 GiB address space over the host's lowest 4 GiB when
// that is free (guest_base 0) and keeps its own memory (translated code,
// its heap) above, so the mappings that start below 4 GiB are the agent's
// pages as an armv7 kernel would hold them. ok is false when the agent
// binary is not mapped below 4 GiB (another guest_base): nothing is known.
func (s *session) guestRSS() (rss, anon int, ok bool) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps", s.cmd.Process.Pid))
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	agent, _ := filepath.Abs(s.args[1])
	var low bool
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if start, _, isRange := strings.Cut(fields[0], "-"); isRange && !strings.HasSuffix(fields[0], ":") {
			a, err := strconv.ParseUint(start, 16, 64)
			if err != nil {
				continue // not a mapping's header
			}
			low = a < 1<<32
			if low && len(fields) >= 6 && fields[len(fields)-1] == agent {
				ok = true
			}
			continue
		}
		if !low || len(fields) < 2 {
			continue
		}
		n, _ := strconv.Atoi(fields[1])
		switch fields[0] {
		case "Rss:":
			rss += n
		case "Anonymous:":
			anon += n
		}
	}
	return rss, anon, ok
}

// guestLine says guestRSS, when the agent runs under a 32-bit emulator.
func (s *session) guestLine() string {
	if len(s.args) < 2 || !strings.Contains(filepath.Base(s.args[0]), "qemu-arm") {
		return ""
	}
	rss, anon, ok := s.guestRSS()
	if !ok {
		return "; guest alone: unknown (not laid at the host's low 4 GiB)"
	}
	return fmt.Sprintf("; guest alone (the agent's own pages, below 4 GiB): %d KiB, anonymous %d KiB", rss, anon)
}

// dbSize is the journal file's size in KiB.
func (s *session) dbSize() int64 {
	fi, err := os.Stat(filepath.Join(s.dataDir, "journal.db"))
	if err != nil {
		return 0
	}
	return fi.Size() / 1024
}

func loadRun(o opts, b *platform.Broker) error {
	s, err := startSession(o, b, "bench-load", 120*time.Second, o.orders)
	if err != nil {
		return err
	}
	up, err := s.waitConnected(o.connect)
	if err != nil {
		s.stop()
		return err
	}
	fmt.Printf("cold start to connected: %v\n", up.Round(time.Millisecond))
	time.Sleep(o.idle)
	idle := s.rss()
	// File-backed pages count as whole page-cache folios on kernels with
	// large folios (6.x on ext4): run the binary from a tmpfs (shmem, 4 KiB
	// pages) to see what a device kernel maps.
	fmt.Printf("RSS idle (after %v): %d KiB (file-backed %d KiB, shmem %d KiB), journal %d KiB%s\n", o.idle, idle, s.rssFile(), s.status("RssShmem"), s.dbSize(), s.guestLine())

	// Load: rate commands per second; answers counted as they come.
	var answered atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for {
			select {
			case e := <-s.events:
				if e.Err == nil && e.Message.Type == "notify.done" {
					answered.Add(1)
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	var samples, anon []int
	sent := 0
	tick := time.NewTicker(time.Duration(float64(time.Second) / o.rate))
	sample := time.NewTicker(time.Second)
	end := time.After(o.duration)
	begin := time.Now()
load:
	for {
		select {
		case <-tick.C:
			sent++
			_, err := s.plat.Send(s.devID, "notify.payment", map[string]any{
				"order_id": fmt.Sprintf("bench-%d-%d", begin.UnixNano(), sent), "amount": 100 + sent%9900, "wallet": "wechat",
			})
			if err != nil {
				cancel()
				s.stop()
				return fmt.Errorf("send: %w", err)
			}
		case <-sample.C:
			samples, anon = append(samples, s.rss()), append(anon, s.status("RssAnon"))
		case <-end:
			break load
		}
	}
	tick.Stop()
	sample.Stop()
	// Give the last answers a moment (longer under an emulator).
	for deadline := time.Now().Add(o.connect); answered.Load() < int64(sent) && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	fmt.Printf("load: %d notify.payment in %v (%.1f/s), %d answered\n", sent, o.duration, float64(sent)/o.duration.Seconds(), answered.Load())
	if len(samples) > 0 {
		fmt.Printf("RSS under load: first %d KiB, max %d KiB, last %d KiB; first-tenth avg %d KiB, last-tenth avg %d KiB\n",
			samples[0], maxOf(samples), samples[len(samples)-1], avg(samples[:tenth(samples)]), avg(samples[len(samples)-tenth(samples):]))
		fmt.Printf("  of which anonymous (heap, stacks): first-tenth avg %d KiB, last-tenth avg %d KiB, max %d KiB; journal now %d KiB\n",
			avg(anon[:tenth(anon)]), avg(anon[len(anon)-tenth(anon):]), maxOf(anon), s.dbSize())
	}
	if g := s.guestLine(); g != "" {
		fmt.Printf("RSS after load%s\n", g)
	}
	err = s.stop()
	fmt.Printf("SIGTERM: exit %v\n", exitText(err))
	if o.check {
		if answered.Load() < int64(sent) {
			return fmt.Errorf("%d of %d commands unanswered\n%s", int64(sent)-answered.Load(), sent, s.log)
		}
		if err != nil {
			return fmt.Errorf("agent did not exit cleanly: %v\n%s", err, s.log)
		}
	}
	return nil
}

// wireRun measures idle bytes on the wire: a fresh agent at a short
// keepalive, left idle for the window after it connected; the bytes per
// keepalive period are extrapolated to the default 120 s keepalive.
func wireRun(o opts, b *platform.Broker) error {
	s, err := startSession(o, b, "bench-wire", o.wireKeepalive, 0)
	if err != nil {
		return err
	}
	defer s.stop()
	if _, err := s.waitConnected(o.connect); err != nil {
		return err
	}
	time.Sleep(o.wireKeepalive) // let the connect burst (hello, state) pass
	up0, down0, seg0 := s.proxy.counts()
	time.Sleep(o.wireWindow)
	up1, down1, seg1 := s.proxy.counts()
	bytes := float64(up1 - up0 + down1 - down0)
	segs := float64(seg1 - seg0)
	periods := o.wireWindow.Seconds() / o.wireKeepalive.Seconds()
	perPeriod := bytes / periods
	// The agent also re-publishes its retained state once an hour
	// (housekeeping): PUBLISH (fixed header 2-3, topic, packet id 2,
	// payload) and the broker's PUBACK (4).
	topic := len(config.Default().MQTT.Prefix + "/" + s.devID + "/state")
	hourly := float64(3 + 2 + topic + 2 + s.state + 4)
	perHour := perPeriod*3600/120 + hourly
	// TCP/IP overhead: 52 bytes (IPv4 20 + TCP 20 + timestamps 12) per
	// segment seen, and as many bare ACKs again at worst.
	withHeaders := (bytes+segs*52*2)/periods*3600/120 + hourly + 4*52
	fmt.Printf("idle wire (measured at keepalive %v for %v, extrapolated to 120 s, plus the hourly state of %d bytes): %.0f MQTT bytes per keepalive period; ~%.0f MQTT bytes/hour, ~%.0f bytes/hour with TCP/IP headers and ACKs\n",
		o.wireKeepalive, o.wireWindow, s.state, perPeriod, perHour, withHeaders)
	return nil
}

// proxy is a TCP relay that counts the bytes each way, and the reads (about
// one per TCP segment for small packets).
type proxy struct {
	ln             net.Listener
	target         string
	up, down, segs atomic.Int64
	mu             sync.Mutex
	conns          []net.Conn
}

func newProxy(target string) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{ln: ln, target: target}
	go p.serve()
	return p, nil
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		t, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, t)
		p.mu.Unlock()
		go p.pipe(t, c, &p.up)
		go p.pipe(c, t, &p.down)
	}
}

func (p *proxy) pipe(dst, src net.Conn, n *atomic.Int64) {
	buf := make([]byte, 32*1024)
	for {
		k, err := src.Read(buf)
		if k > 0 {
			n.Add(int64(k))
			p.segs.Add(1)
			dst.Write(buf[:k])
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

func (p *proxy) counts() (up, down, segs int64) { return p.up.Load(), p.down.Load(), p.segs.Load() }

func (p *proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

type lockedBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func exitText(err error) string {
	if err == nil {
		return "0"
	}
	return err.Error()
}

func tenth(s []int) int { return max(1, len(s)/10) }

func avg(s []int) int {
	t := 0
	for _, v := range s {
		t += v
	}
	return t / max(1, len(s))
}

func maxOf(s []int) int {
	m := 0
	for _, v := range s {
		m = max(m, v)
	}
	return m
}
