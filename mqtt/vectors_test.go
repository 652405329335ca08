package mqtt

import (
	"bufio"
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"sort"
	"strings"
	"testing"
	"time"
)

// The test vectors of docs/protocol.md ("Test vectors"), read from the doc
// itself so that the doc and the signing code cannot drift apart. A block
// of the doc is a vector part when its fence's info string is
//
//	```<lang> posagent-vector <name> <part>
//
// with part header, claims or token (name "keys" holds the keys: parts
// auth-key, rsa-private, rsa-public). Each token must verify with the
// project's verifier, decode to exactly the header and claims shown, and,
// for HS256, be re-made byte for byte by signing the claims shown.
//
// POSAGENT_VECTORS=print go test -run TestPrintProtocolVectors ./mqtt/ -v
// prints the tokens the signing code makes for the claims in the doc.

const vectorDoc = "../docs/protocol.md"

// requiredVectors must be in the doc: a command and an event signed HS256
// with the auth key, and a money-going-back request signed PS256 with the
// device key.
var requiredVectors = []string{"hs256-command", "hs256-event", "ps256-refund-request"}

type docVector struct {
	name                  string
	header, claims, token string
}

type docKeys struct {
	auth []byte
	priv *rsa.PrivateKey
	pub  *rsa.PublicKey
}

// readVectorDoc extracts the vector blocks of the doc.
func readVectorDoc(t *testing.T) (docKeys, []docVector) {
	t.Helper()
	raw, err := os.ReadFile(vectorDoc)
	if err != nil {
		t.Fatal(err)
	}
	blocks := map[string]map[string]string{}
	var name, part string
	var body strings.Builder
	in := false
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case !in && strings.HasPrefix(trimmed, "```"):
			in = true
			name, part = "", ""
			body.Reset()
			f := strings.Fields(strings.TrimPrefix(trimmed, "```"))
			if len(f) >= 1 && f[0] == "posagent-vector" {
				f = append([]string{""}, f...)
			}
			if len(f) == 4 && f[1] == "posagent-vector" {
				name, part = f[2], f[3]
			} else if len(f) > 1 && f[1] == "posagent-vector" {
				t.Fatalf("%s: a vector fence needs a name and a part: %q", vectorDoc, line)
			}
		case in && trimmed == "```":
			in = false
			if name == "" {
				continue
			}
			if blocks[name] == nil {
				blocks[name] = map[string]string{}
			}
			if _, dup := blocks[name][part]; dup {
				t.Fatalf("%s: vector %s has two %s blocks", vectorDoc, name, part)
			}
			blocks[name][part] = strings.TrimSpace(body.String())
		case in:
			body.WriteString(line)
			body.WriteString("\n")
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if in {
		t.Fatalf("%s: a code block is not closed", vectorDoc)
	}

	var k docKeys
	kb := blocks["keys"]
	if kb == nil {
		t.Fatalf("%s: no posagent-vector keys blocks", vectorDoc)
	}
	delete(blocks, "keys")
	if k.auth, err = base64.StdEncoding.DecodeString(kb["auth-key"]); err != nil || len(k.auth) < 32 {
		t.Fatalf("keys auth-key: must be base64 of at least 32 bytes: %v (%d bytes)", err, len(k.auth))
	}
	if b, _ := pem.Decode([]byte(kb["rsa-private"])); b == nil || b.Type != "PRIVATE KEY" {
		t.Fatal("keys rsa-private: not a PEM PRIVATE KEY (PKCS #8) block")
	} else if key, err := x509.ParsePKCS8PrivateKey(b.Bytes); err != nil {
		t.Fatalf("keys rsa-private: %v", err)
	} else if rk, ok := key.(*rsa.PrivateKey); !ok || rk.N.BitLen() != 2048 {
		t.Fatal("keys rsa-private: not a 2048-bit RSA key")
	} else {
		k.priv = rk
	}
	if b, _ := pem.Decode([]byte(kb["rsa-public"])); b == nil || b.Type != "PUBLIC KEY" {
		t.Fatal("keys rsa-public: not a PEM PUBLIC KEY (SubjectPublicKeyInfo) block")
	} else if key, err := x509.ParsePKIXPublicKey(b.Bytes); err != nil {
		t.Fatalf("keys rsa-public: %v", err)
	} else if rk, ok := key.(*rsa.PublicKey); !ok {
		t.Fatal("keys rsa-public: not an RSA key")
	} else {
		k.pub = rk
	}
	if !k.pub.Equal(&k.priv.PublicKey) {
		t.Fatal("keys: rsa-public is not the public half of rsa-private")
	}

	var vs []docVector
	for n, parts := range blocks {
		for p := range parts {
			if p != "header" && p != "claims" && p != "token" {
				t.Fatalf("vector %s: unknown part %q", n, p)
			}
		}
		if parts["header"] == "" || parts["claims"] == "" || parts["token"] == "" {
			t.Fatalf("vector %s: needs header, claims and token blocks", n)
		}
		vs = append(vs, docVector{name: n, header: parts["header"], claims: parts["claims"], token: parts["token"]})
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].name < vs[j].name })
	for _, want := range requiredVectors {
		found := false
		for _, v := range vs {
			found = found || v.name == want
		}
		if !found {
			t.Errorf("%s: vector %s is missing", vectorDoc, want)
		}
	}
	return k, vs
}

