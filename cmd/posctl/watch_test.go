package main

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/platform"
)

// posctl watch (and the dev kit, and sim) print one line per event: a ref
// shorter than the 8 characters shown is shown whole, not a panic; the time
// is China time whatever the machine's zone.
func TestFormatEventShortRef(t *testing.T) {
	clock = func() time.Time { return time.Date(2025, 1, 1, 0, 30, 5, 0, time.UTC) }
	defer func() { clock = time.Now }()
	for _, tc := range []struct{ ref, want string }{
		{"", "08:30:05 d notify.done [HS256] {"},
		{"A1", "08:30:05 d notify.done [HS256] ref=A1 {"},
		{"abcdefgh", " ref=abcdefgh {"},
		{"0b7e3c1a-9f2d-4e5b-8c6d-1a2b3c4d5e6f", " ref=0b7e3c1a {"},
	} {
		e := event("notify.done", tc.ref, `{"said":"微信收款一元"}`)
		e.Message.Alg = "HS256"
		line := formatEvent(e)
		if !strings.Contains(line, tc.want) || !strings.HasPrefix(line, "08:30:05 ") {
			t.Errorf("ref %q: %q, want %q", tc.ref, line, tc.want)
		}
		if dl := demoEvent(e); !strings.Contains(dl, "said 「微信收款一元」") {
			t.Errorf("ref %q: the kit's line %q", tc.ref, dl)
		}
	}
	a := platform.Answer{Dev: "d", Type: "pay.status", Body: map[string]any{"doc": "<B>"}}
	a.Request.ID = "r1"
	if line := formatAnswer(a); !strings.HasPrefix(line, "08:30:05 d ← pay.status ref=r1 {\"doc\":\"<B>\"}") {
		t.Errorf("sim line %q", line)
	}
}

// The kit shows what the agent's log says a person at the device notices:
// its prompts and how a config fares, read from log/slog's text lines
// (values quoted when they need it, Chinese as it is).
func TestAgentLogNotes(t *testing.T) {
	clock = func() time.Time { return time.Date(2025, 1, 1, 0, 30, 5, 0, time.UTC) }
	defer func() { clock = time.Now }()
	var shown []string
	api := make(chan apiNote, 4)
	l := &agentLog{file: io.Discard, api: api, say: func(f string, a ...any) { shown = append(shown, fmt.Sprintf(f, a...)) }}
	for _, chunk := range []string{
		`time=2025-01-01T00:30:05.000Z level=INFO msg=prompt name=config-refused-no_key text=配置失败，未配置密钥` + "\n",
		`time=2025-01-01T00:30:05.000Z level=WARN msg="config refused" source=qr reason=bad_sig err="ota: signature \"x\" does not verify"` + "\n" + `time=x level=INFO msg="local API list`,
		`ening" addr=127.0.0.1:4242` + "\nnot a log line\n",
	} {
		l.Write([]byte(chunk))
	}
	want := []string{
		"  08:30:05 the device says 「配置失败，未配置密钥」\n",
		"  08:30:05 config refused (qr): bad_sig: ota: signature \"x\" does not verify\n",
	}
	if strings.Join(shown, "") != strings.Join(want, "") {
		t.Errorf("shown %q, want %q", shown, want)
	}
	if n := <-api; n.addr != "127.0.0.1:4242" {
		t.Errorf("API note %+v", n)
	}
}
