package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/posagent/posagent/wire"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/drivers/serialtest"
	"github.com/posagent/posagent/platform"
	"github.com/posagent/posagent/printer"
)

// cmdDemo is the dev kit: an embedded broker, the platform simulator, and
// the real posagent binary on the sim board with pseudo-terminal scanner and
// printer. Receipts are shown as text in this terminal and kept in the kit's
// folder with the announcements' WAVs.
func cmdDemo(args []string, stdout, stderr io.Writer) error {
	return runDemo(args, os.Stdin, stdout, stderr)
}

func runDemo(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", defaultKitDir, "folder for the kit's config, data, keys, WAVs, receipts and logs")
	listen := fs.String("listen", defaultBroker, "broker address (left out and busy: a free port; given and busy: refused)")
	agentBin := fs.String("agent", "", "posagent binary (default: the one beside posctl, then $PATH)")
	paper := fs.Int("paper", 58, "receipt paper width in mm: 58 or 80")
	apiAddr := fs.String("api", defaultAPI, "the agent's local API, loopback (left out and busy: a free port; given and busy: refused)")
	if err := fs.Parse(args); err != nil {
		return flagErr(err)
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	bin, err := findAgent(*agentBin)
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	for _, d := range []string{abs, filepath.Join(abs, "receipts"), filepath.Join(abs, "wav")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	// One kit per folder: a second one would rewrite the first one's
	// config (where posctl finds the broker) and fight over its journal.
	lock, err := lockKit(abs)
	if err != nil {
		return err
	}
	defer lock.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	// Free ports for what the flags leave to the kit, so that a second
	// kit on this machine (another folder) runs beside the first; a port
	// the flags name is used or refused.
	broker, err := platform.StartBroker(*listen, nil)
	if err != nil {
		if given["listen"] {
			return fmt.Errorf("broker address %s: %w (give another -listen, or leave it out for a free port)", *listen, err)
		}
		if broker, err = platform.StartBroker("127.0.0.1:0", nil); err != nil {
			return fmt.Errorf("start broker: %w", err)
		}
	}
	defer broker.Close()
	api, releaseAPI, err := pickAPI(*apiAddr, given["api"])
	if err != nil {
		return err
	}
	defer releaseAPI()

	prn, err := serialtest.OpenPair()
	if err != nil {
		return err
	}
	defer prn.Close()
	scn, err := serialtest.OpenPair()
	if err != nil {
		return err
	}
	defer scn.Close()

	// The kit's provisioning key, so that a config QR can be tried here.
	provPub, err := kitProvisioningKey(abs)
	if err != nil {
		return err
	}
	patchPath := filepath.Join(abs, "qr-patch.json")
	if _, err := os.Stat(patchPath); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(patchPath, []byte(kitPatch), 0o644); err != nil {
			return err
		}
	}

	cfgPath := filepath.Join(abs, "posagent.json")
	cfg, err := demoConfig(cfgPath, abs, broker.URL(), prn.SlavePath, scn.SlavePath, *paper, api, provPub)
	if err != nil {
		return err
	}

	// The platform simulator, printing what the device answers.
	cl, err := platform.Dial(ctx, platform.Options{URL: broker.URL(), Prefix: cfg.MQTT.Prefix, Log: quiet})
	if err != nil {
		return err
	}
	defer cl.Close()
	cl.AddDevice(platform.Device{ID: cfg.DeviceID, AuthKey: cfg.AuthKeyBytes()})
	var out sync.Mutex
	say := func(format string, a ...any) {
		out.Lock()
		defer out.Unlock()
		fmt.Fprintf(stdout, format, a...)
	}
	sim := &platform.Sim{Client: cl, Log: quiet, OnEvent: func(e platform.Event) { say("%s\n", demoEvent(e)) }}
	go sim.Run(ctx)

	// The agent, as its own process. Its log goes to the kit's folder;
	// what the device says and how a config QR fares are shown here too
	// (a refused QR is otherwise only 配置失败 and a line in the log).
	logPath := filepath.Join(abs, "posagent.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	apiUp := make(chan apiNote, 4)
	agentLog := &agentLog{file: logf, say: say, api: apiUp}
	agent := exec.Command(bin, "-config", cfgPath)
	agent.Stdout, agent.Stderr = agentLog, agentLog
	if err := agent.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	var agentErr error
	exited := make(chan struct{})
	go func() { agentErr = agent.Wait(); close(exited) }()
	stopAgent := func() {
		agent.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			agent.Process.Kill()
			<-exited
		}
	}

	go showReceipts(ctx, prn.Master, filepath.Join(abs, "receipts"), *paper, say)
	scanner := &lineWriter{w: scn.Master}
	go scanner.feed(stdin)
	pipePath := scannerPipe(abs)
	if closePipe, err := openScannerPipe(pipePath, scanner); err != nil {
		say("(no scanner pipe: %v; type codes in this terminal)\n", err)
		pipePath = ""
	} else {
		defer closePipe()
	}

	// The local API's token, as the cashier app reads it (the agent makes
	// it at its first start), and the API itself answering with it: the
	// address printed below is one that answers.
	tokenPath := filepath.Join(cfg.DataDir, "api.token")
	token, err := waitAPI(ctx, api, tokenPath, apiUp, exited, 20*time.Second)
	if err != nil {
		select {
		case <-exited:
			return fmt.Errorf("posagent exited at its start (%v); see %s", agentErr, logPath)
		default:
		}
		stopAgent()
		if ctx.Err() != nil {
			say("stopped\n")
			return nil
		}
		return fmt.Errorf("%w; see %s", err, logPath)
	}
	say("%s", banner(bannerInfo{
		ctl: ctlPath(), dir: *dir, broker: broker.URL(), bin: bin, dev: cfg.DeviceID, log: logPath,
		printer: prn.SlavePath, scanner: scn.SlavePath, pipe: pipePath, api: "http://" + api,
		tokenPath: tokenPath, token: token, cfgPath: cfgPath,
		provKey: filepath.Join(*dir, "provisioning.key"), patch: filepath.Join(*dir, "qr-patch.json"),
	}))

	select {
	case <-ctx.Done():
		stopAgent()
		say("stopped\n")
		return nil
	case <-exited:
		return fmt.Errorf("posagent exited (%v); see %s", agentErr, logPath)
	}
}

// The kit's fixed addresses, used when free.
const (
	defaultBroker = "127.0.0.1:1883"
	defaultAPI    = "127.0.0.1:8765"
)

// kitPatch is the config QR the kit offers to try: a visible change (the
// store's name on the next receipt) that keeps the device connected.
const kitPatch = `{"store":{"name":"扫码配置的小店"}}
`

// lockKit takes the kit folder's lock, or says that a kit runs there.
func lockKit(dir string) (*os.File, error) {
	path := filepath.Join(dir, "kit.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		pid, _ := os.ReadFile(path)
		f.Close()
		return nil, fmt.Errorf("a dev kit is running in %s already (pid %s): stop it, or give this one another -dir", dir, strings.TrimSpace(string(pid)))
	}
	f.Truncate(0)
	fmt.Fprintf(f, "%d\n", os.Getpid())
	return f, nil
}

// pickAPI is the address the agent's API is to listen on: addr if it is
// free; taken, a free port when addr was the default, and a refusal when
// the flag named it. The agent binds it itself, later: so that two kits
// starting at once do not both find addr free and both give it to their
// agents, a kit holds a lock on addr (a file in the temporary folder) for
// as long as it runs. The returned release drops it.
func pickAPI(addr string, given bool) (string, func(), error) {
	release, held := lockAddr(addr)
	ln, err := net.Listen("tcp", addr)
	if err == nil && !held {
		ln.Close()
		err = errors.New("another dev kit is starting with it")
	}
	if err != nil {
		release()
		release = func() {}
		if given {
			return "", nil, fmt.Errorf("local API address %s: %w (give another -api, or leave it out for a free port)", addr, err)
		}
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return "", nil, fmt.Errorf("local API: no free port: %w", err)
		}
	}
	defer ln.Close()
	return ln.Addr().String(), release, nil
}

