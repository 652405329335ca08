package device

import (
	"os"
	"path/filepath"
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
