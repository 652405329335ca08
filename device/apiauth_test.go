package device

import (
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/platform"
)

// Every way a caller without the app's credential, or a browser page, can
// reach loopback is refused before a handler runs — the status and code
// say why — and nothing is started, refunded or clocked on.
func TestLocalAPIGuard(t *testing.T) {
	r := newPayRig(t)
	r.withSim(platform.Faults{})
	r.start()
	addr := r.agent.APIAddr()
	tok := r.agent.APIToken()
	if len(tok) != 64 {
		t.Fatalf("token %d characters", len(tok))
	}
	// A paid order and a clerk with the right, for forged refunds.
	v := r.pay(10000, "134567890123458888", 10e9, nil)
	r.shift("s1", "王芳", true, false)
	secret := r.agent.consoleSecret()
	bearer := "Bearer " + tok
	cookie := ConsoleCookie + "=" + secret
	refundBody := `{"amount":100,"staff_id":"s1","pin":"` + testPIN + `"}`
	refund := "/v1/payments/" + v.OutTradeNo + "/refund"
	type hdr = map[string]string
	for _, c := range []struct {
		name, method, path, body string
		h                        hdr
		status                   int
		code                     string
	}{
		{"no credential", "POST", refund, refundBody, hdr{"Content-Type": "application/json"}, 401, "unauthorized"},
		{"no credential, read", "GET", "/v1/orders", "", nil, 401, "unauthorized"},
		{"no credential, debug vars", "GET", "/debug/vars", "", nil, 401, "unauthorized"},
		{"no credential, events", "GET", "/v1/events", "", nil, 401, "unauthorized"},
		{"wrong token", "POST", refund, refundBody, hdr{"Authorization": "Bearer " + strings.Repeat("0", 64), "Content-Type": "application/json"}, 401, "unauthorized"},
		{"token as Basic", "POST", refund, refundBody, hdr{"Authorization": "Basic " + tok, "Content-Type": "application/json"}, 401, "unauthorized"},
		{"text/plain POST", "POST", refund, refundBody, hdr{"Authorization": bearer, "Content-Type": "text/plain"}, 415, "bad_content_type"},
		{"form POST", "POST", "/v1/shift/start", "staff_id=s1", hdr{"Authorization": bearer, "Content-Type": "application/x-www-form-urlencoded"}, 415, "bad_content_type"},
		{"body, no type", "POST", refund, refundBody, hdr{"Authorization": bearer}, 415, "bad_content_type"},
		{"foreign Origin", "POST", refund, refundBody, hdr{"Authorization": bearer, "Content-Type": "application/json", "Origin": "http://evil.example"}, 403, "bad_origin"},
		{"null Origin (file://)", "POST", refund, refundBody, hdr{"Authorization": bearer, "Content-Type": "application/json", "Origin": "null"}, 403, "bad_origin"},
		{"another port's Origin", "POST", refund, refundBody, hdr{"Authorization": bearer, "Content-Type": "application/json", "Origin": "http://127.0.0.1:1"}, 403, "bad_origin"},
		{"rebound Host", "POST", refund, refundBody, hdr{"Authorization": bearer, "Content-Type": "application/json", "Host": "evil.example"}, 403, "bad_host"},
		{"rebound Host, console", "GET", "/", "", hdr{"Host": "evil.example:8765"}, 403, "bad_host"},
		{"preflight", "OPTIONS", refund, "", hdr{"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}, 403, "bad_origin"},
		{"console cookie without its header", "POST", refund, refundBody, hdr{"Cookie": cookie, "Content-Type": "application/json"}, 401, "unauthorized"},
		{"console cookie from another site", "POST", refund, refundBody, hdr{"Cookie": cookie, ConsoleHeader: "1", "Content-Type": "application/json", "Sec-Fetch-Site": "same-site"}, 401, "unauthorized"},
		{"console link with a wrong token", "GET", "/?token=" + strings.Repeat("a", 64), "", nil, 401, "unauthorized"},
		{"token in the query of a call", "GET", "/v1/orders?token=" + tok, "", nil, 401, "unauthorized"},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, "http://"+addr+c.path, strings.NewReader(c.body))
			for k, v := range c.h {
				if k == "Host" {
					req.Host = v
				} else {
					req.Header.Set(k, v)
				}
			}
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status || !strings.Contains(string(b), `"code":"`+c.code+`"`) {
				t.Fatalf("%d %s, want %d %s", resp.StatusCode, b, c.status, c.code)
			}
			if resp.Header.Get("Set-Cookie") != "" {
				t.Fatalf("a refused request was given a cookie: %s", resp.Header.Get("Set-Cookie"))
			}
		})
	}
	var refunds int
	r.agent.j.View(func(tx *journal.Tx) error {
		return tx.ForEach(journal.Refunds, func(string, []byte) error { refunds++; return nil })
	})
	if refunds != 0 {
		t.Fatalf("%d refunds made by refused requests", refunds)
	}
	if n := r.agent.apiRefused.Load(); n < 19 {
		t.Fatalf("%d refusals counted", n)
	}
	if strings.Contains(r.logs.String(), tok) || strings.Contains(r.logs.String(), secret) {
		t.Fatal("the token is in the log")
	}

	// What is allowed: the token; the console link sets an HttpOnly
	// SameSite=Strict cookie and sends the browser to / without it; the
	// cookie with the console's header calls; localhost is loopback too.
	req, _ := http.NewRequest("GET", "http://"+addr+"/?token="+tok, nil)
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	sc := resp.Header.Get("Set-Cookie")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" ||
		!strings.Contains(sc, ConsoleCookie+"="+secret) || !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Strict") || strings.Contains(sc, tok) {
		t.Fatalf("console link: %d %q %q", resp.StatusCode, resp.Header.Get("Location"), sc)
	}
	for _, h := range []hdr{{"Authorization": bearer}, {"Cookie": cookie, ConsoleHeader: "1", "Sec-Fetch-Site": "same-origin", "Origin": "http://" + addr}} {
		req, _ := http.NewRequest("POST", "http://"+addr+refund, strings.NewReader(refundBody))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("refund with %v: %d %s", h, resp.StatusCode, b)
		}
	}
	req, _ = http.NewRequest("GET", "http://"+addr+"/v1/state", nil)
	req.Host = strings.Replace(addr, "127.0.0.1", "localhost", 1)
	req.Header.Set("Authorization", bearer)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("Host localhost: %v %v", resp, err)
	}
}

