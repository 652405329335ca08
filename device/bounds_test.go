package device

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/platform"
)

// A command whose jti is 40 KB (or has spaces) is refused with a clear
// error, logged by its length only, and not executed; the next one runs.
func TestOverlongJTIRefused(t *testing.T) {
	r := newRig(t)
	r.logs = &lockedBuffer{}
	r.start()
	for _, jti := range []string{strings.Repeat("J", 40<<10), "qr has spaces"} {
		now := time.Now()
		m := mqtt.Message{ID: jti, Type: "device.volume", Dev: devID, IssuedAt: now, ExpiresAt: now.Add(time.Minute), Body: []byte(`{"level":3}`)}
		tok, err := r.plat.Sign(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.plat.Publish(devID, tok); err != nil {
			t.Fatal(err)
		}
		e := r.waitFor("error", 15*time.Second)
		if b := body[errorBody](t, e); b.Code != CodeBadRequest || !strings.Contains(b.Message, "jti must be 1-64") {
			t.Fatalf("error %s", e.Body)
		}
	}
	if strings.Contains(r.logs.String(), strings.Repeat("J", 100)) || strings.Contains(r.logs.String(), "qr has spaces") {
		t.Fatal("the refused jti is in the log")
	}
	if r.agent.State().Volume == 3 {
		t.Fatal("a command with a refused jti was executed")
	}
	m := r.send("device.volume", map[string]any{"level": 4})
	if ans := r.answer(m.ID, 15*time.Second); ans.Type != "device.state" {
		t.Fatalf("next command answered %s", ans.Type)
	}
}

// The local API's event streams are bounded: past MaxEventStreams a new
// one is refused (503) at once, and closing one makes room again.
func TestEventStreamsBounded(t *testing.T) {
	r := newPayRig(t)
	r.start()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	open := func() (*http.Response, context.CancelFunc) {
		c, cc := context.WithCancel(ctx)
		req, _ := http.NewRequestWithContext(c, "GET", "http://"+r.agent.APIAddr()+"/v1/events", nil)
		req.Header.Set("Authorization", "Bearer "+r.agent.APIToken())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp, cc
	}
	var closers []context.CancelFunc
	for i := 0; i < MaxEventStreams; i++ {
		resp, cc := open()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("stream %d: %d", i, resp.StatusCode)
		}
		closers = append(closers, cc)
	}
	resp, cc := open()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("stream past the bound: %d", resp.StatusCode)
	}
	cc()
	closers[0]()
	waitTrue(t, 10*time.Second, func() bool {
		resp, cc := open()
		defer cc()
		return resp.StatusCode == http.StatusOK
	})
}

// A payment code behind a scanner's AIM prefix, or any scan that is no
// order of this device, is never sent out and never logged in clear.
func TestForeignScansStayOnTheDevice(t *testing.T) {
	r := newPayRig(t)
	sim := r.withSimOf(func(*platform.Sim) {})
	r.start()
	for _, line := range []string{"]Q1134567890123456789", "P20260101000000999999", "hello-world"} {
		r.scans <- line
	}
	waitTrue(t, 10*time.Second, func() bool { return strings.Count(r.logs.String(), "text=未找到订单") == 3 })
	if n := sim.Counts()["order.lookup"]; n != 0 {
		t.Fatalf("%d order.lookup sent", n)
	}
	for _, secret := range []string{"134567890123456789", "P20260101000000999999", "hello-world"} {
		if strings.Contains(r.logs.String(), secret) {
			t.Fatalf("%q is in the log", secret)
		}
	}
	if !strings.Contains(r.logs.String(), "class=aim") {
		t.Fatal("no class logged")
	}
}
