package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"
)

// Every config QR posctl draws reads back with ZXing's reader, including
// the few percent whose default mask pattern that reader cannot find in.
// The texts are random, as long as a typical config QR (protocol §5).
func TestEncodeQRReadsBack(t *testing.T) {
	const n = 200
	for i := 0; i < n; i++ {
		b := make([]byte, 340)
		rand.Read(b)
		text := "PCFG1." + base64.RawURLEncoding.EncodeToString(b)
		img, err := encodeQR(text, 512)
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		if s := img.Bounds().Size(); s.X < 512 || s.Y < 512 {
			t.Fatalf("picture %v, want at least 512×512", s)
		}
		// Through the PNG file, as the installer's phone shows it.
		path := filepath.Join(t.TempDir(), "qr.png")
		if err := writePNG(path, img); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		pic, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		bmp, err := gozxing.NewBinaryBitmapFromImage(pic)
		if err != nil {
			t.Fatal(err)
		}
		res, err := zxqr.NewQRCodeReader().Decode(bmp, nil)
		if err != nil || res.GetText() != text {
			t.Fatalf("%d: QR does not read back: %v", i, err)
		}
	}
}

func TestEncodeQRTooLong(t *testing.T) {
	text := string(bytes.Repeat([]byte("x"), 4000)) // over a version 40 code at level M
	if _, err := encodeQR(text, 512); err == nil {
		t.Fatal("a text no QR code holds was drawn")
	}
}