// lockAddr takes this machine's lock on a kit's address; false when
// another kit holds it.
func lockAddr(addr string) (func(), bool) {
	if _, port, _ := net.SplitHostPort(addr); port == "0" {
		return func() {}, true // a port the kernel picks: no other kit's
	}
	name := "posctl-demo-" + strings.NewReplacer(":", "_", "[", "", "]", "", "/", "_").Replace(addr) + ".lock"
	f, err := os.OpenFile(filepath.Join(os.TempDir(), name), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return func() {}, false
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return func() {}, false
	}
	return func() { f.Close() }, true
}

// kitProvisioningKey is the kit's provisioning key pair in dir (made at
// the first start): the public half goes into the agent's config.
func kitProvisioningKey(dir string) (string, error) {
	base := filepath.Join(dir, "provisioning")
	if k, err := loadPrivateKey(base + ".key"); err == nil {
		return base64.StdEncoding.EncodeToString(k.Public().(ed25519.PublicKey)), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("the kit's provisioning key: %w (remove it to make a new one)", err)
	}
	return writeKeyPair(base, false)
}

// apiNote is what the agent's log says of its local API.
type apiNote struct {
	addr string
	err  string
}

// waitAPI waits for the API token and for the agent's local API to answer
// at addr with it, and returns the token.
func waitAPI(ctx context.Context, addr, tokenPath string, notes <-chan apiNote, exited <-chan struct{}, d time.Duration) (string, error) {
	deadline := time.After(d)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	client := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-exited:
			return "", errors.New("posagent exited at its start")
		case n := <-notes:
			if n.err != "" {
				return "", fmt.Errorf("the agent's local API could not listen on %s: %s", addr, n.err)
			}
		case <-deadline:
			return "", fmt.Errorf("the agent's local API does not answer at http://%s within %s", addr, d)
		case <-tick.C:
			b, err := os.ReadFile(tokenPath)
			token := strings.TrimSpace(string(b))
			if err != nil || token == "" {
				continue
			}
			req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/v1/state", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := client.Do(req)
			if err != nil {
				continue
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return token, nil
			}
		}
	}
}