// vectorClaims is the claim set as the doc shows it, decoded strictly: a
// claim the signing code does not make is an error.
type vectorClaims struct {
	Exp  int64           `json:"exp"`
	Iat  int64           `json:"iat"`
	Jti  string          `json:"jti"`
	Type string          `json:"type"`
	Ref  string          `json:"ref"`
	Dev  string          `json:"dev"`
	Body json.RawMessage `json:"body"`
}

func (v docVector) message(t *testing.T) (Message, vectorClaims) {
	t.Helper()
	var c vectorClaims
	dec := json.NewDecoder(strings.NewReader(v.claims))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("vector %s: claims: %v", v.name, err)
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal([]byte(v.header), &h); err != nil {
		t.Fatalf("vector %s: header: %v", v.name, err)
	}
	return Message{ID: c.Jti, Type: c.Type, Ref: c.Ref, Dev: c.Dev, Body: c.Body, Alg: h.Alg,
		IssuedAt: time.Unix(c.Iat, 0), ExpiresAt: time.Unix(c.Exp, 0)}, c
}

func TestProtocolVectors(t *testing.T) {
	k, vs := readVectorDoc(t)
	keys := Keys{Auth: k.auth, DevicePub: k.pub}
	for _, v := range vs {
		t.Run(v.name, func(t *testing.T) {
			m, c := v.message(t)
			parts := strings.Split(v.token, ".")
			if len(parts) != 3 {
				t.Fatalf("token: not a compact JWS (three dot-separated parts): %q", v.token)
			}
			header, err1 := base64.RawURLEncoding.DecodeString(parts[0])
			payload, err2 := base64.RawURLEncoding.DecodeString(parts[1])
			if err := errors.Join(err1, err2); err != nil {
				t.Fatalf("token: not base64url without padding: %v", err)
			}
			if string(header) != v.header {
				t.Errorf("token's header is\n%s\nnot the header shown\n%s", header, v.header)
			}
			if string(payload) != v.claims {
				t.Errorf("token's claims are\n%s\nnot the claims shown\n%s", payload, v.claims)
			}

			// The project's verifier, with the clock at the token's iat.
			got, err := Verify([]byte(v.token), keys, Policy{Algs: []string{m.Alg}, Dev: c.Dev, Now: m.IssuedAt})
			if err != nil {
				t.Fatalf("the token does not verify: %v", err)
			}
			if got.ID != c.Jti || got.Type != c.Type || got.Ref != c.Ref || got.Dev != c.Dev || got.Alg != m.Alg ||
				got.IssuedAt.Unix() != c.Iat || got.ExpiresAt.Unix() != c.Exp || !bytes.Equal(got.Body, c.Body) {
				t.Errorf("verified message (jti %s, type %s, ref %q, dev %s, alg %s, iat %d, exp %d, body %s) is not the claims shown\n%s",
					got.ID, got.Type, got.Ref, got.Dev, got.Alg, got.IssuedAt.Unix(), got.ExpiresAt.Unix(), got.Body, v.claims)
			}

			switch m.Alg {
			case HS256:
				// Deterministic: the signing code makes the same token.
				again, err := Sign(m, Keys{Auth: k.auth})
				if err != nil {
					t.Fatal(err)
				}
				if again != v.token {
					t.Errorf("signing the claims shown with the auth key gives\n%s\nnot the token shown\n%s", again, v.token)
				}
			case PS256:
				// Randomized (RSASSA-PSS salt): verify only. The device's
				// command policy (HS256 only) refuses it, and so does an
				// HS256 check keyed with the auth key.
				if _, err := Verify([]byte(v.token), keys, Policy{Algs: []string{HS256}, Dev: c.Dev, Now: m.IssuedAt}); !errors.Is(err, ErrSignature) {
					t.Errorf("a PS256 token passed an HS256-only policy: %v", err)
				}
				if _, err := Verify([]byte(v.token), Keys{Auth: k.auth}, Policy{Algs: []string{HS256, PS256}, Dev: c.Dev, Now: m.IssuedAt}); !errors.Is(err, ErrSignature) {
					t.Errorf("a PS256 token verified without the device's public key: %v", err)
				}
			default:
				t.Fatalf("header alg %q: the vectors are HS256 or PS256", m.Alg)
			}
		})
	}
}

// TestPrintProtocolVectors prints, for the claims in the doc, the header,
// the claims as the signing code serialises them, and a token (a new one
// each run for PS256). It runs only with POSAGENT_VECTORS=print.
func TestPrintProtocolVectors(t *testing.T) {
	if os.Getenv("POSAGENT_VECTORS") != "print" {
		t.Skip("set POSAGENT_VECTORS=print to print the doc's vectors")
	}
	k, vs := readVectorDoc(t)
	for _, v := range vs {
		m, _ := v.message(t)
		tok, err := Sign(m, Keys{Auth: k.auth, Device: k.priv})
		if err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		p := strings.Split(tok, ".")
		h, _ := base64.RawURLEncoding.DecodeString(p[0])
		c, _ := base64.RawURLEncoding.DecodeString(p[1])
		t.Logf("vector %s\nheader %s\nclaims %s\ntoken  %s", v.name, h, c, tok)
	}
}
