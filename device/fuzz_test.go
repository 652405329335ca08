package device

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
)

// offlineLink is a link that never connects: the fuzz targets drive the
// agent's parsers directly, with no broker in the loop.
// Its Run closes running: by then the agent's Run has resumed the journal
// and set the context that flows started by commands run under.
type offlineLink struct{ running chan struct{} }

func (l offlineLink) Run(ctx context.Context) error { close(l.running); <-ctx.Done(); return nil }
func (offlineLink) Send(mqtt.Message) error         { return mqtt.ErrOffline }
func (offlineLink) Kick()                           {}
func (offlineLink) SetState([]byte)                 {}
func (offlineLink) Redeliver()                      {}
func (offlineLink) Connected() bool                 { return false }

// fuzzAgent runs a real agent (journal in a temporary directory, no
// hardware, no listener: the API is served through its Handler) until the
// fuzz target ends. tweaks change its config before it starts: a running
// agent's config is never changed (its goroutines read it).
func fuzzAgent(f testing.TB, tweaks ...func(*config.Config)) *Agent {
	cfg := newConfig(f, "tcp://127.0.0.1:1")
	cfg.API.Listen = ""
	for _, tweak := range tweaks {
		tweak(&cfg)
	}
	j, err := journal.Open(filepath.Join(cfg.DataDir, "journal.db"))
	if err != nil {
		f.Fatal(err)
	}
	link := offlineLink{running: make(chan struct{})}
	a, err := New(Options{Config: cfg, Journal: j, Key: deviceKey(f), Printer: &jobs{}, Log: quiet(),
		NewLink: func(mqtt.LinkConfig, *journal.Journal, mqtt.Handlers) (Link, error) { return link, nil }})
	if err != nil {
		f.Fatal(err)
	}
	a.token = strings.Repeat("f", 64) // no api.listen, so none was made
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	f.Cleanup(func() { cancel(); <-done; j.Close() })
	// Inputs go in once the agent runs, as they would on a device: a
	// payment started before that would have no context to run under.
	select {
	case <-link.running:
	case <-done:
		f.Fatal("the agent stopped before it ran")
	}
	return a
}

// apiPosts are the local API's endpoints that take a JSON body.
var apiPosts = []string{
	"/v1/payments", "/v1/payments/P1/refund", "/v1/payments/P1/cancel", "/v1/shift/start", "/v1/shift/end",
	"/v1/deposits/P1/consume", "/v1/deposits/P1/unfreeze", "/v1/orders/P1/reprint", "/v1/summary/print",
}

// FuzzAPIBody posts arbitrary bodies to every body-taking endpoint of the
// local API of a running agent: it never panics, never answers 5xx to a
// bad body, and every refusal is the protocol §7 error object.
func FuzzAPIBody(f *testing.F) {
	for _, b := range []string{
		`{"amount":12850,"desc":"咖啡"}`, `{"amount":1,"deposit":true}`, `{"amount":-1}`, `{"amount":1e30}`,
		`{"amount":100,"staff_id":"s01"}`, `{"staff_id":"s01","staff_name":"王"}`, `{"staff_id":"../x"}`,
		`{"amount":"1"}`, `{"extra":1}`, `[]`, `null`, ``, `{`, `{"amount":1}{"amount":2}`, "\xff\xfe",
		`{"desc":"` + strings.Repeat("长", 100) + `","amount":5}`,
	} {
		for i := range apiPosts {
			f.Add(uint8(i), []byte(b))
		}
	}
	a := fuzzAgent(f)
	h := a.Handler()
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		path := apiPosts[int(which)%len(apiPosts)]
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Host = "127.0.0.1:8765"
		req.Header.Set("Authorization", "Bearer "+a.APIToken())
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("POST %s %q: %d %s", path, body, w.Code, w.Body)
		}
		if w.Code >= 400 {
			var e apiError
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error.Code == "" {
				t.Fatalf("POST %s %q: %d with body %q", path, body, w.Code, w.Body)
			}
		} else if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("POST %s %q: %d with body %q", path, body, w.Code, w.Body)
		}
	})
}

var errRollback = errors.New("rollback")

// FuzzCommandBody gives arbitrary bodies to every command handler (the
// bodies of notify.payment, pay.collect, pay.status, print.job, ...), as
// they arrive after the signature has been verified: the handler runs in a
// journal transaction that is then rolled back. It never panics, and it
// either answers (the answer refers to the command) or leaves work to run.
func FuzzCommandBody(f *testing.F) {
	a := fuzzAgent(f)
	hs := a.handlers()
	types := make([]string, 0, len(hs))
	for typ := range hs {
		types = append(types, typ)
	}
	sort.Strings(types)
	for _, b := range []string{
		`{"order_id":"o-1","amount":12850,"wallet":"wechat","kind":"pay","print":true,"copies":1}`,
		`{"out_trade_no":"P1","amount":100,"desc":"x","deposit":false,"timeout_s":30}`,
		`{"out_trade_no":"P1","op":"query","state":"SUCCESS","transaction_id":"4200","amount":100,"recall":false}`,
		`{"job_id":"j1","copies":2,"doc":"<CB>店</CB><BR><QR>x</QR><CUT>"}`,
		`{"level":6}`, `{"text":"微信收款12.5元"}`, `{"staff_id":"s01","staff_name":"王"}`,
		`{"out_refund_no":"R1","out_trade_no":"P1","state":"SUCCESS","amount":1}`,
		`{}`, `null`, `[]`, `{"amount":1e400}`, `{"order_id":"` + strings.Repeat("x", 70) + `"}`, `"x"`,
	} {
		for i := range types {
			f.Add(uint8(i), []byte(b))
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		typ := types[int(which)%len(types)]
		m := mqtt.Message{ID: mqtt.NewID(), Type: typ, Dev: devID, IssuedAt: a.now(), ExpiresAt: a.now().Add(60e9), Body: body}
		err := a.j.Update(func(tx *journal.Tx) error {
			ans, run, err := hs[typ](tx, m)
			if err != nil {
				return err
			}
			if ans != nil && ans.Ref != m.ID {
				t.Fatalf("%s %q: answer %s refers to %q", typ, body, ans.Type, ans.Ref)
			}
			_ = run // not run: the transaction is rolled back
			return errRollback
		})
		if err != nil && !errors.Is(err, errRollback) {
			// A journal error for a body is a bug: bodies are checked
			// before anything is written.
			t.Fatalf("%s %q: %v", typ, body, err)
		}
	})
}
