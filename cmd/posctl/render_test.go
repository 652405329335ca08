package main

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/posagent/posagent/printer"
)

func TestRenderCommand(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "001.bin")
	r := printer.Receipt{Kind: printer.KindPay, Store: "示例小店", OrderID: "o-1", Amount: 12850}
	os.WriteFile(bin, printer.Encode(r.Markup(48), printer.Generic80()), 0o644)
	out := filepath.Join(dir, "r.png")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"render", bin, "-paper", "80", "-o", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if w := img.Bounds().Dx(); w != 576 {
		t.Errorf("PNG is %d dots wide, want 576", w)
	}

	// Default output name; bytes that are not ESC/POS are an error.
	bad := filepath.Join(dir, "bad.bin")
	os.WriteFile(bad, []byte{0x1b, '@', 0x1b, 't', 1}, 0o644)
	if code := run([]string{"render", bad}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "offset 2") {
		t.Errorf("bad file: exit %d, %s", code, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "bad.png")); err != nil {
		t.Errorf("no PNG of what decoded: %v", err)
	}
	for _, args := range [][]string{{"render"}, {"render", "a", "b"}, {"render", "-paper", "76", bin}} {
		if code := run(args, &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
