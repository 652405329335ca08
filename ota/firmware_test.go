package ota

import (
	"bytes"
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// artifactServer serves data over TLS; the first cut responses stop after
// half the bytes (a dropped connection), and it records the Range headers.
type artifactServer struct {
	*httptest.Server
	mu     sync.Mutex
	ranges []string
	cut    int
}

func newArtifactServer(t *testing.T, data []byte, cut int) *artifactServer {
	s := &artifactServer{cut: cut}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.ranges = append(s.ranges, r.Header.Get("Range"))
		cut := s.cut > 0
		if cut {
			s.cut--
		}
		s.mu.Unlock()
		if cut {
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			w.WriteHeader(http.StatusOK)
			w.Write(data[:len(data)/2])
			panic(http.ErrAbortHandler) // drop the connection mid-body
		}
		http.ServeContent(w, r, "fw", time.Time{}, bytes.NewReader(data))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *artifactServer) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ranges...)
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestDownloadResumesAfterCut(t *testing.T) {
	data := randomBytes(t, 300_000)
	pub, priv := newKey(t)
	m := SignArtifact(priv, "2.0.0", data)
	srv := newArtifactServer(t, data, 1)
	part := filepath.Join(t.TempDir(), "fw.part")
	var last int64
	d := Download{URL: srv.URL + "/fw", Part: part, Size: m.Size, Client: srv.Client(), Backoff: time.Millisecond,
		Progress: func(have int64) { last = have }}
	if err := m.Check(pub, 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := d.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := m.VerifyFile(part); err != nil {
		t.Fatal(err)
	}
	r := srv.seen()
	if len(r) != 2 || r[0] != "" || !strings.HasPrefix(r[1], "bytes=") || r[1] == "bytes=0-" {
		t.Errorf("requests' Range headers %q: want a first full request and a resumed one", r)
	}
	if last != m.Size {
		t.Errorf("last progress %d, want %d", last, m.Size)
	}
}

func TestDownloadResumesAPartialFileFromBefore(t *testing.T) {
	data := randomBytes(t, 10_000)
	_, priv := newKey(t)
	m := SignArtifact(priv, "2.0.0", data)
	srv := newArtifactServer(t, data, 0)
	part := filepath.Join(t.TempDir(), "fw.part")
	os.WriteFile(part, data[:4000], 0o600) // left by a process that died
	d := Download{URL: srv.URL + "/fw", Part: part, Size: m.Size, Client: srv.Client()}
	if err := d.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := srv.seen(); len(r) != 1 || r[0] != "bytes=4000-" {
		t.Errorf("Range headers %q, want bytes=4000-", r)
	}
	if err := m.VerifyFile(part); err != nil {
		t.Error(err)
	}
}

func TestVerifyRefuses(t *testing.T) {
	data := randomBytes(t, 5000)
	pub, priv := newKey(t)
	_, other := newKey(t)
	m := SignArtifact(priv, "2.0.0", data)
	dir := t.TempDir()
	write := func(b []byte) string {
		p := filepath.Join(dir, "a")
		os.WriteFile(p, b, 0o600)
		return p
	}
	corrupt := bytes.Clone(data)
	corrupt[100] ^= 1
	if err := m.VerifyFile(write(corrupt)); ReasonOf(err) != FailSHA256 {
		t.Errorf("corrupt artifact: %v", err)
	}
	if err := m.VerifyFile(write(data[:4999])); ReasonOf(err) != FailSize {
		t.Errorf("short artifact: %v", err)
	}
	if err := SignArtifact(other, "2.0.0", data).Check(pub, 1<<20); ReasonOf(err) != FailSignature {
		t.Errorf("other key: %v", err)
	}
	relabeled := m
	relabeled.Version = "9.9.9"
	if err := relabeled.Check(pub, 1<<20); ReasonOf(err) != FailSignature {
		t.Errorf("version changed after signing: %v", err)
	}
	if err := m.Check(pub, 100); ReasonOf(err) != FailBadRequest {
		t.Errorf("over max_bytes: %v", err)
	}
	if err := m.Check(nil, 1<<20); ReasonOf(err) != FailNoKey {
		t.Errorf("no key: %v", err)
	}
	if err := CheckURL("http://example.com/fw"); ReasonOf(err) != FailBadRequest {
		t.Errorf("plain http: %v", err)
	}
}

func TestDownloadGivesUp(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	d := Download{URL: srv.URL + "/nothing", Part: filepath.Join(t.TempDir(), "p"), Size: 10, Client: srv.Client(), Backoff: time.Millisecond}
	if err := d.Run(context.Background()); ReasonOf(err) != FailDownload {
		t.Errorf("404: %v", err)
	}
	// A server whose certificate the client does not trust is never read.
	d.Client = http.DefaultClient
	d.Attempts = 2
	if err := d.Run(context.Background()); ReasonOf(err) != FailDownload {
		t.Errorf("untrusted server: %v", err)
	}
}
