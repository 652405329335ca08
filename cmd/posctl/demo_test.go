package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func build(t *testing.T, dir, pkg, name string) string {
	t.Helper()
	bin := filepath.Join(dir, name)
	out, err := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

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

// The dev kit as a newcomer uses it: posctl demo in one terminal, posctl
// send in another; the payment is announced (a WAV), printed (the receipt
// shown as text) and answered.
func TestDevKit(t *testing.T) {
	bindir := t.TempDir()
	build(t, bindir, "../posagent", "posagent")
	ctl := build(t, bindir, ".", "posctl")
	work := t.TempDir()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	api := ln.Addr().String()
	ln.Close()
	demo := exec.Command(ctl, "demo", "-dir", filepath.Join(work, "kit"), "-listen", "127.0.0.1:0", "-api", api)
	demo.Dir = work
	var out lockedBuffer
	demo.Stdout, demo.Stderr = &out, &out
	keyboard, err := demo.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := demo.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		// Ctrl-C stops the kit within seconds; one that does not is
		// made to dump its goroutines into the test's output.
		demo.Process.Signal(syscall.SIGINT)
		exited := make(chan struct{})
		go func() { demo.Wait(); close(exited) }()
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			demo.Process.Signal(syscall.SIGQUIT)
			<-exited
			t.Errorf("posctl demo did not stop on Ctrl-C:\n%s", out.String())
		}
	}()
	waitOutput(t, &out, "device.hello", 20*time.Second)

	send := exec.Command(ctl, "send", "notify.payment", "-config", filepath.Join(work, "kit", "posagent.json"),
		"-amount", "12850", "-wallet", "wechat", "-order-id", "devkit-1")
	send.Dir = work
	answer, err := send.CombinedOutput()
	if err != nil {
		t.Fatalf("posctl send: %v\n%s", err, answer)
	}
	if !strings.Contains(string(answer), `"said":"微信收款一百二十八点五元"`) || !strings.Contains(string(answer), `"printed":true`) {
		t.Fatalf("answer:\n%s", answer)
	}
	waitOutput(t, &out, "￥128.50", 10*time.Second)
	waitOutput(t, &out, "said 「微信收款一百二十八点五元」", 10*time.Second)
	if fi, err := os.Stat(filepath.Join(work, "kit", "wav", "devkit-1.wav")); err != nil || fi.Size() < 32000 {
		t.Fatalf("announcement WAV: %v", err)
	}
	// A payment as the instructions say: start it on the local API, type
	// the customer's code into the kit's terminal (the scanner).
	// With the token the kit says where to find.
	waitOutput(t, &out, "Ctrl-C stops everything", 20*time.Second)
	tok, err := os.ReadFile(filepath.Join(work, "kit", "data", "api.token"))
	if err != nil || !strings.Contains(out.String(), "/?token="+strings.TrimSpace(string(tok))) {
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
	resp := call("POST", "/v1/payments", `{"amount":3300}`)
	var pay struct {
		OutTradeNo string `json:"out_trade_no"`
		State      string `json:"state"`
	}
	json.NewDecoder(resp.Body).Decode(&pay)
	resp.Body.Close()
	if pay.State != "AWAITING_CODE" {
		t.Fatalf("payment started as %+v", pay)
	}
	fmt.Fprintln(keyboard, "134567890123456789")
	deadline := time.Now().Add(15 * time.Second)
	for pay.State != "PAID" {
		if time.Now().After(deadline) {
			t.Fatalf("payment %s stayed %s:\n%s", pay.OutTradeNo, pay.State, out.String())
		}
		time.Sleep(50 * time.Millisecond)
		r := call("GET", "/v1/payments/"+pay.OutTradeNo, "")
		json.NewDecoder(r.Body).Decode(&pay)
		r.Body.Close()
	}
	waitOutput(t, &out, "￥33.00", 10*time.Second)

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
