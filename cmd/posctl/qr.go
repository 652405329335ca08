package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/skip2/go-qrcode"

	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/ota"
)

// cmdQR makes a configuration QR (protocol §5) for an installer: the PCFG1.
// text on stdout with its size, and a PNG to show on a phone.
func cmdQR(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("qr", flag.ContinueOnError)
	fs.SetOutput(stderr)
	patchPath := fs.String("config", "", "JSON file of the config keys to set (the config file's keys)")
	keyPath := fs.String("key", "provisioning.key", "provisioning private key (posctl keygen)")
	dev := fs.String("dev", "", "bind the QR to this device serial (empty: any device)")
	ttl := fs.Duration("ttl", 15*time.Minute, "validity (at most 24h)")
	out := fs.String("o", "", "write the QR as a PNG to this file")
	size := fs.Int("size", 512, "PNG width and height in pixels")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	if *patchPath == "" {
		return usageError("qr: -config PATCH.json is required")
	}
	patch, err := os.ReadFile(*patchPath)
	if err != nil {
		return err
	}
	// Catch a misspelt key here, not on the device at the counter.
	probe := config.Default()
	if err := config.Decode(patch, &probe); err != nil {
		return fmt.Errorf("%s: %w", *patchPath, err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, patch); err != nil {
		return fmt.Errorf("%s: %w", *patchPath, err)
	}
	key, err := loadPrivateKey(*keyPath)
	if err != nil {
		return err
	}
	text, err := ota.SignQR(compact.Bytes(), *dev, time.Now(), *ttl, key)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, text)
	fmt.Fprintf(stdout, "%d bytes, valid until %s\n", len(text), time.Now().Add(*ttl).Format(time.RFC3339))
	if *out != "" {
		// Medium error correction: a phone screen photographs cleanly, and
		// the code stays a size cheap scanners read.
		if err := qrcode.WriteFile(text, qrcode.Medium, *size, *out); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s\n", *out)
	}
	return nil
}