// ctlPath is how to call this posctl from the current folder.
func ctlPath() string {
	self, _ := os.Executable()
	if wd, err := os.Getwd(); err == nil && self != "" {
		if rel, err := filepath.Rel(wd, self); err == nil && !strings.HasPrefix(rel, "..") {
			if !strings.Contains(rel, "/") {
				rel = "./" + rel
			}
			return rel
		}
	}
	return "posctl"
}

type bannerInfo struct {
	ctl, dir, broker, bin, dev, log, printer, scanner, pipe, api, tokenPath, token, provKey, patch, cfgPath string
}

// banner is what the kit prints once the agent answers.
func banner(b bannerInfo) string {
	kit := ""
	var env string
	if filepath.Clean(b.dir) != defaultKitDir {
		kit = " -kit " + b.dir
		env = fmt.Sprintf("  export POSCTL_CONFIG=%s   (posctl send and watch find this kit by it)\n", b.cfgPath)
	}
	scanHow := "type a code in this terminal and press Enter: it is scanned"
	if b.pipe != "" {
		scanHow += fmt.Sprintf("; or %s scan%s CODE", b.ctl, kit)
	}
	return fmt.Sprintf(`
posagent dev kit is running (times are China time, UTC+8)
  broker     %s (embedded)
  agent      %s, device %s, log %s
  local API  %s (token in %s)
  printer    %s (receipts appear below and in %s/receipts)
  scanner    %s (%s)
  speaker    WAV files in %s/wav (what the device says is shown here too)

In a second terminal, from this folder, try:
%s  %s send notify.payment -amount 12850 -wallet wechat
The agent says "微信收款一百二十八点五元" (a WAV appears in %s/wav), prints
the receipt (shown here), and answers notify.done. Also:
  %s send notify.payment -amount 100 -wallet alipay -order-id A1   (send it twice: announced once)
  %s send device.volume level=3
  %s watch        (every event and state change, verified)
  %s send -h      (every command type, its flags and its answer)

Take a payment as a cashier would (the simulator plays WeChat Pay; the fen
part of the amount picks the outcome: .04 余额不足, .02 the customer never
confirms and it is reversed, … see docs/protocol.md); every call
carries the token the agent made in %s:
  T="Authorization: Bearer $(cat %s)"
  curl -s -H "$T" --json '{"amount":12850}' %s/v1/payments
  then type 134567890123456789 here and Enter   (the customer's WeChat code)
  curl -s -H "$T" %s/v1/payments/OUT_TRADE_NO
or from the platform: %s send pay.collect amount=12804   (.04: FAILED 余额不足, exit 1)

Try a config QR (this kit's provisioning key is %s; the patch
names the store on the next receipt):
  %s qr -config %s -key %s%s -scan
The cashier's web console (the link sets its cookie): %s/?token=%s
Ctrl-C stops everything.

`, b.broker, b.bin, b.dev, b.log, b.api, b.tokenPath, b.printer, b.dir, b.scanner, scanHow, b.dir,
		env, b.ctl, b.dir, b.ctl, b.ctl, b.ctl, b.ctl,
		b.tokenPath, b.tokenPath, b.api, b.api, b.ctl,
		b.provKey, b.ctl, b.patch, b.provKey, kit, b.api, b.token)
}

