package audioout

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestWAVDirWritesCanonicalWAV(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "sub") // created by Open
	out, err := Open("wav:" + dir)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	pcm := []int16{0, 1, -1, 32767, -32768, 1234, -4321}
	if err := out.Play(context.Background(), "order-42", pcm); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("dir: %v, %v; want mode 0755", fi.Mode(), err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "order-42.wav"))
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	if len(b) != 44+2*len(pcm) {
		t.Fatalf("file is %d bytes, want %d", len(b), 44+2*len(pcm))
	}
	for _, c := range []struct {
		name      string
		got, want uint32
	}{
		{"RIFF", le.Uint32(b[0:]), le.Uint32([]byte("RIFF"))},
		{"RIFF size", le.Uint32(b[4:]), uint32(36 + 2*len(pcm))},
		{"WAVE", le.Uint32(b[8:]), le.Uint32([]byte("WAVE"))},
		{"fmt id", le.Uint32(b[12:]), le.Uint32([]byte("fmt "))},
		{"fmt size", le.Uint32(b[16:]), 16},
		{"format PCM", uint32(le.Uint16(b[20:])), 1},
		{"channels", uint32(le.Uint16(b[22:])), 1},
		{"sample rate", le.Uint32(b[24:]), 16000},
		{"byte rate", le.Uint32(b[28:]), 32000},
		{"block align", uint32(le.Uint16(b[32:])), 2},
		{"bits", uint32(le.Uint16(b[34:])), 16},
		{"data id", le.Uint32(b[36:]), le.Uint32([]byte("data"))},
		{"data size", le.Uint32(b[40:]), uint32(2 * len(pcm))},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	for i, s := range pcm {
		if got := int16(le.Uint16(b[44+2*i:])); got != s {
			t.Errorf("sample %d = %d, want %d", i, got, s)
		}
	}
	// No temp files left behind.
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("dir holds %d entries, want only order-42.wav", len(ents))
	}
}

// A temporary file left by a process killed mid-write is removed when the
// directory is opened again; finished announcements stay.
func TestWAVDirRemovesStaleTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{".tmp-123.wav", ".tmp-9.wav", "order-1.wav"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := OpenWAVDir(dir); err != nil {
		t.Fatal(err)
	}
	var names []string
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"order-1.wav"}) {
		t.Errorf("dir holds %v, want [order-1.wav]", names)
	}
}

func TestWAVDirSanitisesIDs(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "out")
	w, err := OpenWAVDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{
		"../escape":              ".._escape.wav",
		"../../etc/x":            ".._.._etc_x.wav",
		"/abs/path":              "_abs_path.wav",
		"a\\b":                   "a_b.wav",
		"..":                     "_.wav",
		"":                       "_.wav",
		"订单1":                    "______1.wav", // each byte of UTF-8 becomes _
		"ok_ID-1.2":              "ok_ID-1.2.wav",
		"nul\x00byte":            "nul_byte.wav",
		strings.Repeat("x", 300): strings.Repeat("x", 200) + ".wav",
	} {
		if err := w.Play(context.Background(), id, []int16{1}); err != nil {
			t.Fatalf("%q: %v", id, err)
		}
		if got := filepath.Base(w.Path(id)); got != want {
			t.Errorf("Path(%q) = %q, want %q", id, got, want)
		}
		if filepath.Dir(w.Path(id)) != dir {
			t.Errorf("Path(%q) = %q leaves %s", id, w.Path(id), dir)
		}
		if _, err := os.Stat(filepath.Join(dir, want)); err != nil {
			t.Errorf("%q: %v", id, err)
		}
	}
	// Nothing was written outside dir.
	ents, _ := os.ReadDir(root)
	if len(ents) != 1 {
		t.Errorf("root holds %d entries, want only out/", len(ents))
	}
}

func TestWAVDirReplacesAndHonoursContextAndClose(t *testing.T) {
	w, err := OpenWAVDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := w.Play(ctx, "a", []int16{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if err := w.Play(ctx, "a", []int16{7}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(w.Path("a"))
	if !bytes.Equal(b, EncodeWAV([]int16{7})) {
		t.Errorf("second Play did not replace the file")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := w.Play(cctx, "b", []int16{1}); !errors.Is(err, context.Canceled) {
		t.Errorf("Play with done ctx = %v, want context.Canceled", err)
	}
	w.Close()
	if err := w.Play(ctx, "c", []int16{1}); !errors.Is(err, ErrClosed) {
		t.Errorf("Play after Close = %v, want ErrClosed", err)
	}
}

func TestNull(t *testing.T) {
	out, err := Open("null")
	if err != nil {
		t.Fatal(err)
	}
	if err := out.Play(context.Background(), "x", make([]int16, 1000)); err != nil {
		t.Fatal(err)
	}
	out.Close()
	if err := out.Play(context.Background(), "x", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Play after Close = %v, want ErrClosed", err)
	}
}

func TestOpenUnknown(t *testing.T) {
	for _, spec := range []string{"", "pulse", "wav", "wav:", "NULL", "alsa:hw:0"} {
		_, err := Open(spec)
		if err == nil {
			t.Errorf("Open(%q) succeeded", spec)
			continue
		}
		if spec != "wav:" {
			for _, valid := range []string{"null", "wav:DIR", "alsa"} {
				if !strings.Contains(err.Error(), valid) {
					t.Errorf("Open(%q) error %q does not list %q", spec, err, valid)
				}
			}
		}
	}
}
