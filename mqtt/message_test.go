package mqtt

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/posagent/posagent/wire"
)

var (
	testAuth = []byte("0123456789abcdef0123456789abcdef")
	t0       = time.Unix(1763880000, 0)
)

func testRSA(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func msg(mod func(*Message)) Message {
	m := Message{ID: "j1", Type: "notify.payment", Dev: "dev-1", IssuedAt: t0, ExpiresAt: t0.Add(time.Minute),
		Body: json.RawMessage(`{"order_id":"o1","amount":100}`)}
	if mod != nil {
		mod(&m)
	}
	return m
}

func mustSign(t *testing.T, m Message, k Keys) string {
	t.Helper()
	s, err := Sign(m, k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerify(t *testing.T) {
	rk := testRSA(t)
	pubDER, _ := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	hsOnly := Policy{Algs: []string{HS256}, Dev: "dev-1", Now: t0}
	both := Policy{Algs: []string{HS256, PS256}, Dev: "dev-1", Now: t0}
	keys := Keys{Auth: testAuth, DevicePub: &rk.PublicKey}

	// alg:none: header {"alg":"none"} and an empty signature.
	noneTok, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{
		"jti": "j1", "type": "notify.payment", "dev": "dev-1", "iat": t0.Unix(), "exp": t0.Add(time.Minute).Unix(),
	}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	// HS256 keyed with the device's public key PEM: the classic RS/PS→HS confusion.
	confused, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"jti": "j1", "type": "notify.payment", "dev": "dev-1", "iat": t0.Unix(), "exp": t0.Add(time.Minute).Unix(),
	}).SignedString(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	good := mustSign(t, msg(nil), Keys{Auth: testAuth})
	parts := strings.Split(good, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tamperedPayload := strings.Replace(string(payload), `"amount":100`, `"amount":900`, 1)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(tamperedPayload)) + "." + parts[2]

	tests := []struct {
		name    string
		token   string
		policy  Policy
		want    error // nil: accepted
		wantMsg string
	}{
		{"valid HS256", good, hsOnly, nil, ""},
		{"valid PS256 when allowed", mustSign(t, msg(func(m *Message) { m.Alg = PS256 }), Keys{Device: rk}), both, nil, ""},
		{"PS256 where only HS256 is allowed", mustSign(t, msg(func(m *Message) { m.Alg = PS256 }), Keys{Device: rk}), hsOnly, ErrSignature, "signing method"},
		{"HS256 keyed with the public key", confused, both, ErrSignature, "signature"},
		{"alg none", noneTok, both, ErrSignature, ""},
		{"wrong HMAC key", mustSign(t, msg(nil), Keys{Auth: []byte("another key another key another k")}), hsOnly, ErrSignature, ""},
		{"tampered payload", tampered, hsOnly, ErrSignature, ""},
		{"truncated", good[:len(good)-5], hsOnly, ErrSignature, ""},
		{"garbage", "not a token", hsOnly, ErrSignature, ""},
		{"empty", "", hsOnly, ErrSignature, ""},
		{"expired", mustSign(t, msg(func(m *Message) { m.ExpiresAt = t0.Add(-time.Second) }), Keys{Auth: testAuth}), hsOnly, ErrClaims, "expired"},
		{"exp equal to now", mustSign(t, msg(func(m *Message) { m.ExpiresAt = t0 }), Keys{Auth: testAuth}), hsOnly, ErrClaims, "expired"},
		{"iat 301 s ahead", mustSign(t, msg(func(m *Message) { m.IssuedAt = t0.Add(301 * time.Second) }), Keys{Auth: testAuth}), hsOnly, ErrClaims, "future"},
		{"iat 299 s ahead", mustSign(t, msg(func(m *Message) { m.IssuedAt = t0.Add(299 * time.Second) }), Keys{Auth: testAuth}), hsOnly, nil, ""},
		{"wrong dev", mustSign(t, msg(func(m *Message) { m.Dev = "dev-2" }), Keys{Auth: testAuth}), hsOnly, ErrClaims, "device"},
		{"no type", mustSign(t, msg(func(m *Message) { m.Type = "" }), Keys{Auth: testAuth}), hsOnly, ErrClaims, "type"},
		{"oversized", strings.Repeat("a", MaxTokenSize+1), hsOnly, ErrSignature, "bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Verify([]byte(tc.token), keys, tc.policy)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if m.ID != "j1" || m.Type != "notify.payment" || string(m.Body) != `{"order_id":"o1","amount":100}` {
					t.Fatalf("decoded %+v", m)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.wantMsg != "" && !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("err %q does not say %q", err, tc.wantMsg)
			}
		})
	}
}

func TestSignRefusesUnknownAlg(t *testing.T) {
	if _, err := Sign(msg(func(m *Message) { m.Alg = "RS256" }), Keys{Auth: testAuth}); err == nil {
		t.Fatal("RS256 signed")
	}
	if _, err := Sign(msg(nil), Keys{}); err == nil {
		t.Fatal("signed without a key")
	}
}

func TestTopicsFor(t *testing.T) {
	tp, err := TopicsFor("", "dev-1")
	if err != nil || tp.Cmd != "pos/v1/dev-1/cmd" || tp.Evt != "pos/v1/dev-1/evt" || tp.State != "pos/v1/dev-1/state" {
		t.Fatalf("%+v %v", tp, err)
	}
	for _, bad := range []struct{ prefix, dev string }{{"p", ""}, {"p", "a/b"}, {"p", "+"}, {"p", "#"}, {"p/#", "d"}, {"/p", "d"}, {"p/", "d"}} {
		if _, err := TopicsFor(bad.prefix, bad.dev); err == nil {
			t.Errorf("TopicsFor(%q, %q) accepted", bad.prefix, bad.dev)
		}
	}
}

func TestBackoff(t *testing.T) {
	min, max := 100*time.Millisecond, time.Second
	for n := 0; n < 12; n++ {
		ceil := min << n
		if ceil > max || n > 4 {
			ceil = max
		}
		for i := 0; i < 50; i++ {
			d := Backoff(n, min, max)
			if d < ceil/2 || d > ceil {
				t.Fatalf("Backoff(%d) = %v, want in [%v, %v]", n, d, ceil/2, ceil)
			}
		}
	}
}

func TestNewIDUnique(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := NewID()
		if len(id) != 36 || seen[id] {
			t.Fatalf("id %q (len %d) repeated or malformed", id, len(id))
		}
		seen[id] = true
	}
}

func FuzzVerify(f *testing.F) {
	good, _ := Sign(msg(nil), Keys{Auth: testAuth})
	f.Add([]byte(good))
	f.Add([]byte("eyJhbGciOiJub25lIn0.e30."))
	f.Add([]byte("a.b.c"))
	f.Fuzz(func(t *testing.T, tok []byte) {
		m, err := Verify(tok, Keys{Auth: testAuth}, Policy{Algs: []string{HS256}, Dev: "dev-1", Now: t0})
		if err == nil && (m.ID == "" || m.Type == "" || m.Dev != "dev-1") {
			t.Fatalf("accepted a token without its claims: %+v", m)
		}
	})
}

// The wire's table of who signs what names the algorithms Sign knows.
func TestWireAlgorithms(t *testing.T) {
	if wire.HS256 != HS256 || wire.PS256 != PS256 {
		t.Fatalf("wire %s/%s, mqtt %s/%s", wire.HS256, wire.PS256, HS256, PS256)
	}
}
