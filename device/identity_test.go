package device

import (
	"crypto/rand"
	"crypto/rsa"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDeviceKeyMadeOnceAndPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	k1, err := LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if k1.N.BitLen() != 2048 {
		t.Fatalf("key of %d bits", k1.N.BitLen())
	}
	fi, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", fi.Mode().Perm())
	}
	k2, err := LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Equal(k2) {
		t.Fatal("a second start made a new key")
	}
	os.WriteFile(filepath.Join(dir, KeyFile), []byte("not a key"), 0o600)
	if _, err := LoadOrCreateKey(dir); err == nil {
		t.Fatal("a corrupt key file was accepted (and would be silently replaced)")
	}
}

// A device whose key is not the one its journal was made with (the key
// file lost and made anew) says so — log, state, hello — instead of
// passing over it: the platform pinned the old key.
func TestReplacedKeySaidSo(t *testing.T) {
	r := newRig(t)
	r.logs = &lockedBuffer{}
	r.start()
	if st := r.agent.State(); st.Key != "" {
		t.Fatalf("first start: key %q", st.Key)
	}
	r.stop()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	r.key = k
	r.start()
	if st := r.agent.State(); st.Key != "replaced" {
		t.Fatalf("after a new key: state key %q", st.Key)
	}
	if !strings.Contains(r.logs.String(), "not the one this journal was made with") {
		t.Fatal("no log line")
	}
	h := r.agent.hello()
	if b := body[map[string]any](t, h); b["key_replaced"] != true {
		t.Fatalf("hello %s", h.Body)
	}
	r.stop()
	r.start() // still said at the next start, until re-bound
	if st := r.agent.State(); st.Key != "replaced" {
		t.Fatalf("second start: key %q", st.Key)
	}
}

// An existing data dir left looser than the agent keeps it (0777, a
// journal and key at 0644) is tightened at start, and each change logged.
func TestPrivateDataDirTightens(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	os.MkdirAll(dir, 0o700)
	os.Chmod(dir, 0o777)
	for _, f := range []string{"journal.db", KeyFile} {
		os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644)
		os.Chmod(filepath.Join(dir, f), 0o644)
	}
	os.MkdirAll(filepath.Join(dir, "ota", "a"), 0o755)
	logs := &lockedBuffer{}
	if err := PrivateDataDir(dir, slog.New(slog.NewTextHandler(logs, nil))); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Fatalf("dir %v", fi.Mode())
	}
	for _, f := range []string{"journal.db", KeyFile} {
		if fi, _ := os.Stat(filepath.Join(dir, f)); fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s %v", f, fi.Mode())
		}
	}
	if fi, _ := os.Stat(filepath.Join(dir, "ota", "a")); fi.Mode().Perm() != 0o755 {
		t.Fatalf("a subdirectory was changed: %v", fi.Mode())
	}
	if n := strings.Count(logs.String(), "tightened"); n != 3 || !strings.Contains(logs.String(), "was=0777") || !strings.Contains(logs.String(), "was=0644") {
		t.Fatalf("%d log lines:\n%s", n, logs)
	}
	logs = &lockedBuffer{}
	PrivateDataDir(dir, slog.New(slog.NewTextHandler(logs, nil)))
	if strings.Contains(logs.String(), "tightened") {
		t.Fatal("a private dir was logged as tightened")
	}
}
