package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// cmdKeygen makes an Ed25519 key pair: OUT.key (PKCS#8 PEM, mode 0600) and
// OUT.pub (the base64 public key, as the config's provisioning_pubkey and
// ota.pubkey want it). One pair signs config QRs, another may sign
// firmware; the private halves never go near a device.
func cmdKeygen(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "provisioning", "write OUT.key (private, 0600) and OUT.pub")
	force := fs.Bool("force", false, "overwrite an existing key")
	if err := fs.Parse(args); err != nil {
		return flagErr(err)
	}
	b64, err := writeKeyPair(*out, *force)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s.key (private, keep it off devices) and %s.pub\npublic key (provisioning_pubkey / ota.pubkey): %s\n", *out, *out, b64)
	return nil
}

// writeKeyPair makes a key pair, writes OUT.key and OUT.pub, and returns
// the public key in base64.
func writeKeyPair(out string, force bool) (string, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", err
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(out+".key", flags, 0o600)
	if errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("%s.key exists: keep it, or -force to replace it", out)
	}
	if err != nil {
		return "", err
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	b64 := base64.StdEncoding.EncodeToString(pub)
	if err := os.WriteFile(out+".pub", []byte(b64+"\n"), 0o644); err != nil {
		return "", err
	}
	return b64, nil
}

// loadPrivateKey reads an Ed25519 private key written by keygen.
func loadPrivateKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s: not PEM", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an Ed25519 key", path)
	}
	return ek, nil
}
