package platform

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/posagent/posagent/mqtt"
)

func pemOf(t *testing.T, k *rsa.PrivateKey) string {
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// The platform pins the first key a device announces: a later hello with
// another key — which anyone with the auth key can sign — changes nothing,
// so PS256 requests signed with that key are refused; a hello that proves
// possession of the pinned key rotates it; Rebind lets the next hello pin.
func TestDeviceKeyPinned(t *testing.T) {
	auth := []byte("0123456789abcdef0123456789abcdef")
	c := &Client{prefix: "pos/v1", log: slog.New(slog.NewTextHandler(io.Discard, nil)), now: time.Now, devices: map[string]*Device{}}
	c.AddDevice(Device{ID: "d1", AuthKey: auth})
	keyA, _ := rsa.GenerateKey(rand.Reader, 2048)
	keyB, _ := rsa.GenerateKey(rand.Reader, 2048)
	keyC, _ := rsa.GenerateKey(rand.Reader, 2048)
	hello := func(pub, proof string) {
		body, _ := json.Marshal(map[string]string{"public_key": pub, "key_proof": proof})
		now := time.Now()
		tok, err := mqtt.Sign(mqtt.Message{ID: mqtt.NewID(), Type: "device.hello", Dev: "d1", IssuedAt: now, ExpiresAt: now.Add(time.Minute), Body: body}, mqtt.Keys{Auth: auth})
		if err != nil {
			t.Fatal(err)
		}
		if e := c.decode("pos/v1/d1/evt", []byte(tok)); e.Err != nil {
			t.Fatal(e.Err)
		}
	}
	refund := func(k *rsa.PrivateKey) error {
		now := time.Now()
		tok, err := mqtt.Sign(mqtt.Message{ID: mqtt.NewID(), Type: "refund.request", Dev: "d1", IssuedAt: now, ExpiresAt: now.Add(time.Minute), Body: []byte(`{}`), Alg: mqtt.PS256}, mqtt.Keys{Device: k})
		if err != nil {
			t.Fatal(err)
		}
		return c.decode("pos/v1/d1/evt", []byte(tok)).Err
	}
	hello(pemOf(t, keyA), "")
	if err := refund(keyA); err != nil {
		t.Fatalf("the pinned key's request: %v", err)
	}
	hello(pemOf(t, keyB), "") // an attacker with the auth key
	if err := refund(keyB); err == nil {
		t.Fatal("a request signed with an unpinned key was accepted")
	}
	if d, _ := c.DeviceInfo("d1"); d.KeyRefused != 1 || !d.Pub.Equal(&keyA.PublicKey) {
		t.Fatalf("pinned key replaced: refused %d", d.KeyRefused)
	}
	forged, _ := KeyProof(keyB, "d1", pemOf(t, keyB))
	hello(pemOf(t, keyB), forged) // a proof by the new key itself proves nothing
	if err := refund(keyB); err == nil {
		t.Fatal("a self-signed key proof was accepted")
	}
	proof, err := KeyProof(keyA, "d1", pemOf(t, keyC))
	if err != nil {
		t.Fatal(err)
	}
	hello(pemOf(t, keyC), proof)
	if refund(keyC) != nil || refund(keyA) == nil {
		t.Fatal("a rotation proven by the pinned key did not take")
	}
	c.Rebind("d1")
	hello(pemOf(t, keyB), "")
	if err := refund(keyB); err != nil {
		t.Fatalf("after Rebind the next hello pins: %v", err)
	}
}