// agentLog keeps the agent's log in the kit's file and tells the kit's
// terminal the lines a person at the device would notice: what it says,
// and how a configuration fares. It is written by one goroutine (exec's
// copier of stdout and stderr, the same writer).
type agentLog struct {
	file io.Writer
	say  func(string, ...any)
	api  chan<- apiNote
	buf  []byte
}

func (l *agentLog) Write(p []byte) (int, error) {
	l.file.Write(p)
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		line := string(l.buf[:i])
		l.buf = l.buf[i+1:]
		l.note(logFields(line))
	}
	if len(l.buf) > 64<<10 {
		l.buf = nil // no line of the agent's is this long
	}
	return len(p), nil
}

func (l *agentLog) note(f map[string]string) {
	ts := now().Format("15:04:05")
	why := func() string {
		s := f["reason"]
		if e := f["err"]; e != "" {
			s += ": " + e
		}
		return s
	}
	switch f["msg"] {
	case "prompt":
		l.say("  %s the device says 「%s」\n", ts, f["text"])
	case "config QR accepted: trying the new config", "config.set accepted: trying the new config":
		l.say("  %s %s\n", ts, f["msg"])
	case "config applied":
		l.say("  %s config applied (%s, version %s): the device says 「配置成功」\n", ts, f["source"], f["version"])
	case "config refused", "config not applied":
		l.say("  %s config refused (%s): %s\n", ts, f["source"], why())
	case "config fell back to the previous one":
		l.say("  %s config fell back to the previous one (%s): %s\n", ts, f["source"], why())
	case "local API listening":
		l.sendAPI(apiNote{addr: f["addr"]})
	case "local API stopped":
		l.say("  %s local API stopped: %s\n", ts, f["err"])
		l.sendAPI(apiNote{err: f["err"]})
	}
}

func (l *agentLog) sendAPI(n apiNote) {
	select {
	case l.api <- n:
	default:
	}
}

// logFields reads a log/slog text line (key=value, values quoted when they
// need it) into its fields.
func logFields(line string) map[string]string {
	m := map[string]string{}
	for {
		line = strings.TrimLeft(line, " ")
		eq := strings.IndexByte(line, '=')
		if eq <= 0 || strings.ContainsRune(line[:eq], ' ') {
			return m
		}
		key := line[:eq]
		line = line[eq+1:]
		if strings.HasPrefix(line, `"`) {
			q, err := strconv.QuotedPrefix(line)
			if err != nil {
				return m
			}
			m[key], _ = strconv.Unquote(q)
			line = line[len(q):]
			continue
		}
		sp := strings.IndexByte(line, ' ')
		if sp < 0 {
			sp = len(line)
		}
		m[key] = line[:sp]
		line = line[sp:]
	}
}

