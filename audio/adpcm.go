package audio

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"
)

// IMA ADPCM (the Interactive Multimedia Association's 1992 algorithm, the
// one WAV format 0x11 and most voice-prompt chips use): 4 bits a sample,
// a quarter of 16-bit PCM. The built-in voice packs are stored this way,
// which takes the clips from 7.5 MB to 1.57 MB of the binary; a clip
// decodes to samples near the original: the packs' clips keep a
// signal-to-error ratio of 22.7 dB (Mandarin) and 21.7 dB (Cantonese) on
// average (scripts/voiceadpcm prints it), the error riding on the speech
// it follows, since the step shrinks in quiet; the key beep, a pure tone
// it renders worst, stays raw.
//
// A .adpcm file is a magic, the sample count (uint32, little endian,
// even: an odd clip gains a silent sample) and the samples' codes, two to
// a byte, the first in the low nibble, starting from predictor 0 and step
// index 0 (a clip starts in silence). There are no blocks: a clip decodes
// from its start. After "IMAZ" and the count come the codes' CRC-32 (IEEE,
// uint32 little endian) and the codes compressed, a raw DEFLATE stream
// (RFC 1951, compress/flate): the pauses inside and around a word code to
// runs, and the built-in packs' clips take 16 % less, 1.57 MB where they
// took 1.86 MB; the CRC makes a damaged clip fail to decode rather than
// play as noise (DEFLATE itself checks nothing). After "IMA4" the codes
// are as they are, unchecked (the form the first packs were made in,
// still read).

var (
	adpcmMagic  = [4]byte{'I', 'M', 'A', '4'}
	adpcmMagicZ = [4]byte{'I', 'M', 'A', 'Z'}
)

// The headers: magic and count; and, compressed, the codes' CRC-32 too.
const (
	adpcmHeader  = 8
	adpcmZHeader = 12
)

// maxADPCMSamples bounds a clip: a minute of speech. A compressed clip's
// header could claim any count, and a small stream can inflate to a
// thousand times its size.
const maxADPCMSamples = 60 * SampleRate

// adpcmSteps is the quantizer's step table.
var adpcmSteps = [89]int32{
	7, 8, 9, 10, 11, 12, 13, 14, 16, 17, 19, 21, 23, 25, 28, 31, 34, 37, 41, 45,
	50, 55, 60, 66, 73, 80, 88, 97, 107, 118, 130, 143, 157, 173, 190, 209, 230,
	253, 279, 307, 337, 371, 408, 449, 494, 544, 598, 658, 724, 796, 876, 963,
	1060, 1166, 1282, 1411, 1552, 1707, 1878, 2066, 2272, 2499, 2749, 3024, 3327,
	3660, 4026, 4428, 4871, 5358, 5894, 6484, 7132, 7845, 8630, 9493, 10442,
	11487, 12635, 13899, 15289, 16818, 18500, 20350, 22385, 24623, 27086, 29794,
	32767,
}

// adpcmIndex is how a code moves the step index.
var adpcmIndex = [8]int32{-1, -1, -1, -1, 2, 4, 6, 8}

// adpcmState is the predictor both ends keep.
type adpcmState struct{ pred, index int32 }

// adpcmDiff is what code adds to the predictor at step: the IMA
// algorithm's arithmetic, truncations included (not (2c+1)·step/8).
func adpcmDiff(step int32, code byte) int32 {
	diff := step >> 3
	if code&4 != 0 {
		diff += step
	}
	if code&2 != 0 {
		diff += step >> 1
	}
	if code&1 != 0 {
		diff += step >> 2
	}
	if code&8 != 0 {
		return -diff
	}
	return diff
}

// decode takes one 4-bit code to the next sample.
func (s *adpcmState) decode(code byte) int16 {
	s.pred = min(max(s.pred+adpcmDiff(adpcmSteps[s.index], code), -32768), 32767)
	s.index = min(max(s.index+adpcmIndex[code&7], 0), 88)
	return int16(s.pred)
}

// encode picks the code that brings the predictor nearest to x, and moves
// the state as the decoder will.
func (s *adpcmState) encode(x int16) byte {
	step := adpcmSteps[s.index]
	diff := int32(x) - s.pred
	var code byte
	if diff < 0 {
		code, diff = 8, -diff
	}
	for bit := byte(4); bit > 0; bit >>= 1 {
		if diff >= step {
			code |= bit
			diff -= step
		}
		step >>= 1
	}
	s.decode(code)
	return code
}

