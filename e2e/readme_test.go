package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/device"
)

// The README's local-API block, run as written against the real binary
// (the address, the token's path and the example order numbers put in for
// the ones of this run): every line exits 0 and answers JSON that is no
// refusal (401, 403, 415 — an example that forgot the token, the PIN or the
// content type fails here), and the money lines do what they say.
func TestReadmeLocalAPI(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatalf("no curl (make deps installs it): %v", err)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	sec := string(readme)
	i := strings.Index(sec, "## Payments, deposits and shifts: the local API")
	if i < 0 {
		t.Fatal("README has no local API section")
	}
	sec = sec[i:]
	start := strings.Index(sec, "```sh\n")
	end := strings.Index(sec[start+6:], "```")
	var lines []string
	for _, l := range strings.Split(sec[start+6:start+6+end], "\n") {
		if i := strings.Index(l, "  #"); i >= 0 {
			l = l[:i] // a comment after the command
		}
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	if len(lines) < 15 || !strings.HasPrefix(lines[0], "A=") || !strings.HasPrefix(lines[1], "T=") {
		t.Fatalf("the block is not what this test reads: %q", lines)
	}

	e := newEnv(t)
	e.cfg.API.Listen = freeLoopback(t)
	e.cfg.Pay.PollIntervalMS, e.cfg.Pay.PollTimeoutMS, e.cfg.Pay.ReverseAfterMS = 25, 2000, 500
	e.writeConfig()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.startSim(ctx)
	p := startAgent(t, e.bin, e.cfgPath)
	defer func() { p.kill() }()
	e.waitHello(10 * time.Second)
	if _, err := e.plat.Send(e.cfg.DeviceID, "staff.roster", map[string]any{"version": 1,
		"staff": []map[string]any{{"staff_id": "s01", "staff_name": "王芳", "refund": true, "pin_hash": staffPINHash()}}}); err != nil {
		t.Fatal(err)
	}
	api := e.api()
	tokenPath := filepath.Join(e.cfg.DataDir, device.TokenFileName)
	prelude := strings.Replace(lines[0], "http://127.0.0.1:8765", "http://"+api.addr, 1) + "\n" +
		strings.Replace(lines[1], "/var/lib/posagent/api.token", tokenPath, 1) + "\n"
	if !strings.Contains(prelude, api.addr) || !strings.Contains(prelude, tokenPath) {
		t.Fatalf("the README's address or token path changed: %q", prelude)
	}

	var payNo, depNo, refundNo string
	number := regexp.MustCompile(`P20261123[0-9…]*|R20261123[0-9…]*`)
	run := func(line string) string {
		t.Helper()
		line = number.ReplaceAllStringFunc(line, func(n string) string {
			switch {
			case strings.HasPrefix(n, "R"):
				return refundNo
			case strings.Contains(line, "/deposits/"):
				return depNo
			}
			return payNo
		})
		if strings.HasPrefix(line, "curl -N") {
			line = strings.Replace(line, "curl -N", "curl -N --max-time 1", 1)
		}
		out, err := exec.Command("bash", "-c", prelude+line).Output()
		if ee, ok := err.(*exec.ExitError); ok && !(strings.Contains(line, "--max-time") && ee.ExitCode() == 28) {
			t.Fatalf("%s: exit %d\n%s", line, ee.ExitCode(), out)
		}
		for _, refused := range []string{`"unauthorized"`, `"bad_content_type"`, `"bad_origin"`, `"bad_host"`, `"staff_auth"`, `"no_roster"`, `"bad_request"`} {
			if strings.Contains(string(out), refused) {
				t.Fatalf("%s: refused: %s", line, out)
			}
		}
		return string(out)
	}
	waitState := func(no, want string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			var v device.View
			apiCall(t, api, "GET", "/v1/payments/"+no, nil, &v)
			if v.State == want || (want == device.DepositFrozen && v.DepositState == want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s is %s, not %s", no, v.State, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for _, line := range lines[2:] {
		out := run(line)
		switch {
		case strings.Contains(line, `"deposit":true`):
			var v device.View
			json.Unmarshal([]byte(out), &v)
			depNo = v.OutTradeNo
			e.scan("134567890123456702")
			waitState(depNo, device.Paid)
		case strings.Contains(line, "--json") && strings.HasSuffix(line, "$A/v1/payments") && payNo == "":
			var v device.View
			if json.Unmarshal([]byte(out), &v); v.OutTradeNo == "" || v.State != device.AwaitingCode {
				t.Fatalf("%s: %s", line, out)
			}
			payNo = v.OutTradeNo
		case strings.HasSuffix(line, "/cancel"):
			// The example cancels the sale it just started: start one
			// that is paid for the refund that follows.
			waitState(payNo, device.Cancelled)
			var v device.View
			apiCall(t, api, "POST", "/v1/payments", map[string]any{"amount": 12850}, &v)
			payNo = v.OutTradeNo
			e.scan("134567890123456701")
			waitState(payNo, device.Paid)
		case strings.HasSuffix(line, "/refund"):
			var r device.Refund
			if json.Unmarshal([]byte(out), &r); r.OutRefundNo == "" || r.Amount != 850 {
				t.Fatalf("%s: %s", line, out)
			}
			refundNo = r.OutRefundNo
		case strings.HasSuffix(line, "/consume"):
			if !strings.Contains(out, `"op":"consume"`) {
				t.Fatalf("%s: %s", line, out)
			}
		}
	}
	if payNo == "" || depNo == "" || refundNo == "" {
		t.Fatalf("the block did not take a payment, a deposit and a refund: %q %q %q", payNo, depNo, refundNo)
	}
}
