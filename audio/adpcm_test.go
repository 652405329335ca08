package audio

import (
	"encoding/binary"
	"io/fs"
	"math"
	"slices"
	"strings"
	"testing"
)

// snr is the signal-to-error ratio of got against want, in dB.
func snr(want, got []int16) float64 {
	var sig, noise float64
	for i := range want {
		d := float64(want[i]) - float64(got[i])
		sig += float64(want[i]) * float64(want[i])
		noise += d * d
	}
	return 10 * math.Log10(sig/noise)
}

// A speech-like signal (a gliding tone, its loudness moving as syllables
// do, at about the packs' -16 dBFS RMS) comes back from the codec close to
// itself, however long (odd lengths included).
func TestADPCMRoundTrip(t *testing.T) {
	for _, n := range []int{1, 2, 3, 1601, 16000} {
		pcm := make([]int16, n)
		for i := range pcm {
			f := 200 + 1800*float64(i)/16000
			env := 0.5 + 0.5*math.Sin(2*math.Pi*4*float64(i)/16000)
			pcm[i] = int16(9000 * env * math.Sin(2*math.Pi*f*float64(i)/16000))
		}
		enc := EncodeADPCM(pcm)
		if string(enc[:4]) != "IMAZ" || len(enc) >= adpcmHeader+(n+1)/2+16 {
			t.Fatalf("%d samples: %d bytes headed %q, want IMAZ and no more than the codes", n, len(enc), enc[:4])
		}
		dec, err := DecodeADPCM(enc)
		if even := n + n%2; err != nil || len(dec) != even {
			t.Fatalf("%d samples: decoded %d, %v; want %d", n, len(dec), err, even)
		}
		// The same codes uncompressed (IMA4) decode the same.
		if plain, err := DecodeADPCM(uncompressed(enc)); err != nil || !slices.Equal(plain, dec) {
			t.Fatalf("%d samples: the IMA4 form decodes to %d samples, %v", n, len(plain), err)
		}
		if n%2 == 1 && abs(int(dec[n])-int(dec[n-1])/2) > 1024 {
			// Coded as silence: the predictor heads back towards 0.
			t.Fatalf("%d samples: the padding sample is %d after %d, no move towards silence", n, dec[n], dec[n-1])
		}
		dec = dec[:n]
		if n >= 1601 {
			if r := snr(pcm, dec); r < 20 {
				t.Errorf("%d samples: signal to error %.1f dB, want ≥ 20", n, r)
			}
		}
	}
}

// The codes are the IMA algorithm's: from silence, a step up of 1000
// is coded 7 (the largest positive code), and decoding moves the
// predictor by the step table as the reference decoder does.
func TestADPCMMatchesTheReference(t *testing.T) {
	var s adpcmState
	if c := s.encode(1000); c != 7 {
		t.Fatalf("code %d for a rise of 1000 from silence, want 7", c)
	}
	// Reference: step 7 at index 0; code 7 adds 7>>3 + 7 + 3 + 1 = 11,
	// and the index moves by 8.
	if s.pred != 11 || s.index != 8 {
		t.Fatalf("after code 7: predictor %d, index %d, want 11 and 8", s.pred, s.index)
	}
	var d adpcmState
	if got := d.decode(15); got != -11 || d.index != 8 {
		t.Fatalf("code 15 from silence: %d (index %d), want -11 (8)", got, d.index)
	}
}