// EncodeADPCM is pcm as a .adpcm file, its codes compressed ("IMAZ").
func EncodeADPCM(pcm []int16) []byte {
	if len(pcm)%2 == 1 {
		pcm = append(pcm[:len(pcm):len(pcm)], 0) // whole bytes
	}
	codes := make([]byte, len(pcm)/2)
	var s adpcmState
	for i, x := range pcm {
		code := s.encode(x)
		if i%2 == 0 {
			codes[i/2] = code
		} else {
			codes[i/2] |= code << 4
		}
	}
	var out bytes.Buffer
	out.Write(adpcmMagicZ[:])
	binary.Write(&out, binary.LittleEndian, uint32(len(pcm)))
	binary.Write(&out, binary.LittleEndian, crc32.ChecksumIEEE(codes))
	w, _ := flate.NewWriter(&out, flate.BestCompression) // a valid level: no error
	w.Write(codes)                                       // into memory: no error
	w.Close()
	return out.Bytes()
}

// DecodeADPCM decodes a whole .adpcm file, refusing one that is not
// whole: a header that is not ours, a count that is odd or more than a
// minute, codes cut short or more than the count holds, or compressed
// codes that are not the ones their CRC was made of.
func DecodeADPCM(data []byte) ([]int16, error) {
	if len(data) < adpcmHeader {
		return nil, errors.New(`not IMA ADPCM (no "IMA4" or "IMAZ" header)`)
	}
	n := int64(binary.LittleEndian.Uint32(data[4:]))
	switch {
	case n%2 != 0:
		return nil, fmt.Errorf("an odd count of samples (%d): a file holds whole bytes", n)
	case n > maxADPCMSamples:
		return nil, fmt.Errorf("%d samples, more than a clip may hold (%d)", n, maxADPCMSamples)
	}
	var codes []byte
	switch [4]byte(data[:4]) {
	case adpcmMagic:
		if want := adpcmHeader + n/2; int64(len(data)) != want {
			return nil, fmt.Errorf("%d bytes for %d samples, want %d", len(data), n, want)
		}
		codes = data[adpcmHeader:]
	case adpcmMagicZ:
		if len(data) < adpcmZHeader {
			return nil, errors.New("compressed, without the codes' CRC")
		}
		var err error
		if codes, err = inflate(data[adpcmZHeader:], int(n/2)); err != nil {
			return nil, fmt.Errorf("%d samples: %w", n, err)
		}
		if crc32.ChecksumIEEE(codes) != binary.LittleEndian.Uint32(data[adpcmHeader:]) {
			return nil, errors.New("damaged: the codes do not match their CRC")
		}
	default:
		return nil, errors.New(`not IMA ADPCM (no "IMA4" or "IMAZ" header)`)
	}
	pcm := make([]int16, n)
	decodeADPCMInto(pcm, codes)
	return pcm, nil
}

// inflaters keeps DEFLATE readers for reuse: each holds a 32 KB window.
var inflaters sync.Pool

// inflate is exactly n bytes from the DEFLATE stream z, which must end
// there.
func inflate(z []byte, n int) ([]byte, error) {
	src := bytes.NewReader(z)
	r, ok := inflaters.Get().(io.ReadCloser)
	if ok {
		r.(flate.Resetter).Reset(src, nil)
	} else {
		r = flate.NewReader(src)
	}
	defer inflaters.Put(r)
	out := make([]byte, n)
	if _, err := io.ReadFull(r, out); err != nil {
		return nil, fmt.Errorf("codes cut short or damaged: %v", err)
	}
	if k, err := r.Read(make([]byte, 1)); k != 0 || err != io.EOF {
		return nil, errors.New("more codes than the count, or a damaged end")
	}
	if src.Len() != 0 {
		return nil, fmt.Errorf("%d bytes after the codes", src.Len())
	}
	return out, nil
}

// adpcmDiffs is what each code adds to the predictor at each step index,
// worked out once: the render decodes a clip per word it says, and the
// table takes adpcmDiff's branches out of each sample
// (TestADPCMTableIsDecode). It has 128 rows, so an index masked to 7 bits
// needs no bounds check.
var adpcmDiffs = func() (t [128][16]int32) {
	for index, step := range adpcmSteps {
		for code := range byte(16) {
			t[index][code] = adpcmDiff(step, code)
		}
	}
	return t
}()

// decodeADPCMInto decodes len(dst) samples from codes (at least
// (len(dst)+1)/2 bytes), as decode would from silence.
func decodeADPCMInto(dst []int16, codes []byte) {
	codes = codes[:(len(dst)+1)/2]
	pred, index := int32(0), int32(0)
	step := func(code byte) int16 {
		pred = min(max(pred+adpcmDiffs[index&127][code&15], -32768), 32767)
		index = min(max(index+adpcmIndex[code&7], 0), 88)
		return int16(pred)
	}
	pairs := dst[:len(dst)&^1]
	for i := 0; i < len(pairs); i += 2 {
		b := codes[i/2]
		pairs[i] = step(b & 15)
		pairs[i+1] = step(b >> 4)
	}
	if len(dst)%2 == 1 {
		dst[len(dst)-1] = step(codes[len(codes)-1] & 15)
	}
}
