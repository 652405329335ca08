package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/posagent/posagent/internal/testkit"
)

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer = testkit.Log

func waitOutput(t *testing.T, b *lockedBuffer, want string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(b.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q within %v in:\n%s", want, d, b.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The binaries the kit tests run, built once per test run.
var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// kitBinaries builds posagent and posctl side by side (the kit finds the
// agent beside itself) and returns posctl's path.
func kitBinaries(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "posctl-bin-"); binErr != nil {
			return
		}
		for _, b := range [][2]string{{"../posagent", "posagent"}, {".", "posctl"}} {
			out, err := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", filepath.Join(binDir, b[1]), b[0]).CombinedOutput()
			if err != nil {
				binErr = fmt.Errorf("go build %s: %v\n%s", b[0], err, out)
				return
			}
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return filepath.Join(binDir, "posctl")
}

// kit is a running posctl demo.
type kit struct {
	cmd      *exec.Cmd
	out      *lockedBuffer
	keyboard io.WriteCloser
}

// startKit starts posctl demo in dir with args, and stops it (Ctrl-C) when
// the test ends: a kit that does not stop within seconds fails the test
// with its goroutines dumped into its output.
func startKit(t *testing.T, ctl, dir string, args ...string) *kit {
	t.Helper()
	k := &kit{cmd: exec.Command(ctl, append([]string{"demo"}, args...)...), out: &lockedBuffer{}}
	k.cmd.Dir = dir
	k.cmd.Stdout, k.cmd.Stderr = k.out, k.out
	var err error
	if k.keyboard, err = k.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := k.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { k.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		k.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			k.cmd.Process.Signal(syscall.SIGQUIT)
			<-exited
			t.Errorf("posctl demo did not stop on Ctrl-C:\n%s", k.out.String())
		}
		if t.Failed() {
			t.Logf("kit in %s:\n%s", dir, k.out.String())
		}
	})
	return k
}

// bannerURLs are the API and console addresses a kit's banner prints.
func bannerURLs(t *testing.T, k *kit) (api, console string) {
	t.Helper()
	waitOutput(t, k.out, "Ctrl-C stops everything", 30*time.Second)
	a := regexp.MustCompile(`local API  (http://127\.0\.0\.1:\d+) `).FindStringSubmatch(k.out.String())
	c := regexp.MustCompile(`web console \(the link sets its cookie\): (http://127\.0\.0\.1:\d+/\?token=[0-9a-f]+)\n`).FindStringSubmatch(k.out.String())
	if a == nil || c == nil || !strings.HasPrefix(c[1], a[1]+"/") {
		t.Fatalf("no API and console URL in the banner:\n%s", k.out.String())
	}
	return a[1], c[1]
}

// posctlRun runs posctl in dir and returns its output and exit status.
func posctlRun(t *testing.T, ctl, dir string, args ...string) (string, int) {
	t.Helper()
	c := exec.Command(ctl, args...)
	c.Dir = dir
	out, err := c.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatalf("posctl %q: %v", args, err)
	}
	return string(out), 0
}

