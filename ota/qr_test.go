package ota

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var testPatch = json.RawMessage(`{"mqtt":{"url":"tcp://10.0.0.5:1883"},"device_id":"dev-0002"}`)

func newKey(t testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func TestParseQR(t *testing.T) {
	pub, priv := newKey(t)
	_, other := newKey(t)
	now := time.Unix(1_800_000_000, 0)
	sign := func(key ed25519.PrivateKey, dev string, at time.Time, ttl time.Duration) string {
		s, err := SignQR(testPatch, dev, at, ttl, key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// A token with a lifetime SignQR refuses to make, signed by hand.
	long := func() string {
		c := qrClaims{ID: "x", Iat: jwt.NewNumericDate(now), Exp: jwt.NewNumericDate(now.Add(25 * time.Hour)), Cfg: testPatch}
		s, _ := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c).SignedString(priv)
		return QRPrefix + s
	}
	hs := func() string {
		c := qrClaims{ID: "x", Iat: jwt.NewNumericDate(now), Exp: jwt.NewNumericDate(now.Add(time.Hour)), Cfg: testPatch}
		s, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(pub))
		return QRPrefix + s
	}
	none := func() string {
		c := qrClaims{ID: "x", Iat: jwt.NewNumericDate(now), Exp: jwt.NewNumericDate(now.Add(time.Hour)), Cfg: testPatch}
		s, _ := jwt.NewWithClaims(jwt.SigningMethodNone, c).SignedString(jwt.UnsafeAllowNoneSignatureType)
		return QRPrefix + s
	}
	tamper := func(s string) string {
		parts := strings.Split(strings.TrimPrefix(s, QRPrefix), ".")
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		payload = []byte(strings.Replace(string(payload), "10.0.0.5", "10.6.6.6", 1))
		parts[1] = base64.RawURLEncoding.EncodeToString(payload)
		return QRPrefix + strings.Join(parts, ".")
	}
	badCfg := func(cfg string) string {
		c := qrClaims{ID: "x", Iat: jwt.NewNumericDate(now), Exp: jwt.NewNumericDate(now.Add(time.Hour)), Cfg: json.RawMessage(cfg)}
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
		s, _ := tok.SignedString(priv)
		return QRPrefix + s
	}
	tests := []struct {
		name, text, serial string
		pub                ed25519.PublicKey
		reason             string
	}{
		{"valid", sign(priv, "", now, 15*time.Minute), "SN1", pub, ""},
		{"valid bound", sign(priv, "SN1", now, time.Hour), "SN1", pub, ""},
		{"clock a little behind", sign(priv, "", now.Add(4*time.Minute), time.Hour), "SN1", pub, ""},
		{"no key", sign(priv, "", now, time.Hour), "SN1", nil, ReasonNoKey},
		{"expired", sign(priv, "", now.Add(-2*time.Hour), time.Hour), "SN1", pub, ReasonExpired},
		{"future", sign(priv, "", now.Add(10*time.Minute), time.Hour), "SN1", pub, ReasonNotYetValid},
		{"lifetime", long(), "SN1", pub, ReasonLifetime},
		{"other device", sign(priv, "SN2", now, time.Hour), "SN1", pub, ReasonDevice},
		{"bound, device has no serial", sign(priv, "SN2", now, time.Hour), "", pub, ReasonDevice},
		{"wrong key", sign(other, "", now, time.Hour), "SN1", pub, ReasonSignature},
		{"tampered", tamper(sign(priv, "", now, time.Hour)), "SN1", pub, ReasonSignature},
		{"HS256 with the public key", hs(), "SN1", pub, ReasonSignature},
		{"alg none", none(), "SN1", pub, ReasonSignature},
		{"no prefix", strings.TrimPrefix(sign(priv, "", now, time.Hour), QRPrefix), "SN1", pub, ReasonMalformed},
		{"garbage", QRPrefix + "a.b.c", "SN1", pub, ReasonMalformed},
		{"too long", QRPrefix + strings.Repeat("a", MaxQRText), "SN1", pub, ReasonMalformed},
		{"cfg not an object", badCfg(`[1]`), "SN1", pub, ReasonBadConfig},
		{"cfg empty", badCfg(`{}`), "SN1", pub, ReasonBadConfig},
		{"cfg sets data_dir", badCfg(`{"data_dir":"/tmp"}`), "SN1", pub, ReasonBadConfig},
		{"cfg sets ota.dir", badCfg(`{"ota":{"dir":"/tmp"}}`), "SN1", pub, ReasonBadConfig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, err := ParseQR(tc.text, tc.pub, tc.serial, now)
			if got := ReasonOf(err); got != tc.reason || (tc.reason != "" && err == nil) {
				t.Fatalf("reason %q (err %v), want %q", got, err, tc.reason)
			}
			if tc.reason == "" && (q.ID == "" || string(q.Cfg) != string(mustCompact(t, testPatch))) {
				t.Errorf("parsed %+v", q)
			}
		})
	}
}

func mustCompact(t *testing.T, raw json.RawMessage) []byte {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v)
	return b
}

func TestSignQRRefusesLongTTL(t *testing.T) {
	_, priv := newKey(t)
	if _, err := SignQR(testPatch, "", time.Now(), 25*time.Hour, priv); err == nil {
		t.Error("a 25 h QR was made")
	}
	if _, err := SignQR(json.RawMessage(`{"serial":"x"}`), "", time.Now(), time.Hour, priv); err == nil {
		t.Error("a QR setting the serial was made")
	}
}

// FuzzParseQR: whatever a scanner delivers, ParseQR never panics, and it
// accepts only what the key signed.
func FuzzParseQR(f *testing.F) {
	pub, priv := newKey(f)
	now := time.Unix(1_800_000_000, 0)
	good, _ := SignQR(testPatch, "SN1", now, time.Hour, priv)
	f.Add(good)
	f.Add(QRPrefix)
	f.Add(QRPrefix + "e30.e30.")
	f.Add(QRPrefix + "eyJhbGciOiJFZERTQSJ9.eyJjZmciOnt9fQ.AAAA")
	f.Add(good[:len(good)-3])
	f.Fuzz(func(t *testing.T, text string) {
		q, err := ParseQR(text, pub, "SN1", now)
		if err == nil && text != good {
			// Only a token the key signed verifies; base64 padding bits
			// make a few other spellings of the same signature decode alike.
			parts := strings.Split(strings.TrimPrefix(text, QRPrefix), ".")
			gp := strings.Split(strings.TrimPrefix(good, QRPrefix), ".")
			if len(parts) != 3 || parts[0] != gp[0] || parts[1] != gp[1] {
				t.Fatalf("accepted a token the key did not sign: %q → %+v", text, q)
			}
		}
		if err != nil && ReasonOf(err) == "" {
			t.Fatalf("error without a reason: %v", err)
		}
	})
}
