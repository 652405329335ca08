package device

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/posagent/posagent/atomicfile"
)

// Who may call the local API (protocol §7, docs/SECURITY.md). Loopback is
// not a boundary: every app on the device, and every web page its browser
// opens, reaches 127.0.0.1. So, as Tailscale's LocalAPI, Syncthing and
// Jupyter do, every request carries a credential only the cashier app
// has — Authorization: Bearer <the token in api.token> — and what a
// browser adds to a forged request (a foreign Origin, a form's content
// type, a DNS-rebound Host) is refused before any handler runs.
//
// The console served at / is a page in that browser: it is given its
// credential by the link the cashier app opens (/?token=…), as an HttpOnly
// SameSite=Strict cookie, and its calls carry the header ConsoleHeader,
// which no other page can add without a CORS preflight this API never
// allows.

const (
	// TokenFileName is the token's file in the data dir (api.token_file
	// moves it).
	TokenFileName = "api.token"
	// ConsoleCookie holds the console's credential.
	ConsoleCookie = "posagent_console"
	// ConsoleHeader marks the console's own calls ("1").
	ConsoleHeader = "X-Posagent-Console"
	// minTokenLen is the shortest token accepted from the file: a shorter
	// one (empty, truncated) is replaced by a new one.
	minTokenLen = 32
)

// TokenPath is where the API token lives for cfg-like settings.
func tokenPath(dataDir, tokenFile string) string {
	if tokenFile != "" {
		return tokenFile
	}
	return filepath.Join(dataDir, TokenFileName)
}

// LoadOrCreateToken reads the API token from path, or makes one (32 random
// bytes, hex) when the file is missing or holds no usable token. The file
// is 0600; one found looser is tightened, and said so.
func LoadOrCreateToken(path string, log *slog.Logger) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if tok := strings.TrimSpace(string(b)); len(tok) >= minTokenLen && printableToken(tok) {
			if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
				if err := os.Chmod(path, 0o600); err != nil {
					return "", fmt.Errorf("api token %s: %w", path, err)
				}
				log.Warn("api token file was readable by others: tightened", "path", path, "was", fmt.Sprintf("%04o", fi.Mode().Perm()))
			}
			return tok, nil
		}
		log.Warn("api token file holds no usable token: a new one is made", "path", path, "bytes", len(b))
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("api token %s: %w", path, err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(raw)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("api token: %w", err)
	}
	if err := atomicfile.Write(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("api token: %w", err)
	}
	log.Info("api token made", "path", path)
	return tok, nil
}

func printableToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// APIToken is the local API's bearer token (what the cashier app reads
// from api.token).
func (a *Agent) APIToken() string { return a.token }

// consoleSecret is the cookie value: derived from the token, so the file's
// token itself never sits in a browser profile.
func (a *Agent) consoleSecret() string {
	h := sha256.Sum256([]byte("posagent-console-v1\n" + a.token))
	return hex.EncodeToString(h[:])
}

// loopbackHost says whether a Host header names this machine by a loopback
// name: anything else is a DNS-rebound name pointing a web page at us.
func loopbackHost(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.Trim(h, "[]"), ".")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// refuse answers a request the guard turns away, and logs why (never the
// credential).
func (a *Agent) refuse(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	a.apiRefused.Add(1)
	a.log.Warn("local API refused a request", "code", code, "method", r.Method, "path", r.URL.Path,
		"origin", clip(r.Header.Get("Origin"), 80), "host", clip(r.Host, 80))
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="posagent"`)
	}
	writeError(w, status, code, msg)
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// guard runs before every handler of the local API.
func (a *Agent) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		if !loopbackHost(r.Host) {
			a.refuse(w, r, http.StatusForbidden, "bad_host", "the local API answers only to a loopback host name (127.0.0.1, localhost, [::1])")
			return
		}
		// A browser names the page a request comes from; only the
		// console's own origin may call. (Origin: null is a file:// or
		// sandboxed page.)
		if o, ok := r.Header["Origin"]; ok && (len(o) != 1 || o[0] != "http://"+r.Host) {
			a.refuse(w, r, http.StatusForbidden, "bad_origin", "requests from other web pages are refused")
			return
		}
		if r.Method == http.MethodOptions {
			// No CORS: a preflight is always refused, so no other page
			// can send the console's header or a JSON body.
			a.refuse(w, r, http.StatusForbidden, "bad_origin", "cross-origin requests are refused")
			return
		}
		if consoleFile(r) {
			a.serveConsole(w, r, next)
			return
		}
		if !a.authorized(r) {
			a.refuse(w, r, http.StatusUnauthorized, "unauthorized",
				"this API needs Authorization: Bearer <token>, the token being in "+a.tokenFile)
			return
		}
		if r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch || r.Method == http.MethodDelete {
			ct := r.Header.Get("Content-Type")
			if ct == "" && r.ContentLength != 0 {
				a.refuse(w, r, http.StatusUnsupportedMediaType, "bad_content_type", "a request body must be application/json")
				return
			}
			if ct != "" {
				if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
					a.refuse(w, r, http.StatusUnsupportedMediaType, "bad_content_type", "a request body must be application/json")
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// authorized: the bearer token, or the console's cookie — with the
// console's header on anything but a read, and never from another site's
// page (Sec-Fetch-Site, where the browser says it).
func (a *Agent) authorized(r *http.Request) bool {
	if a.token == "" {
		return false // no token made (no api.listen): nobody
	}
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		return ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(a.token)) == 1
	}
	c, err := r.Cookie(ConsoleCookie)
	if err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(a.consoleSecret())) != 1 {
		return false
	}
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" {
		return false
	}
	read := r.Method == http.MethodGet || r.Method == http.MethodHead
	return read || r.Header.Get(ConsoleHeader) == "1"
}

// consoleFile: the console's own files, served to anyone (they hold no
// secret; the calls they make need the credential).
func consoleFile(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	_, ok := webTypes[r.URL.Path]
	return ok
}

// serveConsole serves the console; /?token=<the API token> — the link the
// cashier app opens — sets the console's cookie and sends the browser on
// to / without the token in its address bar or history.
func (a *Agent) serveConsole(w http.ResponseWriter, r *http.Request, next http.Handler) {
	if tok, ok := r.URL.Query()["token"]; ok && r.URL.Path == "/" {
		if len(tok) != 1 || subtle.ConstantTimeCompare([]byte(tok[0]), []byte(a.token)) != 1 {
			a.refuse(w, r, http.StatusUnauthorized, "unauthorized", "the console link's token is wrong: open the console from the cashier app")
			return
		}
		http.SetCookie(w, &http.Cookie{Name: ConsoleCookie, Value: a.consoleSecret(), Path: "/",
			HttpOnly: true, SameSite: http.SameSiteStrictMode})
		w.Header().Set("Referrer-Policy", "no-referrer")
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	next.ServeHTTP(w, r)
}
