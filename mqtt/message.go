// Package mqtt is the wire between a device and its platform: the signed
// messages both sides exchange (JWS compact tokens, protocol §2), the topics,
// and the device's link to the broker (connect, TLS, will, retained state,
// reconnect, durable outbox). It knows nothing of payments: message bodies are
// opaque JSON to it.
//
// Invariants:
//   - Verify accepts only HS256 under Keys.Auth or PS256 under
//     Keys.DevicePub (of those, only what Policy.Algs lists when it is
//     set), so an RSA key is never taken as an HMAC secret; a token over
//     MaxTokenSize is refused unparsed, and an error wrapping ErrClaims
//     means the signature was good;
//   - events go from the journal's outbox in its order, signed as they are
//     sent, and one is deleted from it only once the broker has
//     acknowledged it on a connection that did not drop meanwhile (or it
//     cannot be read): the others are sent again, in order (at least once);
//   - on each connect device.hello goes before any outbox event: the
//     outbox flows only once its publish has returned;
//   - with a handler set, a command is acknowledged to the broker only
//     after the handler took it; one it did not take stays with the broker
//     (a persistent session) to be sent again on a reconnect;
//   - no state is published after the {"online":false} of Run's shutdown,
//     and the will says the same when the link dies.
package mqtt

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Message is one signed message, command or event, before signing or after
// verification.
type Message struct {
	ID        string          `json:"jti"`
	Type      string          `json:"type"`
	Ref       string          `json:"ref,omitempty"`
	Dev       string          `json:"dev"`
	IssuedAt  time.Time       `json:"-"`
	ExpiresAt time.Time       `json:"-"`
	Body      json.RawMessage `json:"body,omitempty"`
	// Alg is the algorithm the message is (to be) signed with: HS256 for
	// ordinary messages, PS256 for the device's money-out requests.
	Alg string `json:"alg,omitempty"`
}

// claims is the JWT form of a Message.
type claims struct {
	jwt.RegisteredClaims
	Type string          `json:"type"`
	Ref  string          `json:"ref,omitempty"`
	Dev  string          `json:"dev"`
	Body json.RawMessage `json:"body,omitempty"`
}

// Algorithms used on the wire.
const (
	HS256 = "HS256"
	PS256 = "PS256"
	EdDSA = "EdDSA"
)

// MaxTokenSize bounds what is parsed at all: a command is a few hundred bytes;
// anything far larger is refused before any decoding so a hostile publisher
// cannot make the device allocate without limit.
const MaxTokenSize = 64 << 10

// FutureSkew is how far ahead of the device clock a token's iat may be.
const FutureSkew = 300 * time.Second

// NewID returns a random 128-bit identifier in UUIDv4 text form, used for jti.
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error()) // never happens on Linux ≥ 3.17
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Keys holds what one side signs and verifies with.
type Keys struct {
	// Auth is the shared HMAC key of the device (HS256 both ways).
	Auth []byte
	// Device is the device's RSA key: the private half signs PS256 requests
	// on the device; the platform holds only the public half.
	Device *rsa.PrivateKey
	// DevicePub verifies PS256 on the platform side.
	DevicePub *rsa.PublicKey
}

// Sign serialises m as a compact JWS. Alg "" means HS256. The caller sets
// IssuedAt and ExpiresAt; a zero ID gets a new one.
func Sign(m Message, k Keys) (string, error) {
	if m.ID == "" {
		m.ID = NewID()
	}
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			ID:        m.ID,
			IssuedAt:  jwt.NewNumericDate(m.IssuedAt),
			ExpiresAt: jwt.NewNumericDate(m.ExpiresAt),
		},
		Type: m.Type, Ref: m.Ref, Dev: m.Dev, Body: m.Body,
	}
	switch m.Alg {
	case "", HS256:
		if len(k.Auth) == 0 {
			return "", errors.New("sign: no auth key")
		}
		return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(k.Auth)
	case PS256:
		if k.Device == nil {
			return "", errors.New("sign: no device key for PS256")
		}
		return jwt.NewWithClaims(jwt.SigningMethodPS256, c).SignedString(k.Device)
	default:
		return "", fmt.Errorf("sign: algorithm %q not allowed", m.Alg)
	}
}

// Verification errors. A token failing with ErrSignature is dropped with
// no answer; one failing with ErrClaims had a valid signature.
var (
	ErrSignature = errors.New("bad signature or algorithm")
	ErrClaims    = errors.New("bad claims")
)

// Policy says what Verify accepts.
type Policy struct {
	// Algs is the allow-list; HS256 needs Keys.Auth, PS256 Keys.DevicePub.
	Algs []string
	// Dev, when not empty, must equal the token's dev claim.
	Dev string
	// Now is the verifier's clock.
	Now time.Time
}

// Verify parses and checks a compact JWS: the algorithm is on the allow-list
// and matches the key type (so an RSA public key can never be used as an HMAC
// secret), the signature is valid, exp is present and not past, iat is
// present and not more than FutureSkew ahead, jti and type are present, and
// dev matches when asked.
func Verify(token []byte, k Keys, p Policy) (Message, error) {
	if len(token) > MaxTokenSize {
		return Message{}, fmt.Errorf("%w: token of %d bytes", ErrSignature, len(token))
	}
	var c claims
	parser := jwt.NewParser(
		jwt.WithValidMethods(p.Algs),
		jwt.WithoutClaimsValidation(), // claims are checked below, with our clock
		jwt.WithJSONNumber(),
	)
	tok, err := parser.ParseWithClaims(string(token), &c, func(t *jwt.Token) (any, error) {
		switch t.Method {
		case jwt.SigningMethodHS256:
			if len(k.Auth) == 0 {
				return nil, errors.New("no auth key")
			}
			return k.Auth, nil
		case jwt.SigningMethodPS256:
			if k.DevicePub == nil {
				return nil, errors.New("no device public key")
			}
			return k.DevicePub, nil
		}
		return nil, fmt.Errorf("algorithm %v not allowed", t.Header["alg"])
	})
	if err != nil || !tok.Valid {
		return Message{}, fmt.Errorf("%w: %v", ErrSignature, err)
	}
	m := Message{ID: c.ID, Type: c.Type, Ref: c.Ref, Dev: c.Dev, Body: c.Body, Alg: tok.Method.Alg()}
	switch {
	case c.ExpiresAt == nil:
		return m, fmt.Errorf("%w: no exp", ErrClaims)
	case c.IssuedAt == nil:
		return m, fmt.Errorf("%w: no iat", ErrClaims)
	case c.ID == "":
		return m, fmt.Errorf("%w: no jti", ErrClaims)
	case c.Type == "":
		return m, fmt.Errorf("%w: no type", ErrClaims)
	}
	m.IssuedAt, m.ExpiresAt = c.IssuedAt.Time, c.ExpiresAt.Time
	if !p.Now.Before(m.ExpiresAt) {
		return m, fmt.Errorf("%w: expired at %s", ErrClaims, m.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if m.IssuedAt.After(p.Now.Add(FutureSkew)) {
		return m, fmt.Errorf("%w: issued in the future (%s)", ErrClaims, m.IssuedAt.UTC().Format(time.RFC3339))
	}
	if p.Dev != "" && m.Dev != p.Dev {
		return m, fmt.Errorf("%w: for device %q", ErrClaims, m.Dev)
	}
	return m, nil
}