// The dev kit as a newcomer uses it: posctl demo in one terminal, posctl
// send in another; the payment is announced (a WAV), printed (the receipt
// shown as text) and answered.
func TestDevKit(t *testing.T) {
	ctl := kitBinaries(t)
	work := t.TempDir()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	api := ln.Addr().String()
	ln.Close()
	k := startKit(t, ctl, work, "-dir", filepath.Join(work, "kit"), "-listen", "127.0.0.1:0", "-api", api)
	out, keyboard := k.out, k.keyboard
	waitOutput(t, out, "device.hello", 20*time.Second)

	cfgPath := filepath.Join(work, "kit", "posagent.json")
	send := exec.Command(ctl, "send", "notify.payment", "-config", cfgPath,
		"-amount", "12850", "-wallet", "wechat", "-order-id", "devkit-1")
	send.Dir = work
	answer, err := send.CombinedOutput()
	if err != nil {
		t.Fatalf("posctl send: %v\n%s", err, answer)
	}
	if !strings.Contains(string(answer), `"said":"微信收款一百二十八点五元"`) || !strings.Contains(string(answer), `"printed":true`) {
		t.Fatalf("answer:\n%s", answer)
	}
	waitOutput(t, out, "￥128.50", 10*time.Second)
	waitOutput(t, out, "said 「微信收款一百二十八点五元」", 10*time.Second)
	if fi, err := os.Stat(filepath.Join(work, "kit", "wav", "devkit-1.wav")); err != nil || fi.Size() < 32000 {
		t.Fatalf("announcement WAV: %v", err)
	}
	// A payment as the instructions say: start it on the local API, type
	// the customer's code into the kit's terminal (the scanner).
	// With the token the kit says where to find.
	waitOutput(t, out, "Ctrl-C stops everything", 20*time.Second)
	tok, err := os.ReadFile(filepath.Join(work, "kit", "data", "api.token"))
	if err != nil || !strings.Contains(out.String(), "http://"+api+"/?token="+strings.TrimSpace(string(tok))) {
		t.Fatalf("token %q (%v), not in the kit's console link:\n%s", tok, err, out.String())
	}
	call := func(method, path, body string) *http.Response {
		req, _ := http.NewRequest(method, "http://"+api+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	pay := func(amount int64, scan func()) {
		t.Helper()
		resp := call("POST", "/v1/payments", fmt.Sprintf(`{"amount":%d}`, amount))
		var p struct {
			OutTradeNo string `json:"out_trade_no"`
			State      string `json:"state"`
		}
		json.NewDecoder(resp.Body).Decode(&p)
		resp.Body.Close()
		if p.State != "AWAITING_CODE" {
			t.Fatalf("payment started as %+v", p)
		}
		scan()
		deadline := time.Now().Add(15 * time.Second)
		for p.State != "PAID" {
			if time.Now().After(deadline) {
				t.Fatalf("payment %s stayed %s:\n%s", p.OutTradeNo, p.State, out.String())
			}
			time.Sleep(50 * time.Millisecond)
			r := call("GET", "/v1/payments/"+p.OutTradeNo, "")
			json.NewDecoder(r.Body).Decode(&p)
			r.Body.Close()
		}
	}
	pay(3300, func() { fmt.Fprintln(keyboard, "134567890123456789") })
	waitOutput(t, out, "￥33.00", 10*time.Second)
	// The code typed from a second terminal: posctl scan.
	pay(4400, func() {
		if o, code := posctlRun(t, ctl, work, "scan", "-kit", filepath.Join(work, "kit"), "134567890123456788"); code != 0 {
			t.Fatalf("posctl scan: exit %d\n%s", code, o)
		}
	})
	waitOutput(t, out, "￥44.00", 10*time.Second)

	// The instructions name the command to type.
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	found := false
	for sc.Scan() {
		if strings.Contains(sc.Text(), "send notify.payment -amount 12850 -wallet wechat") {
			found = true
		}
	}
	if !found {
		t.Errorf("the dev kit does not say what to type:\n%s", out.String())
	}

	// posctl send's exit status with the real agent: 0 when it did it
	// (device.speak: when it did not refuse it), 1 when it refused.
	for _, tc := range []struct {
		args []string
		exit int
		out  string
	}{
		{[]string{"device.speak", "text=支付成功"}, 0, "no answer, as expected"},
		{[]string{"device.speak", "-timeout", "0s", "text=六"}, 0, "sent device.speak"},
		{[]string{"device.speak", "text=ABC"}, 1, `"code":"bad_request"`},
		{[]string{"device.volume", "level=11"}, 1, "level must be 0-10"},
		{[]string{"device.volume", "level=4"}, 0, `"volume":4`},
		{[]string{"device.reboot"}, 1, `"code":"unsupported"`},
		{[]string{"frob.nicate"}, 1, `"code":"unknown_type"`},
		{[]string{"print.job", "-doc", "<C>你好 & 再见</C>"}, 0, `"doc":"<C>你好 & 再见</C>"`},
		{[]string{"notify.payment", "-amount", "0"}, 1, "amount must be"},
		{[]string{"device.volume", "level=3", "-url", "tcp://127.0.0.1:1"}, 1, ""},
	} {
		o, code := posctlRun(t, ctl, work, append([]string{"send", "-config", cfgPath}, tc.args...)...)
		if code != tc.exit || !strings.Contains(o, tc.out) || strings.Contains(o, `\u00`) {
			t.Errorf("posctl send %q: exit %d, want %d with %q:\n%s", tc.args, code, tc.exit, tc.out, o)
		}
	}
	// A refused command's error also shows in the kit's terminal; and a
	// config QR made and scanned as the kit says is applied.
	waitOutput(t, out, "unknown command type frob.nicate", 5*time.Second)
	kitDir := filepath.Join(work, "kit")
	if o, code := posctlRun(t, ctl, work, "qr", "-config", filepath.Join(kitDir, "qr-patch.json"), "-key", filepath.Join(kitDir, "provisioning.key"), "-kit", kitDir, "-scan"); code != 0 {
		t.Fatalf("posctl qr -scan: exit %d\n%s", code, o)
	}
	waitOutput(t, out, "config applied (qr", 30*time.Second)
	waitOutput(t, out, "device.hello", 10*time.Second)
	if !strings.Contains(out.String(), "-config "+kitDir+"/qr-patch.json -key "+kitDir+"/provisioning.key -kit "+kitDir+" -scan") {
		t.Errorf("the kit does not print the QR try-out command:\n%s", out.String())
	}
	// A key that is not the kit's: refused, and the kit says so.
	posctlRun(t, ctl, work, "keygen", "-o", filepath.Join(work, "other"))
	if o, code := posctlRun(t, ctl, work, "qr", "-config", filepath.Join(kitDir, "qr-patch.json"), "-key", filepath.Join(work, "other.key"), "-kit", kitDir, "-scan"); code != 0 {
		t.Fatalf("posctl qr -scan: exit %d\n%s", code, o)
	}
	waitOutput(t, out, "config refused (qr)", 10*time.Second)
}

// Two kits at once on one machine (two folders), both with the default
// addresses: each takes free ports, and each banner's URLs answer (the
// console link with its token, the API with the token file's). A port the
// flags name that is taken, and a second kit in the same folder, are
// refused, saying why.
func TestDevKitFreePorts(t *testing.T) {
	ctl := kitBinaries(t)
	w1, w2 := t.TempDir(), t.TempDir()
	k1 := startKit(t, ctl, w1)
	k2 := startKit(t, ctl, w2)
	api1, console1 := bannerURLs(t, k1)
	api2, console2 := bannerURLs(t, k2)
	if api1 == api2 {
		t.Fatalf("both kits print %s", api1)
	}
	b1 := regexp.MustCompile(`broker     (tcp://\S+)`).FindStringSubmatch(k1.out.String())
	b2 := regexp.MustCompile(`broker     (tcp://\S+)`).FindStringSubmatch(k2.out.String())
	if b1 == nil || b2 == nil || b1[1] == b2[1] {
		t.Fatalf("brokers %q %q", b1, b2)
	}
	for _, c := range []struct{ dir, api, console string }{{w1, api1, console1}, {w2, api2, console2}} {
		tok, err := os.ReadFile(filepath.Join(c.dir, ".devkit", "data", "api.token"))
		if err != nil || !strings.HasSuffix(c.console, "token="+strings.TrimSpace(string(tok))) {
			t.Fatalf("%s: token %q (%v), console %s", c.dir, tok, err, c.console)
		}
		jar, _ := cookiejar.New(nil)
		resp, err := (&http.Client{Jar: jar}).Get(c.console)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(page), "<html") {
			t.Errorf("%s: console link %s: %d %.200s", c.dir, c.console, resp.StatusCode, page)
		}
		req, _ := http.NewRequest("GET", c.api+"/v1/state", nil)
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %s/v1/state: %d", c.dir, c.api, resp.StatusCode)
		}
		// posctl from the kit's folder finds its own kit.
		if o, code := posctlRun(t, ctl, c.dir, "send", "device.volume", "level=2"); code != 0 {
			t.Errorf("%s: posctl send: exit %d\n%s", c.dir, code, o)
		}
	}
	// Refusals, at once and clearly.
	w3 := t.TempDir()
	for _, tc := range []struct {
		dir  string
		args []string
		want string
	}{
		{w3, []string{"demo", "-api", strings.TrimPrefix(api1, "http://")}, "local API address " + strings.TrimPrefix(api1, "http://")},
		{w3, []string{"demo", "-listen", strings.TrimPrefix(b1[1], "tcp://")}, "broker address " + strings.TrimPrefix(b1[1], "tcp://")},
		{w1, []string{"demo"}, "a dev kit is running in " + filepath.Join(w1, ".devkit") + " already"},
	} {
		start := time.Now()
		o, code := posctlRun(t, ctl, tc.dir, tc.args...)
		if code != 1 || !strings.Contains(o, tc.want) || time.Since(start) > 10*time.Second {
			t.Errorf("%q in %s: exit %d after %v, want 1 saying %q:\n%s", tc.args, tc.dir, code, time.Since(start), tc.want, o)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"send"},
		{"send", "notify.payment", "-config", filepath.Join(dir, "none.json")},
		{"send", "device.volume", "-url", "tcp://127.0.0.1:1", "-dev", "d", "-auth-key", "c2hvcnQ=", "level=3"},
		{"send", "device.volume", "-url", "tcp://127.0.0.1:1", "-dev", "d", "-auth-key", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "novalue"},
	} {
		var o, e bytes.Buffer
		if code := run(args, &o, &e); code != 2 {
			t.Errorf("%v: exit %d (%s), want 2", args, code, e.String())
		}
	}
}
