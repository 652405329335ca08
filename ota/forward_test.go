package ota

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Firmware moves forward only: a version not newer than the running one is
// refused unless the signed manifest allows it, and that allowance cannot
// be added to a manifest signed without it.
func TestCheckForward(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	data := []byte("firmware")
	tests := []struct {
		version, running string
		allow            bool
		reason           string
	}{
		{"2.0.0", "1.4.0", false, ""},
		{"1.4.0", "2.0.0", false, FailDowngrade},
		{"1.9.9", "2.0.0", false, FailDowngrade},
		{"2.0.0", "2.0.0", false, FailDowngrade},
		{"2.0.0-rc1", "2.0.0", false, FailDowngrade},
		{"1.4.0", "2.0.0", true, ""},
		{"nightly", "2.0.0", false, FailDowngrade},
		{"2.0.0", "0.1.0-dev", false, ""},
		{"2.0.0", "eba8df1", false, ""}, // a developer's build takes any
	}
	for _, tc := range tests {
		m := SignManifest(priv, tc.version, data, tc.allow)
		if err := m.Check(pub, 1<<20); err != nil {
			t.Fatalf("%s: %v", tc.version, err)
		}
		if got := ReasonOf(m.CheckForward(tc.running)); got != tc.reason {
			t.Errorf("%s over %s (allow %v): %q, want %q", tc.version, tc.running, tc.allow, got, tc.reason)
		}
	}
	m := SignArtifact(priv, "1.0.0", data)
	m.AllowDowngrade = true // added after signing
	if err := m.Check(pub, 1<<20); ReasonOf(err) != FailSignature {
		t.Fatalf("allow_downgrade added to a signed manifest: %v", err)
	}
}

// No redirect leaves https: a download redirected to http:// is refused,
// not retried, and nothing is fetched over plain http.
func TestDownloadRefusesRedirectToHTTP(t *testing.T) {
	var plainHits int
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { plainHits++; w.Write([]byte("firmware")) }))
	defer plain.Close()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL+"/fw", http.StatusFound)
	}))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	cl, err := HTTPClient(ca)
	if err != nil {
		t.Fatal(err)
	}
	d := Download{URL: srv.URL + "/fw", Part: filepath.Join(t.TempDir(), "p"), Size: 8, Client: cl, Backoff: time.Millisecond}
	if err := d.Run(context.Background()); ReasonOf(err) != FailRedirect {
		t.Fatalf("redirect to http: %v", err)
	}
	if plainHits != 0 {
		t.Fatalf("%d requests reached the plain http server", plainHits)
	}
}
