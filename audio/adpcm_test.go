package audio

import (
	"encoding/binary"
	"math"
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
		if want := adpcmHeader + (n+1)/2; len(enc) != want {
			t.Fatalf("%d samples: %d bytes, want %d", n, len(enc), want)
		}
		dec, err := DecodeADPCM(enc)
		if even := n + n%2; err != nil || len(dec) != even || adpcmSamples(int64(len(enc))) != even {
			t.Fatalf("%d samples: decoded %d (by the size %d), %v; want %d", n, len(dec), adpcmSamples(int64(len(enc))), err, even)
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
	short := good[:len(good)-1]
	long := append(append([]byte{}, good...), 0)
	magic := append([]byte{}, good...)
	magic[0] = 'X'
	huge := append([]byte{}, good...)
	binary.LittleEndian.PutUint32(huge[4:], 1<<31)
	odd := append([]byte{}, good...)
	binary.LittleEndian.PutUint32(odd[4:], 9)
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "IMA4"},
		{"header only in part", good[:5], "IMA4"},
		{"another magic", magic, "IMA4"},
		{"cut short", short, "want"},
		{"too long", long, "want"},
		{"a count its length does not hold", huge, "want"},
		{"an odd count", odd, "want"},
	} {
		if _, err := DecodeADPCM(tc.data); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %q", tc.name, err, tc.want)
		}
	}
}

// FuzzDecodeADPCM: a voice pack from voice_dir is outside input. Any
// bytes decode to the count their header gives, or to an error; never a
// panic, never more samples than the bytes carry.
func FuzzDecodeADPCM(f *testing.F) {
	f.Add(EncodeADPCM([]int16{0, 100, -100, 32767, -32768}))
	f.Add([]byte("IMA4\x02\x00\x00\x00\xff"))
	f.Add([]byte("IMA4"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pcm, err := DecodeADPCM(data)
		if err != nil {
			return
		}
		if len(pcm) > 2*(len(data)-adpcmHeader) {
			t.Fatalf("%d samples from %d bytes", len(pcm), len(data))
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