// The token file: made at first start with mode 0600, the same token
// after a restart, a looser file tightened, an unusable one replaced, and
// api.token_file moves it.
func TestAPITokenFile(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	path := filepath.Join(dir, "sub", TokenFileName)
	tok, err := LoadOrCreateToken(path, log)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 || len(tok) != 64 {
		t.Fatalf("token file: %v %v, %d characters", fi.Mode(), err, len(tok))
	}
	if again, _ := LoadOrCreateToken(path, log); again != tok {
		t.Fatal("a second start made a new token")
	}
	os.Chmod(path, 0o644)
	if again, _ := LoadOrCreateToken(path, log); again != tok {
		t.Fatal("tightening changed the token")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("a 0644 token file stays %v", fi.Mode())
	}
	os.WriteFile(path, []byte("short\n"), 0o600)
	if again, _ := LoadOrCreateToken(path, log); again == "short" || len(again) != 64 {
		t.Fatalf("an unusable token file gave %q", again)
	}

	r := newPayRig(t)
	moved := filepath.Join(t.TempDir(), "cashier", "posagent.token")
	r.cfg.API.TokenFile = moved
	r.start()
	b, err := os.ReadFile(moved)
	if err != nil || strings.TrimSpace(string(b)) != r.agent.APIToken() {
		t.Fatalf("api.token_file: %q %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(r.cfg.DataDir, TokenFileName)); err == nil {
		t.Fatal("a token was made in the data dir as well")
	}
}