func findAgent(flagPath string) (string, error) {
	if flagPath != "" {
		return flagPath, nil
	}
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "posagent")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("posagent"); err == nil {
		return p, nil
	}
	return "", errors.New("no posagent binary beside posctl or in $PATH: run make build (or give -agent)")
}

// demoConfig writes the agent's config for this run, keeping the device id
// and auth key of an earlier run so its journal stays valid.
func demoConfig(path, dir, url, printerPort, scannerPort string, paper int, api, provisioningPub string) (config.Config, error) {
	c := config.Default()
	if old, err := config.Load(path); err == nil {
		c = old
	} else {
		c.DeviceID, c.Serial = "dev-0001", "SN0001"
		key := make([]byte, 32)
		rand.Read(key)
		c.AuthKey = base64.StdEncoding.EncodeToString(key)
		c.Store.Name, c.Store.Merchant = "示例小店", "示例商户"
	}
	c.Board = "sim"
	c.DataDir = filepath.Join(dir, "data")
	c.MQTT.URL = url
	c.Scanner = config.Serial{Port: scannerPort, Baud: 9600}
	c.Printer = config.Printer{Port: printerPort, Baud: 115200, PaperMM: paper, Status: "none"}
	c.Audio.Out = "wav:" + filepath.Join(dir, "wav")
	c.API.Listen = api
	c.ProvisioningPubkey = provisioningPub
	if err := c.Validate(); err != nil {
		return c, err
	}
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return c, err
	}
	return c, os.WriteFile(path, append(data, '\n'), 0o600)
}

// showReceipts plays the printer: it reads what the agent prints, splits it
// into jobs, and shows each as text, keeping the bytes, the text and a PNG
// of the paper on disk.
func showReceipts(ctx context.Context, master io.Reader, dir string, paper int, say func(string, ...any)) {
	data := make(chan []byte)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			if n > 0 {
				data <- append([]byte(nil), buf[:n]...)
			}
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
	}()
	cols := printer.ForPaper(paper).Columns
	var pending []byte
	n := 0
	idle := time.NewTimer(time.Hour)
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-data:
			pending = append(pending, b...)
			idle.Reset(300 * time.Millisecond)
		case <-idle.C:
			for _, job := range printer.SplitJobs(pending) {
				n++
				doc, err := printer.Decode(job)
				doc.Columns = cols
				text := doc.Text()
				if err != nil {
					text += "\n(undecodable from here on: " + err.Error() + ")"
				}
				base := filepath.Join(dir, fmt.Sprintf("%03d", n))
				os.WriteFile(base+".bin", job, 0o644)
				os.WriteFile(base+".txt", []byte(text), 0o644)
				renderPNG(job, paper, base+".png") // the receipt as it looks on paper (render.go)
				rule := strings.Repeat("─", cols)
				say("┌%s┐ receipt %03d\n%s\n└%s┘\n", rule, n, indent(text), rule)
			}
			pending = nil
		}
	}
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = " " + l
	}
	return strings.Join(lines, "\n")
}

// demoEvent is how the dev kit shows an event.
func demoEvent(e platform.Event) string {
	if e.Err == nil && e.Message.Type == wire.TypeNotifyDone {
		var d struct {
			OrderID   string `json:"order_id"`
			Said      string `json:"said"`
			Printed   bool   `json:"printed"`
			Duplicate bool   `json:"duplicate"`
		}
		json.Unmarshal(e.Message.Body, &d)
		if d.Duplicate {
			return fmt.Sprintf("◆ order %s was already announced: not said again", d.OrderID)
		}
		return fmt.Sprintf("◆ order %s — said 「%s」, printed: %v", d.OrderID, d.Said, d.Printed)
	}
	return "  " + formatEvent(e)
}
