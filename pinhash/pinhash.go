// Package pinhash holds the staff PIN hash of the roster (protocol
// extension, docs/protocol.md §10):
//
//	scrypt:N:r:p:<salt, base64>:<key, base64>
//
// key = scrypt(PIN, salt, N, r, p, len(key)) (RFC 7914), standard base64
// with padding. scrypt is memory-hard, so a roster copied off a device
// does not give its PINs up to a GPU in an afternoon; any platform language
// has it (Python hashlib.scrypt, Java Bouncy Castle, Node crypto.scrypt).
//
// Invariants:
//   - Parse accepts only that form, with N a power of two in MinN..MaxN,
//     128·N·r at most MaxMemory, p at most MaxP, a salt of at least
//     MinSalt bytes and a key of MinKey to MaxKey bytes, so checking a PIN
//     against a parsed hash never needs more than MaxMemory for scrypt's
//     table, whatever the roster says;
//   - Make refuses parameters out of those bounds and returns only what
//     Parse accepts, with a fresh random 16-byte salt and a 32-byte key;
//   - Parse(h.String()) gives back any parsed h, field for field;
//   - Verify compares the keys in constant time and is false whenever
//     scrypt fails (a zero Hash).
package pinhash

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/scrypt"
)

// Bounds of what a device accepts. The memory one matters most: checking a
// PIN takes 128·N·r bytes, and a POS terminal has a few hundred MB.
const (
	MinN      = 1 << 10
	MaxN      = 1 << 20
	MaxMemory = 64 << 20 // 128·N·r
	MaxP      = 16
	MinSalt   = 8
	MinKey    = 16
	MaxKey    = 64
)

// Recommended parameters for a device check: 16 MB, about 0.1 s on a
// Cortex-A53 (the OWASP scrypt minimum is N=2^17 r=8 p=1 for servers; a
// device holds the hash only for PINs rate-limited to a few tries).
const (
	DefaultN = 1 << 14
	DefaultR = 8
	DefaultP = 1
)

// Hash is a parsed pin_hash.
type Hash struct {
	N, R, P   int
	Salt, Key []byte
}

// Parse reads a pin_hash, checking it is within the bounds above.
func Parse(s string) (Hash, error) {
	var h Hash
	f := strings.Split(s, ":")
	if len(f) != 6 || f[0] != "scrypt" {
		return h, errors.New(`pin_hash must be "scrypt:N:r:p:<salt base64>:<key base64>"`)
	}
	var err error
	for i, dst := range []*int{&h.N, &h.R, &h.P} {
		if *dst, err = strconv.Atoi(f[1+i]); err != nil || *dst <= 0 {
			return h, fmt.Errorf("pin_hash: %s must be a positive integer", []string{"N", "r", "p"}[i])
		}
	}
	if err := checkParams(h.N, h.R, h.P); err != nil {
		return h, err
	}
	if h.Salt, err = base64.StdEncoding.DecodeString(f[4]); err != nil || len(h.Salt) < MinSalt {
		return h, fmt.Errorf("pin_hash: salt must be base64 of at least %d bytes", MinSalt)
	}
	if h.Key, err = base64.StdEncoding.DecodeString(f[5]); err != nil || len(h.Key) < MinKey || len(h.Key) > MaxKey {
		return h, fmt.Errorf("pin_hash: key must be base64 of %d..%d bytes", MinKey, MaxKey)
	}
	return h, nil
}

func checkParams(n, r, p int) error {
	switch {
	case n < MinN || n > MaxN || n&(n-1) != 0:
		return fmt.Errorf("pin_hash: N must be a power of two in %d..%d", MinN, MaxN)
	case r <= 0 || r > MaxMemory/128/n:
		return fmt.Errorf("pin_hash: r must be positive and 128·N·r at most %d bytes", MaxMemory)
	case p <= 0 || p > MaxP:
		return fmt.Errorf("pin_hash: p must be 1..%d", MaxP)
	}
	return nil
}

// String writes h as a pin_hash.
func (h Hash) String() string {
	return fmt.Sprintf("scrypt:%d:%d:%d:%s:%s", h.N, h.R, h.P,
		base64.StdEncoding.EncodeToString(h.Salt), base64.StdEncoding.EncodeToString(h.Key))
}

// Make hashes pin with a fresh 16-byte salt and a 32-byte key.
func Make(pin string, n, r, p int) (string, error) {
	if err := checkParams(n, r, p); err != nil {
		return "", err
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key, err := scrypt.Key([]byte(pin), salt, n, r, p, 32)
	if err != nil {
		return "", err
	}
	h := Hash{N: n, R: r, P: p, Salt: salt, Key: key}
	if _, err := Parse(h.String()); err != nil {
		return "", err
	}
	return h.String(), nil
}

// Verify says whether pin is the one h was made from, in constant time
// over the key.
func (h Hash) Verify(pin string) bool {
	key, err := scrypt.Key([]byte(pin), h.Salt, h.N, h.R, h.P, len(h.Key))
	return err == nil && subtle.ConstantTimeCompare(key, h.Key) == 1
}
