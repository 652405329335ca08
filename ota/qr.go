package ota

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// QRPrefix starts the text of every configuration QR (protocol §5). A
// scanner line starting with it is never a payment code.
const QRPrefix = "PCFG1."

// MaxQRText bounds what is parsed at all: a config QR is a few hundred
// bytes and a scanner line at most 4 KiB.
const MaxQRText = 4096

// MaxLifetime is the longest a QR may be valid: exp at most 24 h after iat
// (protocol §5), so a photo of an installer's phone is soon useless.
const MaxLifetime = 24 * time.Hour

// FutureSkew is how far ahead of the device clock a QR's iat may be.
const FutureSkew = 300 * time.Second

// Refusal reasons of a QR or a patch. They are logged, sent in
// config.rejected, and name the prompt said (config-refused-REASON).
const (
	ReasonNoKey       = "no_key"        // the device has no provisioning_pubkey
	ReasonMalformed   = "malformed"     // not a PCFG1. JWS at all
	ReasonSignature   = "signature"     // tampered, another key, or not EdDSA
	ReasonExpired     = "expired"       // exp is past
	ReasonNotYetValid = "not_yet_valid" // iat more than FutureSkew ahead
	ReasonLifetime    = "lifetime"      // exp more than 24 h after iat
	ReasonDevice      = "other_device"  // dev is another serial
	ReasonReused      = "reused"        // its jti was used on this device
	ReasonBadConfig   = "bad_config"    // the cfg/patch is not a valid config
	ReasonVersion     = "version"       // config.set version not above the current
	ReasonBusy        = "busy"          // another config is being tried
	ReasonConnect     = "connect"       // the new config did not connect in time
)

// RefusedError says why a QR or a patch was not applied.
type RefusedError struct {
	Reason string
	Msg    string
}

func (e *RefusedError) Error() string { return e.Reason + ": " + e.Msg }

// Refused builds a RefusedError.
func Refused(reason, format string, a ...any) error {
	return &RefusedError{Reason: reason, Msg: fmt.Sprintf(format, a...)}
}

// ReasonOf is the reason of err, "" when err is not a RefusedError.
func ReasonOf(err error) string {
	var r *RefusedError
	if errors.As(err, &r) {
		return r.Reason
	}
	return ""
}

// QR is a verified configuration QR.
type QR struct {
	ID        string // jti: single use per device
	IssuedAt  time.Time
	ExpiresAt time.Time
	Dev       string          // serial it is bound to; "" for any device
	Cfg       json.RawMessage // the config keys to set (a JSON object)
}

// qrClaims is the JWT form. The claim names are protocol §2's (jti, iat,
// exp, dev) plus cfg; the cfg object uses the config file's keys.
type qrClaims struct {
	ID  string           `json:"jti"`
	Iat *jwt.NumericDate `json:"iat"`
	Exp *jwt.NumericDate `json:"exp"`
	Dev string           `json:"dev,omitempty"`
	Cfg json.RawMessage  `json:"cfg"`
}

func (c qrClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.Exp, nil }
func (c qrClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.Iat, nil }
func (c qrClaims) GetNotBefore() (*jwt.NumericDate, error)      { return nil, nil }
func (c qrClaims) GetIssuer() (string, error)                   { return "", nil }
func (c qrClaims) GetSubject() (string, error)                  { return "", nil }
func (c qrClaims) GetAudience() (jwt.ClaimStrings, error)       { return nil, nil }

// SignQR makes the text of a configuration QR: cfg (a JSON object of config
// keys, compacted) valid from now for ttl, bound to serial dev unless "".
// The JWS header is only {"alg":"EdDSA"} and the jti 9 random bytes (72
// bits, unique enough per device), to keep the code small for cheap
// scanners: a typical installer patch gives 440-500 bytes.
func SignQR(cfg json.RawMessage, dev string, now time.Time, ttl time.Duration, key ed25519.PrivateKey) (string, error) {
	if ttl <= 0 || ttl > MaxLifetime {
		return "", fmt.Errorf("ttl %s: must be above 0 and at most %s", ttl, MaxLifetime)
	}
	obj, err := patchObject(cfg)
	if err != nil {
		return "", err
	}
	compact, err := json.Marshal(obj)
	if err != nil {
		return "", err
	}
	var id [9]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", err
	}
	c := qrClaims{
		ID:  base64.RawURLEncoding.EncodeToString(id[:]),
		Iat: jwt.NewNumericDate(now), Exp: jwt.NewNumericDate(now.Add(ttl)),
		Dev: dev, Cfg: compact,
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	delete(tok.Header, "typ")
	s, err := tok.SignedString(key)
	if err != nil {
		return "", err
	}
	return QRPrefix + s, nil
}

// ParseQR verifies the text of a scanned configuration QR: the signature is
// EdDSA by pub (no other algorithm), exp is not past, iat is not more than
// FutureSkew ahead, exp is at most MaxLifetime after iat, jti is present,
// dev (if present) is serial, and cfg is a non-empty JSON object. Errors
// are RefusedErrors. Single use of the jti is the caller's (it needs the
// journal).
func ParseQR(text string, pub ed25519.PublicKey, serial string, now time.Time) (QR, error) {
	if len(pub) != ed25519.PublicKeySize {
		return QR{}, Refused(ReasonNoKey, "no provisioning_pubkey configured")
	}
	if !strings.HasPrefix(text, QRPrefix) || len(text) > MaxQRText {
		return QR{}, Refused(ReasonMalformed, "not a %s text of at most %d bytes", QRPrefix, MaxQRText)
	}
	var c qrClaims
	parser := jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithoutClaimsValidation())
	tok, err := parser.ParseWithClaims(strings.TrimPrefix(text, QRPrefix), &c, func(*jwt.Token) (any, error) {
		return pub, nil
	})
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return QR{}, Refused(ReasonMalformed, "%v", err)
	case err != nil || !tok.Valid:
		return QR{}, Refused(ReasonSignature, "%v", err)
	}
	if c.ID == "" || c.Iat == nil || c.Exp == nil {
		return QR{}, Refused(ReasonMalformed, "jti, iat and exp are required")
	}
	q := QR{ID: c.ID, IssuedAt: c.Iat.Time, ExpiresAt: c.Exp.Time, Dev: c.Dev, Cfg: c.Cfg}
	switch {
	case !now.Before(q.ExpiresAt):
		return q, Refused(ReasonExpired, "expired at %s", q.ExpiresAt.UTC().Format(time.RFC3339))
	case q.IssuedAt.After(now.Add(FutureSkew)):
		return q, Refused(ReasonNotYetValid, "issued in the future (%s)", q.IssuedAt.UTC().Format(time.RFC3339))
	case q.ExpiresAt.Sub(q.IssuedAt) > MaxLifetime:
		return q, Refused(ReasonLifetime, "valid for %s, more than %s", q.ExpiresAt.Sub(q.IssuedAt), MaxLifetime)
	case q.Dev != "" && q.Dev != serial:
		return q, Refused(ReasonDevice, "bound to another device's serial")
	}
	if _, err := patchObject(q.Cfg); err != nil {
		return q, Refused(ReasonBadConfig, "cfg: %v", err)
	}
	return q, nil
}
