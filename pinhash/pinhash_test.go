package pinhash

import (
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"golang.org/x/crypto/scrypt"
)

// The format round-trips, and a hash made elsewhere from the RFC 7914
// parameters verifies: RFC 7914 §12's second vector ("password", salt
// "NaCl", N=1024 r=8 p=16, 64 bytes).
func TestVerifyRFC7914Vector(t *testing.T) {
	want, _ := hex.DecodeString("fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162" +
		"2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640")
	h := Hash{N: 1024, R: 8, P: 16, Salt: []byte("NaCl"), Key: want}
	// The salt is shorter than a roster's must be; check the key itself.
	key, err := scrypt.Key([]byte("password"), h.Salt, h.N, h.R, h.P, 64)
	if err != nil || hex.EncodeToString(key) != hex.EncodeToString(want) {
		t.Fatalf("scrypt vector: %x %v", key, err)
	}
	if !h.Verify("password") || h.Verify("passwore") {
		t.Fatal("Verify of the RFC vector")
	}
	if _, err := Parse(h.String()); err == nil || !strings.Contains(err.Error(), "salt") {
		t.Fatalf("a 4-byte salt is accepted: %v", err)
	}
}

func TestMakeVerify(t *testing.T) {
	s, err := Make("2468", MinN, 8, 1)
	if err != nil {
		t.Fatal(err)
	}
	h, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse(%q): %v", s, err)
	}
	if h.String() != s || !h.Verify("2468") || h.Verify("2469") || h.Verify("") {
		t.Fatalf("round trip of %q", s)
	}
	s2, _ := Make("2468", MinN, 8, 1)
	if s2 == s {
		t.Fatal("two hashes of one PIN are equal: no fresh salt")
	}
}

func TestParseRefuses(t *testing.T) {
	salt := base64.StdEncoding.EncodeToString(make([]byte, 16))
	key := base64.StdEncoding.EncodeToString(make([]byte, 32))
	for _, c := range []struct{ in, want string }{
		{"", "must be"},
		{"bcrypt:1024:8:1:" + salt + ":" + key, "must be"},
		{"scrypt:1024:8:1:" + salt, "must be"},
		{"scrypt:1000:8:1:" + salt + ":" + key, "power of two"},
		{"scrypt:512:8:1:" + salt + ":" + key, "power of two"},
		{"scrypt:2097152:8:1:" + salt + ":" + key, "power of two"},
		{"scrypt:1048576:8:1:" + salt + ":" + key, "128·N·r"},
		{"scrypt:1024:8:17:" + salt + ":" + key, "p must"},
		{"scrypt:x:8:1:" + salt + ":" + key, "N must"},
		{"scrypt:1024:0:1:" + salt + ":" + key, "r must"},
		{"scrypt:1024:8:1:!!:" + key, "salt"},
		{"scrypt:1024:8:1:" + salt + ":" + base64.StdEncoding.EncodeToString(make([]byte, 8)), "key"},
	} {
		if _, err := Parse(c.in); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q) = %v, want an error with %q", c.in, err, c.want)
		}
	}
	if _, err := Parse("scrypt:16384:8:1:" + salt + ":" + key); err != nil {
		t.Errorf("the default parameters: %v", err)
	}
}

// FuzzParse: a pin_hash comes from the platform; parsing never panics and
// what parses is within the bounds (so a check cannot exhaust memory).
func FuzzParse(f *testing.F) {
	f.Add("scrypt:16384:8:1:AAAAAAAAAAAAAAAAAAAAAA==:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	f.Add("scrypt:1024:8:1::")
	f.Add("scrypt:-1:-1:-1:a:b")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := Parse(s)
		if err != nil {
			return
		}
		if 128*h.N*h.R > MaxMemory || h.P > MaxP || len(h.Salt) < MinSalt || len(h.Key) > MaxKey {
			t.Fatalf("%q parsed out of bounds: %+v", s, h)
		}
	})
}
