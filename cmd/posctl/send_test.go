package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/platform"
)

// posctl send's command line: TYPE, flags and key=value in any order; the
// body merged -json < flags < key=value; values of string fields kept as
// strings; the wait per type; and the mistakes refused (exit 2) or the help
// asked for (exit 0).
func TestParseSend(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		typ     string
		body    string // JSON; order_id, out_trade_no and job_id made up are checked by prefix
		timeout time.Duration
		dev     string
		exit    int
	}{
		{args: []string{"notify.payment", "-amount", "12850", "-wallet", "wechat", "-order-id", "A1"},
			typ: "notify.payment", body: `{"amount":12850,"copies":1,"order_id":"A1","print":true,"wallet":"wechat"}`, timeout: defaultTimeout},
		// Flags after key=value, and before TYPE.
		{args: []string{"notify.payment", "order_id=A1", "-amount", "100"},
			typ: "notify.payment", body: `{"amount":100,"copies":1,"order_id":"A1","print":true}`, timeout: defaultTimeout},
		{args: []string{"-amount", "100", "-dev", "d2", "notify.payment", "order_id=A1", "-wallet=alipay"},
			typ: "notify.payment", body: `{"amount":100,"copies":1,"order_id":"A1","print":true,"wallet":"alipay"}`, timeout: defaultTimeout, dev: "d2"},
		{args: []string{"device.volume", "level=3", "-timeout", "5s", "-dev", "d3"},
			typ: "device.volume", body: `{"level":3}`, timeout: 5 * time.Second, dev: "d3"},
		{args: []string{"-config", "x.json", "-timeout=1s", "device.volume", "-level", "4"},
			typ: "device.volume", body: `{"level":4}`, timeout: time.Second},
		// -json, then flags, then key=value.
		{args: []string{"-json", `{"level":1,"x":"y"}`, "device.volume", "level=4"},
			typ: "device.volume", body: `{"level":4,"x":"y"}`, timeout: defaultTimeout},
		{args: []string{"device.volume", "-json", `{"level":1}`, "-level", "2"},
			typ: "device.volume", body: `{"level":2}`, timeout: defaultTimeout},
		{args: []string{"device.volume", "level=5", "-level", "2"},
			typ: "device.volume", body: `{"level":5}`, timeout: defaultTimeout},
		// A string field stays a string; -print=false drops the copies.
		{args: []string{"notify.payment", "order_id=123", "-print=false", "amount=1"},
			typ: "notify.payment", body: `{"amount":1,"order_id":"123","print":false}`, timeout: defaultTimeout},
		// A type posctl does not know: JSON values where they parse.
		{args: []string{"frob.x", "n=5", "s=abc", `o={"a":[1]}`, "-timeout", "3s"},
			typ: "frob.x", body: `{"n":5,"o":{"a":[1]},"s":"abc"}`, timeout: 3 * time.Second},
		// After --, all arguments.
		{args: []string{"device.speak", "--", "text=-5"},
			typ: "device.speak", body: `{"text":"-5"}`, timeout: noAnswerWait},
		{args: []string{"device.speak", "-text", "支付成功", "-timeout", "0s"},
			typ: "device.speak", body: `{"text":"支付成功"}`, timeout: 0},
		{args: []string{"pay.collect", "amount=12804"},
			typ: "pay.collect", body: `{"amount":12804,"out_trade_no":"C-"}`, timeout: 3 * time.Minute},
		{args: []string{"print.job", "-doc", "<C>你好</C>"},
			typ: "print.job", body: `{"doc":"<C>你好</C>","job_id":"job-"}`, timeout: time.Minute},
		{args: []string{"ota.update", "-download-url", "https://h/a?x=1&y=2", "-version", "2.0.0", "-size", "10", "-allow-downgrade"},
			typ: "ota.update", body: `{"allow_downgrade":true,"size":10,"url":"https://h/a?x=1&y=2","version":"2.0.0"}`, timeout: 10 * time.Minute},
		{args: []string{"config.set", "-version", "2", "-patch", `{"store":{"name":"新店"}}`},
			typ: "config.set", body: `{"patch":{"store":{"name":"新店"}},"version":2}`, timeout: 2 * time.Minute},
		{args: []string{"pay.status", "-ref", "r1", "-out-trade-no", "P1", "-state", "SUCCESS", "-recall"},
			typ: "pay.status", body: `{"out_trade_no":"P1","recall":true,"state":"SUCCESS"}`, timeout: noAnswerWait},

		// Mistakes: exit 2.
		{args: []string{}, exit: 2},
		{args: []string{"-amount", "5"}, exit: 2},
		{args: []string{"device.volume", "novalue"}, exit: 2},
		{args: []string{"device.volume", "=3"}, exit: 2},
		{args: []string{"device.volume", "-level", "x"}, exit: 2},
		{args: []string{"device.volume", "level=x"}, exit: 2},
		{args: []string{"device.volume", "-nosuch", "1"}, exit: 2},
		{args: []string{"-json", "[1]", "device.volume"}, exit: 2},
		{args: []string{"-json", "{", "device.volume"}, exit: 2},
		{args: []string{"device.volume", "-timeout", "-1s"}, exit: 2},
		{args: []string{"config.set", "-patch", "{"}, exit: 2},
		// Help: exit 0.
		{args: []string{"-h"}, exit: 0},
		{args: []string{"--help"}, exit: 0},
		{args: []string{"help"}, exit: 0},
		{args: []string{"device.volume", "-h"}, exit: 0},
		{args: []string{"notify.payment", "-amount", "1", "level=3", "--help"}, exit: 0},
	} {
		var out, errs bytes.Buffer
		r, err := parseSend(tc.args, &out, &errs)
		if tc.body == "" {
			if code := exitStatus(err, io.Discard); code != tc.exit || (code == 0 && !errors.Is(err, flag.ErrHelp)) {
				t.Errorf("%q: exit %d (%v), want %d", tc.args, code, err, tc.exit)
			}
			if tc.exit == 0 && !strings.Contains(out.String(), "usage: posctl send") {
				t.Errorf("%q: no help on stdout: %q", tc.args, out.String())
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		for _, k := range []string{"order_id", "out_trade_no", "job_id"} {
			// A number made up: PREFIX-HHMMSS-xxxx.
			if v, ok := r.body[k].(string); ok && regexp.MustCompile(`^[a-zA-Z]+-\d{6}-[0-9a-f]{4}$`).MatchString(v) {
				r.body[k] = v[:strings.IndexByte(v, '-')+1]
			}
		}
		got := jsonText(r.body)
		var want any
		json.Unmarshal([]byte(tc.body), &want)
		if got != jsonText(want) || r.typ != tc.typ || r.timeout != tc.timeout {
			t.Errorf("%q: %s %s %v, want %s %s %v", tc.args, r.typ, got, r.timeout, tc.typ, jsonText(want), tc.timeout)
		}
		if tc.dev != "" && r.conn.dev != tc.dev {
			t.Errorf("%q: dev %q", tc.args, r.conn.dev)
		}
	}
}

// posctl send -h and posctl help send list every type with each of its
// flags and what answers it; posctl send TYPE -h that type's.
func TestSendHelp(t *testing.T) {
	var h1, h2, e bytes.Buffer
	if code := run([]string{"send", "-h"}, &h1, &e); code != 0 {
		t.Fatalf("send -h: exit %d: %s", code, e.String())
	}
	if code := run([]string{"help", "send"}, &h2, &e); code != 0 || h1.String() != h2.String() {
		t.Fatalf("help send: exit %d, same as send -h: %v", code, h1.String() == h2.String())
	}
	for _, s := range specs {
		if !strings.Contains(h1.String(), "  "+s.Type+" — ") {
			t.Errorf("send -h does not list %s", s.Type)
		}
		for _, f := range s.Fields {
			if !strings.Contains(h1.String(), "-"+f.flagName()+" ") {
				t.Errorf("send -h does not list %s's -%s", s.Type, f.flagName())
			}
		}
	}
	for _, flag := range []string{"-json", "-timeout", "-ref", "-config", "-url", "-dev", "-auth-key", "Exit status"} {
		if !strings.Contains(h1.String(), flag) {
			t.Errorf("send -h does not say %s", flag)
		}
	}
	var one bytes.Buffer
	if code := run([]string{"help", "send", "device.volume"}, &one, &e); code != 0 || !strings.Contains(one.String(), "-level INT") || strings.Contains(one.String(), "notify.payment") {
		t.Errorf("help send device.volume: exit %d\n%s", code, one.String())
	}
}

// Every command type the agent dispatches (device/dispatch.go) is one posctl
// send knows, and posctl knows none the agent does not.
func TestSpecsCoverDevice(t *testing.T) {
	src, err := os.ReadFile("../../device/dispatch.go")
	if err != nil {
		t.Fatal(err)
	}
	consts, err := os.ReadFile("../../wire/types.go")
	if err != nil {
		t.Fatal(err)
	}
	named := map[string]string{} // wire.TypeX → its type
	for _, m := range regexp.MustCompile(`(Type\w+)\s*=\s*"([^"]+)"`).FindAllStringSubmatch(string(consts), -1) {
		named[m[1]] = m[2]
	}
	types := map[string]bool{}
	for _, m := range regexp.MustCompile(`wire\.(Type\w+):\s+(a\.accept|true)`).FindAllStringSubmatch(string(src), -1) {
		types[named[m[1]]] = true
	}
	if len(types) < 15 {
		t.Fatalf("found %d types in dispatch.go: this test no longer reads it", len(types))
	}
	for typ := range types {
		if specOf(typ) == nil {
			t.Errorf("the agent dispatches %s; posctl send does not know it (commands.go)", typ)
		}
	}
	for _, s := range specs {
		if !types[s.Type] {
			t.Errorf("posctl send knows %s; the agent does not dispatch it", s.Type)
		}
	}
}

func event(typ, ref, body string) platform.Event {
	return platform.Event{Dev: "d", Message: mqtt.Message{ID: mqtt.NewID(), Type: typ, Ref: ref, Dev: "d", Body: json.RawMessage(body)}}
}

func state(online bool) platform.Event {
	if online {
		return platform.Event{Dev: "d", State: json.RawMessage(`{"online":true,"volume":6}`)}
	}
	return platform.Event{Dev: "d", State: json.RawMessage(`{"online":false}`)}
}

// The exit status of posctl send by what answers (and what does not): 0
// for a success and for silence to a command that is answered only when
// refused; 1 for an error event, a failure answered, no answer, a device
// that is not there.
func TestSendExitStatus(t *testing.T) {
	const jti = "jti-1"
	for _, tc := range []struct {
		name   string
		args   []string
		events []platform.Event
		exit   int
		out    string
	}{
		{"notify.done", []string{"notify.payment", "-amount", "1"}, []platform.Event{state(true), event("notify.done", jti, `{"said":"<收款>"}`)}, 0, `answer notify.done: {"said":"<收款>"}`},
		{"error answers", []string{"device.volume", "level=11"}, []platform.Event{state(true), event("error", jti, `{"ref":"jti-1","code":"bad_request"}`)}, 1, "answer error"},
		{"another command's answer", []string{"device.volume", "level=3"}, []platform.Event{state(true), event("device.state", "jti-2", `{}`)}, 1, ""},
		{"no answer at all", []string{"notify.payment", "-amount", "1"}, []platform.Event{state(true)}, 1, ""},
		{"speak: silence", []string{"device.speak", "text=支付成功"}, []platform.Event{state(true)}, 0, "no answer, as expected"},
		{"speak: refused", []string{"device.speak", "text=x"}, []platform.Event{state(true), event("error", jti, `{"code":"bad_request"}`)}, 1, "answer error"},
		{"speak: device offline", []string{"device.speak", "text=六"}, []platform.Event{state(false)}, 1, ""},
		{"speak: no device", []string{"device.speak", "text=六"}, nil, 1, ""},
		{"reboot: unsupported", []string{"device.reboot"}, []platform.Event{state(true), event("error", jti, `{"code":"unsupported"}`)}, 1, ""},
		{"pay.status: silence", []string{"pay.status", "-ref", "r", "out_trade_no=P1", "state=SUCCESS"}, []platform.Event{state(true)}, 0, ""},
		{"collect paid", []string{"pay.collect", "amount=100"}, []platform.Event{
			event("pay.progress", jti, `{"state":"AWAITING_CODE"}`), event("pay.progress", jti, `{"state":"SUBMITTED"}`),
			event("pay.result", jti, `{"state":"PAID"}`)}, 0, "progress pay.progress"},
		{"collect failed", []string{"pay.collect", "amount=12804"}, []platform.Event{
			event("pay.progress", jti, `{"state":"AWAITING_CODE"}`), event("pay.result", jti, `{"state":"FAILED","err_code":"NOTENOUGH"}`)}, 1, "answer pay.result"},
		{"collect busy", []string{"pay.collect", "amount=1"}, []platform.Event{event("error", jti, `{"code":"busy"}`)}, 1, ""},
		{"collect needs a person", []string{"pay.collect", "amount=1"}, []platform.Event{event("pay.progress", jti, `{"state":"ATTENTION"}`)}, 1, ""},
		{"collect unknown for now", []string{"pay.collect", "amount=1"}, []platform.Event{event("pay.progress", jti, `{"state":"UNKNOWN"}`)}, 1, "progress"},
		// A cancel of a running payment is answered by the payment's
		// pay.result (its ref the collect's jti): by out_trade_no.
		{"cancel by key", []string{"pay.cancel", "out_trade_no=P1"}, []platform.Event{
			event("pay.result", "collect-jti", `{"out_trade_no":"P2","state":"PAID"}`),
			event("pay.result", "collect-jti", `{"out_trade_no":"P1","state":"CANCELLED"}`)}, 0, `"P1"`},
		{"cancel too late", []string{"pay.cancel", "out_trade_no=P1"}, []platform.Event{event("pay.result", jti, `{"out_trade_no":"P1","state":"PAID"}`)}, 1, ""},
		{"cancel of another", []string{"pay.cancel", "out_trade_no=P1"}, []platform.Event{event("pay.result", "x", `{"out_trade_no":"P2","state":"CANCELLED"}`)}, 1, ""},
		{"print paper out, then done", []string{"print.job", "doc=x"}, []platform.Event{
			event("print.result", jti, `{"status":"paper_out"}`), event("print.result", jti, `{"status":"done"}`)}, 0, "progress print.result"},
		{"print failed", []string{"print.job", "doc=x"}, []platform.Event{event("print.result", jti, `{"status":"failed","error":"no printer"}`)}, 1, ""},
		{"config applied", []string{"config.set", "version=1", `patch={}`}, []platform.Event{event("config.applied", jti, `{"version":1}`)}, 0, ""},
		{"config rejected", []string{"config.set", "version=1", `patch={}`}, []platform.Event{event("config.rejected", jti, `{"reason":"connect"}`)}, 1, ""},
		{"ota current", []string{"ota.update", "-json", "{}"}, []platform.Event{event("ota.progress", jti, `{}`), event("ota.result", jti, `{"status":"current"}`)}, 0, ""},
		{"ota failed", []string{"ota.update", "-json", "{}"}, []platform.Event{event("ota.result", jti, `{"status":"failed","reason":"no_key"}`)}, 1, ""},
		{"roster", []string{"staff.roster", "version=1", "staff=[]"}, []platform.Event{event("staff.roster.applied", jti, `{"applied":true}`)}, 0, ""},
		{"unknown type answered", []string{"frob.x"}, []platform.Event{event("frob.done", jti, `{}`)}, 0, ""},
		{"unknown type refused", []string{"frob.x"}, []platform.Event{event("error", jti, `{"code":"unknown_type"}`)}, 1, ""},
	} {
		r, err := parseSend(append(tc.args, "-timeout", "300ms"), io.Discard, io.Discard)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		ch := make(chan platform.Event, len(tc.events))
		for _, e := range tc.events {
			ch <- e
		}
		ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
		var out bytes.Buffer
		err = awaitAnswer(ctx, ch, r, jti, &out, io.Discard)
		cancel()
		if code := exitStatus(err, io.Discard); code != tc.exit || !strings.Contains(out.String(), tc.out) {
			t.Errorf("%s: exit %d (%v), want %d; output:\n%s", tc.name, code, err, tc.exit, out.String())
		}
	}
}

// Bodies print as plain UTF-8: print markup's <, > and & as they are.
func TestPlainUTF8(t *testing.T) {
	body := json.RawMessage(`{"doc":"\u003cC\u003e你好\u003c/C\u003e","url":"https://h/a?x=1\u0026y=2","amount":12850}`)
	want := `{"amount":12850,"doc":"<C>你好</C>","url":"https://h/a?x=1&y=2"}`
	if got := pretty(body); got != want {
		t.Errorf("pretty: %s", got)
	}
	if got := jsonText(map[string]any{"doc": "<C>你好</C>"}); got != `{"doc":"<C>你好</C>"}` {
		t.Errorf("jsonText: %s", got)
	}
	line := formatEvent(event("print.result", "", string(body)))
	if strings.Contains(line, `\u`) || !strings.Contains(line, "<C>你好</C>") {
		t.Errorf("watch line: %s", line)
	}
	dir := t.TempDir()
	if _, err := writeKeyPair(dir+"/ota", false); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(dir+"/fw", []byte("firmware"), 0o644)
	var out, errs bytes.Buffer
	if code := run([]string{"ota-sign", "-key", dir + "/ota.key", "-version", "2.0.0", "-url", "https://h/a?x=1&y=2", dir + "/fw"}, &out, &errs); code != 0 ||
		!strings.Contains(out.String(), `"url":"https://h/a?x=1&y=2"`) {
		t.Errorf("ota-sign: exit %d: %s%s", code, out.String(), errs.String())
	}
}
