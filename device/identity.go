package device

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/posagent/posagent/atomicfile"
	"github.com/posagent/posagent/journal"
)

// KeyFile is the device key's file name in the data dir.
const KeyFile = "device_key.pem"

// LoadOrCreateKey returns the device's RSA-2048 key from dir, generating it
// on first start. The private key never leaves the device: the file is 0600
// and only the public half is ever sent (in device.hello). The key is
// written to a temporary file and renamed so a crash never leaves half a key.
func LoadOrCreateKey(dir string) (*rsa.PrivateKey, error) {
	path := filepath.Join(dir, KeyFile)
	data, err := os.ReadFile(path)
	if err == nil {
		block, _ := pem.Decode(data)
		if block == nil {
			return nil, fmt.Errorf("device key %s: not PEM", path)
		}
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("device key %s: %w", path, err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("device key %s: not an RSA key", path)
		}
		return rk, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Write(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	return k, nil
}

// Journal records of the device key (journal.Meta).
const (
	metaKeyFP       = "device.key_fp"       // the key the journal was made with
	metaKeyReplaced = "device.key_replaced" // Unix seconds: the key changed since
)

// keyFingerprint names a public key: SHA-256 of its DER, hex.
func keyFingerprint(k *rsa.PublicKey) string {
	der, _ := x509.MarshalPKIXPublicKey(k)
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// checkKey compares the device key with the one the journal knows. A new
// journal learns it. A different one means the key file was lost and made
// anew: that is said (log, state, hello's key_replaced) rather than passed
// over, until an installer re-binds the device with a config QR.
func (a *Agent) checkKey() error {
	fp := keyFingerprint(&a.key.PublicKey)
	var replaced int64
	err := a.j.Update(func(tx *journal.Tx) error {
		var known string
		ok, err := tx.Get(journal.Meta, metaKeyFP, &known)
		if err != nil {
			return err
		}
		if ok && known != fp {
			a.log.Error("the device key is not the one this journal was made with (device_key.pem lost or replaced): the platform must re-bind this device before it accepts refunds, reverses or deposit releases signed with the new key",
				"was", known[:16], "now", fp[:16])
			if err := tx.Put(journal.Meta, metaKeyReplaced, a.now().Unix()); err != nil {
				return err
			}
		}
		if !ok || known != fp {
			if err := tx.Put(journal.Meta, metaKeyFP, fp); err != nil {
				return err
			}
		}
		_, err = tx.Get(journal.Meta, metaKeyReplaced, &replaced)
		return err
	})
	if replaced > 0 {
		a.mu.Lock()
		a.state.Key = "replaced"
		a.mu.Unlock()
	}
	return err
}

// keyRebound clears the replaced mark: an installer re-bound the device.
func (a *Agent) keyRebound(tx *journal.Tx) error {
	a.mu.Lock()
	a.state.Key = ""
	a.mu.Unlock()
	return tx.Delete(journal.Meta, metaKeyReplaced)
}

// PrivateDataDir makes dir private to the agent: the directory 0700 and
// every regular file at its top (the journal, the device key, the API
// token, applied config) 0600. An existing data dir left looser (0777 by
// an installer's script, a journal copied in at 0644) is tightened, and
// each change is logged with the mode it had. The OTA slots below it keep
// their own modes (binaries are 0700, see package ota).
func PrivateDataDir(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tighten := func(path string, want os.FileMode) error {
		fi, err := os.Lstat(path)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&^want == 0 {
			return nil
		}
		if err := os.Chmod(path, want); err != nil {
			return err
		}
		log.Warn("data dir: permissions were looser than the agent's, tightened", "path", path, "was", fmt.Sprintf("%04o", fi.Mode().Perm()), "now", fmt.Sprintf("%04o", want))
		return nil
	}
	if err := tighten(dir, 0o700); err != nil {
		return err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.Type().IsRegular() {
			if err := tighten(filepath.Join(dir, e.Name()), 0o600); err != nil {
				return err
			}
		}
	}
	return nil
}
