// Package audioout carries rendered speech to where it is heard: an ALSA
// device through oto, WAV files (the sim board and tests), or nowhere. It
// knows samples, not words; package audio makes the samples.
//
// Invariants:
//   - each output plays one Play at a time: a second waits for the first;
//   - after Close every Play fails with ErrClosed, and a Play whose ctx is
//     already done plays (or writes) nothing;
//   - a WAVDir file is a whole WAV or the one before it: Play writes under
//     a temporary name and renames, and a Play that fails leaves no file
//     of its own; the files are not fsynced;
//   - a WAVDir file name comes from SanitizeID, so no id can leave the
//     directory.
package audioout

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// SampleRate is the rate of every buffer given to Play: 16 kHz, mono, signed
// 16-bit, the format of the voice packs.
const SampleRate = 16000

// Output plays 16 kHz mono samples.
type Output interface {
	// Play plays pcm and returns once it has been played (or written, for
	// outputs that are not devices), or when ctx is done. id names the
	// announcement (an order id, say) and is where the wav output puts it.
	Play(ctx context.Context, id string, pcm []int16) error
	// Close releases the output; Play fails after it.
	Close() error
}

// ErrClosed is returned by Play after Close.
var ErrClosed = errors.New("audioout: output closed")

// Open returns the output a config's audio.out names:
//
//	null      drops the samples
//	wav:DIR   writes DIR/<id>.wav for each Play (DIR is created)
//	alsa      the default ALSA device, through oto (cgo builds on Linux)
func Open(spec string) (Output, error) {
	switch {
	case spec == "null":
		return &Null{}, nil
	case strings.HasPrefix(spec, "wav:"):
		return OpenWAVDir(strings.TrimPrefix(spec, "wav:"))
	case spec == "alsa":
		return openALSA()
	}
	return nil, fmt.Errorf("audioout: unknown output %q: want null, wav:DIR or alsa", spec)
}

// Null drops what it is given. It is what a board without a speaker has.
type Null struct {
	mu     sync.Mutex
	closed bool
}

// Play discards pcm; it fails only if ctx is done or n is closed.
func (n *Null) Play(ctx context.Context, id string, pcm []int16) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return ErrClosed
	}
	return ctx.Err()
}

// Close makes later Plays fail.
func (n *Null) Close() error {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	return nil
}

// WAVDir writes each announcement to its own WAV file, so the sim board and
// tests can check what a device would have said.
type WAVDir struct {
	dir    string
	mu     sync.Mutex
	closed bool
}

// OpenWAVDir returns a WAVDir writing into dir, creating it (0755) if needed.
func OpenWAVDir(dir string) (*WAVDir, error) {
	if dir == "" {
		return nil, errors.New("audioout: wav: needs a directory (wav:DIR)")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("audioout: wav: %w", err)
	}
	// A process killed mid-Play leaves its temporary file; nothing will
	// ever rename it, so it goes now.
	stale, _ := filepath.Glob(filepath.Join(dir, ".tmp-*.wav"))
	for _, f := range stale {
		os.Remove(f)
	}
	return &WAVDir{dir: dir}, nil
}

// Path returns the file Play writes for id.
func (w *WAVDir) Path(id string) string {
	return filepath.Join(w.dir, SanitizeID(id)+".wav")
}

// Play writes pcm to Path(id), replacing any earlier file of that id. The file
// is written under a temporary name and renamed, so a reader watching the
// directory never sees half an announcement.
func (w *WAVDir) Play(ctx context.Context, id string, pcm []int16) (err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := os.CreateTemp(w.dir, ".tmp-*.wav")
	if err != nil {
		return fmt.Errorf("audioout: wav: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(EncodeWAV(pcm)); err != nil {
		return fmt.Errorf("audioout: wav: %w", err)
	}
	if err = f.Chmod(0o644); err != nil {
		return fmt.Errorf("audioout: wav: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("audioout: wav: %w", err)
	}
	if err = os.Rename(f.Name(), w.Path(id)); err != nil {
		return fmt.Errorf("audioout: wav: %w", err)
	}
	return nil
}

// Close makes later Plays fail.
func (w *WAVDir) Close() error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	return nil
}

// SanitizeID maps an announcement id to a safe file name: characters other
// than A-Z a-z 0-9 . _ - become _, so ids from the wire ("../x", "a/b") can
// never leave the directory; "", "." and ".." become "_"; it is cut at 200
// bytes to stay under file name limits with the suffix.
func SanitizeID(id string) string {
	b := []byte(id)
	for i, c := range b {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			b[i] = '_'
		}
	}
	s := string(b)
	if len(s) > 200 {
		s = s[:200]
	}
	if s == "" || s == "." || s == ".." {
		s = "_"
	}
	return s
}

// EncodeWAV returns pcm as a canonical 44-byte-header PCM WAV file: RIFF,
// one fmt chunk (PCM, 1 channel, SampleRate, 16 bits), one data chunk.
func EncodeWAV(pcm []int16) []byte {
	const header = 44
	dataLen := 2 * len(pcm)
	b := make([]byte, header+dataLen)
	le := binary.LittleEndian
	copy(b[0:], "RIFF")
	le.PutUint32(b[4:], uint32(36+dataLen))
	copy(b[8:], "WAVE")
	copy(b[12:], "fmt ")
	le.PutUint32(b[16:], 16)           // fmt chunk size
	le.PutUint16(b[20:], 1)            // PCM
	le.PutUint16(b[22:], 1)            // channels
	le.PutUint32(b[24:], SampleRate)   // sample rate
	le.PutUint32(b[28:], SampleRate*2) // byte rate
	le.PutUint16(b[32:], 2)            // block align
	le.PutUint16(b[34:], 16)           // bits per sample
	copy(b[36:], "data")
	le.PutUint32(b[40:], uint32(dataLen))
	for i, s := range pcm {
		le.PutUint16(b[header+2*i:], uint16(s))
	}
	return b
}

// Compile-time checks that the outputs are Outputs.
var (
	_ Output = (*Null)(nil)
	_ Output = (*WAVDir)(nil)
)
