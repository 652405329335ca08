package device

import (
	"embed"
	"net/http"
	"path"
)

// The cashier's web console (issue 6.3): plain HTML/JS/CSS embedded in the
// binary and served by the local API at /, so the cashier needs nothing but
// a browser on the device. It only calls the API below /v1/.

//go:embed web/index.html web/app.js web/style.css
var webFiles embed.FS

// webTypes are the console's files and their content types.
var webTypes = map[string]string{
	"/":          "text/html; charset=utf-8",
	"/app.js":    "text/javascript; charset=utf-8",
	"/style.css": "text/css; charset=utf-8",
}

// webHandler serves the console's three files; any other GET is the API's
// JSON not_found, so a client calling an endpoint this build lacks gets the
// usual error shape rather than a page.
func webHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ct, ok := webTypes[r.URL.Path]
		if !ok {
			writeError(w, http.StatusNotFound, "not_found", "no such endpoint: "+r.URL.Path)
			return
		}
		name := "web/index.html"
		if r.URL.Path != "/" {
			name = path.Join("web", r.URL.Path)
		}
		b, err := webFiles.ReadFile(name)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "internal", err.Error())
			return
		}
		h := w.Header()
		h.Set("Content-Type", ct)
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		// The console runs only its own script, talks only to this
		// agent, and may not be framed by another page.
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			w.Write(b)
		}
	})
}
