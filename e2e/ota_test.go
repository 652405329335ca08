package e2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posagent/posagent/ota"
	"github.com/posagent/posagent/platform"
)

// buildVersion builds the agent as firmware version v: the artifact of an
// update.
func buildVersion(t *testing.T, v string) []byte {
	t.Helper()
	bin := buildProduct(t, "posagent", "-ldflags", "-X github.com/posagent/posagent/device.Version="+v)
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// fwServer is the firmware download server (TLS). A path in cut has its
// first response dropped half-way, so the agent must resume with Range.
type fwServer struct {
	*httptest.Server
	mu     sync.Mutex
	files  map[string][]byte
	cut    map[string]bool
	ranges map[string][]string
}

func newFWServer(t *testing.T) *fwServer {
	s := &fwServer{files: map[string][]byte{}, cut: map[string]bool{}, ranges: map[string][]string{}}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		data, ok := s.files[r.URL.Path]
		cut := s.cut[r.URL.Path]
		delete(s.cut, r.URL.Path)
		s.ranges[r.URL.Path] = append(s.ranges[r.URL.Path], r.Header.Get("Range"))
		s.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		if cut {
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			w.WriteHeader(http.StatusOK)
			w.Write(data[:len(data)/2])
			panic(http.ErrAbortHandler)
		}
		http.ServeContent(w, r, "fw", time.Time{}, bytes.NewReader(data))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *fwServer) put(path string, data []byte, cut bool) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[path], s.cut[path] = data, cut
	return s.URL + path
}

func (s *fwServer) requests(path string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ranges[path]...)
}

// update sends ota.update and collects its progress states until its
// ota.result, which it returns.
func update(t *testing.T, e *env, body map[string]any, d time.Duration) (result map[string]any, states []string) {
	t.Helper()
	m, err := e.plat.Send(e.cfg.DeviceID, "ota.update", body)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.After(d)
	for {
		select {
		case ev := <-e.events:
			if ev.Err != nil || ev.State != nil || ev.Message.Ref != m.ID {
				continue
			}
			var b map[string]any
			json.Unmarshal(ev.Message.Body, &b)
			switch ev.Message.Type {
			case "ota.progress":
				states = append(states, b["state"].(string))
			case "ota.result":
				return b, states
			default:
				t.Fatalf("ota.update answered %s %s", ev.Message.Type, ev.Message.Body)
			}
		case <-deadline:
			t.Fatalf("no ota.result (progress %v)", states)
		}
	}
}

func manifestBody(m ota.Manifest, url string) map[string]any {
	return map[string]any{"version": m.Version, "url": url, "size": m.Size, "sha256": m.SHA256, "sig": m.Sig}
}

