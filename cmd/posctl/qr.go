package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/png"
	"io"
	"os"
	"time"

	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"
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
	size := fs.Int("size", 512, "PNG width and height in pixels (a code that needs more is drawn larger)")
	scan := fs.Bool("scan", false, "scan it in the running dev kit (as an installer shows it to the device's scanner)")
	kit := fs.String("kit", defaultKitDir, "the dev kit's folder, for -scan")
	if err := fs.Parse(args); err != nil {
		return flagErr(err)
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
	fmt.Fprintf(stdout, "%d bytes, valid until %s\n", len(text), now().Add(*ttl).Format("2006-01-02 15:04:05 MST"))
	if *out != "" {
		img, err := encodeQR(text, *size)
		if err != nil {
			return err
		}
		if err := writePNG(*out, img); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s\n", *out)
	}
	if *scan {
		if err := scanInKit(*kit, text); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "scanned it in the dev kit at %s: the kit's terminal shows what the device says of it\n", *kit)
	}
	return nil
}

// encodeQR draws text as a QR code of at least size×size pixels that reads
// back. ZXing's reader (which many Android cashier apps scan with) misses a
// few percent of codes as dense as a config QR, whichever encoder drew
// them: its finder-pattern search is fooled by the data at one layout and
// not at another. So the picture is decoded again here, and if it does not
// read back it is drawn at the next QR version up (a new layout and mask),
// a few versions at most.
//
// Medium error correction: a phone screen photographs cleanly, and the code
// stays a size cheap scanners read.
func encodeQR(text string, size int) (image.Image, error) {
	q, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		return nil, fmt.Errorf("qr: %w", err)
	}
	for v := q.VersionNumber; v <= min(q.VersionNumber+3, 40); v++ {
		if v > q.VersionNumber {
			if q, err = qrcode.NewWithForcedVersion(text, v, qrcode.Medium); err != nil {
				return nil, fmt.Errorf("qr: %w", err)
			}
		}
		if img := q.Image(size); readsBack(img, text) {
			return img, nil
		}
	}
	return nil, errors.New("qr: no QR version up to 3 above the smallest reads back")
}

func readsBack(img image.Image, text string) bool {
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return false
	}
	res, err := zxqr.NewQRCodeReader().Decode(bmp, nil)
	return err == nil && res.GetText() == text
}

func writePNG(path string, img image.Image) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