// A file that is not whole ADPCM is refused with a reason, never decoded
// into noise.
func TestADPCMRefusesBadFiles(t *testing.T) {
	good := EncodeADPCM(make([]int16, 10))
	plain := uncompressed(good)
	// A stored block (the codes of a real clip are too varied to shrink)
	// with one of its codes changed: DEFLATE takes it, the CRC does not.
	noise := make([]int16, 4000)
	for i := range noise {
		noise[i] = int16((i * 7919) % 20000)
	}
	damaged := EncodeADPCM(noise)
	damaged[len(damaged)/2] ^= 0x10
	with := func(b []byte, f func(b []byte)) []byte {
		b = slices.Clone(b)
		f(b)
		return b
	}
	count := func(n uint32) func([]byte) { return func(b []byte) { binary.LittleEndian.PutUint32(b[4:], n) } }
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "IMA4"},
		{"header only in part", good[:5], "IMAZ"},
		{"another magic", with(good, func(b []byte) { b[0] = 'X' }), "IMAZ"},
		{"an odd count", with(good, count(9)), "odd"},
		{"compressed: cut short", good[:len(good)-1], "damaged"},
		{"compressed: bytes after the codes", append(slices.Clone(good), 0), "after the codes"},
		{"compressed: a count beyond its codes", with(good, count(12)), "cut short"},
		{"compressed: fewer than its codes", with(good, count(8)), "more codes than the count"},
		{"compressed: more than a minute", with(good, count(2*maxADPCMSamples)), "more than a clip"},
		{"compressed: not DEFLATE", append(slices.Clone(good[:adpcmZHeader]), 0xff, 0xff, 0xff), "damaged"},
		{"compressed: without its CRC", good[:adpcmHeader+2], "CRC"},
		{"compressed: another CRC", with(good, func(b []byte) { b[adpcmHeader] ^= 1 }), "CRC"},
		{"compressed: a code damaged", damaged, "damaged"},
		{"uncompressed: cut short", plain[:len(plain)-1], "want"},
		{"uncompressed: too long", append(slices.Clone(plain), 0), "want"},
		{"uncompressed: a count its length does not hold", with(plain, count(12)), "want"},
		{"uncompressed: more than a minute", with(plain, count(2*maxADPCMSamples)), "more than a clip"},
	} {
		if _, err := DecodeADPCM(tc.data); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %q", tc.name, err, tc.want)
		}
	}
}

// uncompressed is a compressed .adpcm file in its IMA4 form.
func uncompressed(z []byte) []byte {
	n := binary.LittleEndian.Uint32(z[4:])
	codes, err := inflate(z[adpcmZHeader:], int(n/2))
	if err != nil {
		panic(err)
	}
	return append(append([]byte("IMA4"), z[4:adpcmHeader]...), codes...)
}

// FuzzDecodeADPCM: a voice pack from voice_dir is outside input. Any
// bytes decode to the count their header gives, or to an error; never a
// panic, never more samples than the bytes carry.
func FuzzDecodeADPCM(f *testing.F) {
	good := EncodeADPCM([]int16{0, 100, -100, 32767, -32768})
	f.Add(good)
	f.Add(uncompressed(good))
	f.Add([]byte("IMA4\x02\x00\x00\x00\xff"))
	f.Add([]byte("IMAZ\x02\x00\x00\x00\x01\x01\x00\xfe\xff\x77"))
	f.Add([]byte("IMA4"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pcm, err := DecodeADPCM(data)
		if err != nil {
			return
		}
		if len(pcm) > maxADPCMSamples || (string(data[:4]) == "IMA4" && len(pcm) > 2*(len(data)-adpcmHeader)) {
			t.Fatalf("%d samples from %d bytes headed %q", len(pcm), len(data), data[:4])
		}
		again := EncodeADPCM(pcm)
		if back, err := DecodeADPCM(again); err != nil || len(back) != len(pcm) {
			t.Fatalf("re-encoded: %d samples, %v", len(back), err)
		}
	})
}

// The table decoder gives decode's samples, code for code, whatever the
// codes (every code at every reachable step index, both clamps included).
func TestADPCMTableIsDecode(t *testing.T) {
	codes := make([]byte, 40000)
	x := uint32(1)
	for i := range codes {
		x = x*1664525 + 1013904223
		codes[i] = byte(x >> 24)
		if i%5000 < 300 {
			codes[i] = 0x77 // runs of the largest rise: the top clamp
		} else if i%5000 < 600 {
			codes[i] = 0xff // and of the largest fall
		}
	}
	for _, n := range []int{2 * len(codes), 2*len(codes) - 1} {
		got := make([]int16, n)
		decodeADPCMInto(got, codes)
		var s adpcmState
		for i := range n {
			b := codes[i/2]
			if i%2 == 1 {
				b >>= 4
			}
			if want := s.decode(b & 15); got[i] != want {
				t.Fatalf("sample %d of %d: %d, decode says %d", i, n, got[i], want)
			}
		}
	}
}

// The built-in packs' clips are the compressed form (scripts/voiceadpcm
// writes it): 1.57 MB of the binary, where the plain codes took 1.86 MB.
func TestPacksCompressed(t *testing.T) {
	for name, pack := range map[string]fs.FS{"voice/default": defaultPack, "voice/yue": yuePack} {
		clips, err := fs.Glob(pack, name+"/*.adpcm")
		if err != nil || len(clips) < 100 {
			t.Fatalf("%s: %d clips, %v", name, len(clips), err)
		}
		for _, c := range clips {
			b, _ := fs.ReadFile(pack, c)
			if len(b) < 4 || string(b[:4]) != "IMAZ" {
				t.Errorf("%s: not compressed (%q)", c, b[:min(4, len(b))])
			}
		}
	}
}
