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
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
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
	dir := fs.String("dir", ".devkit", "folder for the kit's config, data, WAVs, receipts and logs")
	listen := fs.String("listen", "127.0.0.1:1883", "broker address (a free port is taken if this one is busy)")
	agentBin := fs.String("agent", "", "posagent binary (default: the one beside posctl, then $PATH)")
	paper := fs.Int("paper", 58, "receipt paper width in mm: 58 or 80")
	apiAddr := fs.String("api", "127.0.0.1:8765", "the agent's local API (loopback)")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
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
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	broker, err := platform.StartBroker(*listen, nil)
	if err != nil {
		if broker, err = platform.StartBroker("127.0.0.1:0", nil); err != nil {
			return fmt.Errorf("start broker: %w", err)
		}
	}
	defer broker.Close()

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

	cfgPath := filepath.Join(abs, "posagent.json")
	cfg, err := demoConfig(cfgPath, abs, broker.URL(), prn.SlavePath, scn.SlavePath, *paper, *apiAddr)
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

	// The agent, as its own process.
	logPath := filepath.Join(abs, "posagent.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	agent := exec.Command(bin, "-config", cfgPath)
	agent.Stdout, agent.Stderr = logf, logf
	if err := agent.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- agent.Wait() }()

	go showReceipts(ctx, prn.Master, filepath.Join(abs, "receipts"), *paper, say)
	go typeScans(stdin, scn.Master)

	// The local API's token, as the cashier app reads it: the agent makes
	// it at its first start.
	tokenPath := filepath.Join(cfg.DataDir, "api.token")
	token := ""
	for deadline := time.Now().Add(10 * time.Second); token == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if b, err := os.ReadFile(tokenPath); err == nil {
			token = strings.TrimSpace(string(b))
		}
	}
	self, _ := os.Executable()
	ctl := "posctl"
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, self); err == nil && !strings.HasPrefix(rel, "..") {
			ctl = rel
		}
	}
	say(`
posagent dev kit is running
  broker     %s (embedded)
  agent      %s, device %s, log %s
  printer    %s (receipts appear below and in %s/receipts)
  scanner    %s (type a code in this terminal and press Enter: it is scanned)
  speaker    WAV files in %s/wav

In a second terminal, from this folder, try:
  %s send notify.payment -amount 12850 -wallet wechat
The agent says "微信收款一百二十八点五元" (a WAV appears in %s/wav), prints
the receipt (shown here), and answers notify.done. Also:
  %s send notify.payment -amount 100 -wallet alipay -order-id A1   (send it twice: announced once)
  %s send device.volume level=3
  %s watch        (every event and state change, verified)

Take a payment as a cashier would (the simulator plays WeChat Pay; the fen
part of the amount picks the outcome: .04 余额不足, .02 the customer never
confirms and it is reversed, … see docs/protocol-extensions.md); every call
carries the token the agent made in %s:
  T="Authorization: Bearer $(cat %s)"
  curl -s -H "$T" --json '{"amount":12850}' %s/v1/payments
  then type 134567890123456789 here and Enter   (the customer's WeChat code)
  curl -s -H "$T" %s/v1/payments/OUT_TRADE_NO
or from the platform: %s send pay.collect out_trade_no=D1 amount=12804
The cashier's web console (the link sets its cookie): %s/?token=%s
Ctrl-C stops everything.

`, broker.URL(), bin, cfg.DeviceID, logPath, prn.SlavePath, *dir, scn.SlavePath, *dir, ctl, *dir, ctl, ctl, ctl,
		tokenPath, tokenPath, "http://"+cfg.API.Listen, "http://"+cfg.API.Listen, ctl, "http://"+cfg.API.Listen, token)

	select {
	case <-ctx.Done():
		agent.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			agent.Process.Kill()
		}
		say("stopped\n")
		return nil
	case err := <-exited:
		return fmt.Errorf("posagent exited (%v); see %s", err, logPath)
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
func demoConfig(path, dir, url, printerPort, scannerPort string, paper int, api string) (config.Config, error) {
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
	if e.Err == nil && e.Message.Type == "notify.done" {
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

// typeScans plays the scanner: each line typed into the dev kit's terminal
// is sent to the agent's scanner port as a scanner sends it (CR-ended).
// Writing to the port's path from another shell would not do: that goes
// the other way, from the agent's side of the pseudo-terminal.
func typeScans(in io.Reader, scanner io.Writer) {
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			scanner.Write([]byte(line + "\r"))
		}
	}
}