// Firmware over the air through the real binary: a download cut half-way
// and resumed, installed in slot a, switched to by exec and kept after its
// health check; a corrupt artifact and a forged signature refused; a build
// that is not the version announced fails its self-test and is rolled
// back; and new firmware that dies at start is rolled back by the next
// start (the test plays the supervisor).
func TestOTAUpdate(t *testing.T) {
	e := newEnv(t)
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	srv := newFWServer(t)
	caPath := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(caPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	e.cfg.OTA.Pubkey = base64.StdEncoding.EncodeToString(pub)
	e.cfg.OTA.CAFile = caPath
	e.cfg.OTA.HealthTimeoutMS = 15000
	saveConfig(t, e.cfgPath, e.cfg)
	v2 := buildVersion(t, "2.0.0")

	p := startLogged(t, e.bin, e.cfgPath)
	e.waitHello(10 * time.Second)

	// Happy path, with the download cut once and resumed.
	m2 := ota.SignArtifact(key, "2.0.0", v2)
	res, states := update(t, e, manifestBody(m2, srv.put("/v2", v2, true)), 60*time.Second)
	if res["status"] != "ok" || res["running"] != "2.0.0" {
		t.Fatalf("update to 2.0.0: %v\nlog:\n%s", res, p.log)
	}
	for _, want := range []string{"downloading", "verified", "installed", "restarting", "health_check"} {
		if !contains(states, want) {
			t.Errorf("no ota.progress %s in %v", want, states)
		}
	}
	if r := srv.requests("/v2"); len(r) < 2 || !strings.HasPrefix(r[len(r)-1], "bytes=") {
		t.Errorf("download not resumed with Range: %q", r)
	}
	if st := retainedState(t, e.broker.URL(), e.cfg.DeviceID); st.FW != "2.0.0" {
		t.Errorf("state fw %q after the update", st.FW)
	}
	slots := ota.Slots{Dir: e.cfg.OTADir()}
	if b, _ := slots.Load(); b.Active != "a" || b.State != ota.StateOK {
		t.Errorf("boot pointer %+v", b)
	}

	// An older version, correctly signed: refused before anything is
	// downloaded (firmware moves forward only), the reason in ota.result.
	mOld := ota.SignArtifact(key, "1.9.0", v2)
	res, _ = update(t, e, manifestBody(mOld, srv.put("/old", v2, false)), 30*time.Second)
	if res["status"] != "failed" || res["reason"] != ota.FailDowngrade || res["running"] != "2.0.0" {
		t.Errorf("downgrade: %v", res)
	}
	if r := srv.requests("/old"); len(r) != 0 {
		t.Errorf("a downgrade was downloaded: %q", r)
	}
	if !p.log.Await("reason=downgrade", 5*time.Second) {
		t.Errorf("the refused downgrade is not in the log")
	}

	// A corrupt artifact (one byte flipped on the server) and a signature
	// by another key: refused, nothing installed.
	corrupt := bytes.Clone(v2)
	corrupt[len(corrupt)/3] ^= 0xff
	m3 := ota.SignArtifact(key, "3.0.0", v2)
	res, _ = update(t, e, manifestBody(m3, srv.put("/corrupt", corrupt, false)), 30*time.Second)
	if res["status"] != "failed" || res["reason"] != ota.FailSHA256 {
		t.Errorf("corrupt artifact: %v", res)
	}
	forged := ota.SignArtifact(otherKey, "3.0.0", v2)
	res, _ = update(t, e, manifestBody(forged, srv.put("/forged", v2, false)), 30*time.Second)
	if res["status"] != "failed" || res["reason"] != ota.FailSignature {
		t.Errorf("forged signature: %v", res)
	}
	if r := srv.requests("/forged"); len(r) != 0 {
		t.Errorf("a forged update was downloaded: %q", r)
	}
	if b, _ := slots.Load(); b.Active != "a" {
		t.Errorf("boot pointer moved: %+v", b)
	}

	// A build that is not the version announced: its self-test fails and
	// slot a (2.0.0) runs again.
	mBad := ota.SignArtifact(key, "2.0.1", v2)
	res, _ = update(t, e, manifestBody(mBad, srv.put("/v201", v2, false)), 60*time.Second)
	if res["status"] != "rolled_back" || res["reason"] != ota.FailHealth {
		t.Errorf("self-test failure: %v\nlog:\n%s", res, p.log)
	}
	if b, _ := slots.Load(); b.Active != "a" || b.State != ota.StateOK || b.RolledBack != ota.FailHealth {
		t.Errorf("boot pointer after the rollback %+v", b)
	}

	// New firmware that dies at once: the process ends; the supervisor
	// (here the test) starts the base again, which rolls back.
	script := []byte("#!/bin/sh\nexit 3\n")
	mCrash := ota.SignArtifact(key, "4.0.0", script)
	m, err := e.plat.Send(e.cfg.DeviceID, "ota.update", manifestBody(mCrash, srv.put("/crash", script, false)))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("the crashing firmware never ran\nlog:\n%s", p.log)
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 3 {
		t.Errorf("exit code %d, want the crashing firmware's 3", code)
	}
	for _, pr := range e.pairs {
		pr.ReleaseExclusive()
	}
	p = startLogged(t, e.bin, e.cfgPath)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		ans, err := platform.Await(ctx, e.events, m.ID)
		if err != nil {
			t.Fatalf("no ota.result after the crash: %v\nlog:\n%s", err, p.log)
		}
		if ans.Type != "ota.result" {
			continue
		}
		var b map[string]any
		json.Unmarshal(ans.Body, &b)
		if b["status"] != "rolled_back" || b["reason"] != ota.FailCrashed || b["running"] != "2.0.0" {
			t.Errorf("after the crash: %v", b)
		}
		break
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
