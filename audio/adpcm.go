package audio

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// IMA ADPCM (the Interactive Multimedia Association's 1992 algorithm, the
// one WAV format 0x11 and most voice-prompt chips use): 4 bits a sample,
// a quarter of 16-bit PCM. The built-in voice packs are stored this way,
// which takes the clips from 7.5 MB to 1.9 MB of the binary; a clip
// decodes to samples near the original: the packs' clips keep a
// signal-to-error ratio of 22.7 dB (Mandarin) and 21.7 dB (Cantonese) on
// average (scripts/voiceadpcm prints it), the error riding on the speech
// it follows, since the step shrinks in quiet; the key beep, a pure tone
// it renders worst, stays raw.
//
// A .adpcm file is the magic "IMA4", the sample count (uint32, little
// endian, even: an odd clip gains a silent sample) and the samples'
// codes, two to a byte, the first in the low nibble, starting from predictor 0 and step index 0 (a clip starts in
// silence). There are no blocks: a clip decodes from its start.

var adpcmMagic = [4]byte{'I', 'M', 'A', '4'}

const adpcmHeader = 8

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

// EncodeADPCM is pcm as a .adpcm file.
func EncodeADPCM(pcm []int16) []byte {
	if len(pcm)%2 == 1 {
		// Whole bytes: a file's size gives its count (adpcmSize), so a
		// pack loads without reading its clips.
		pcm = append(pcm[:len(pcm):len(pcm)], 0)
	}
	out := make([]byte, adpcmHeader+len(pcm)/2)
	copy(out, adpcmMagic[:])
	binary.LittleEndian.PutUint32(out[4:], uint32(len(pcm)))
	var s adpcmState
	for i, x := range pcm {
		code := s.encode(x)
		if i%2 == 0 {
			out[adpcmHeader+i/2] = code
		} else {
			out[adpcmHeader+i/2] |= code << 4
		}
	}
	return out
}

// adpcmSamples is the count of samples a .adpcm file of size bytes holds
// (an even count, two codes to each byte), 0 for one too short.
func adpcmSamples(size int64) int {
	if size < adpcmHeader {
		return 0
	}
	return int(2 * (size - adpcmHeader))
}

// adpcmCount checks a .adpcm file's header against its length and says
// how many samples it holds.
func adpcmCount(header []byte, size int64) (int, error) {
	if len(header) < adpcmHeader || [4]byte(header[:4]) != adpcmMagic {
		return 0, errors.New(`not IMA ADPCM (no "IMA4" header)`)
	}
	n := int64(binary.LittleEndian.Uint32(header[4:]))
	if want := adpcmHeader + n/2; n%2 != 0 || size != want {
		return 0, fmt.Errorf("%d bytes for %d samples, want %d", size, n, want)
	}
	return int(n), nil
}

// DecodeADPCM decodes a whole .adpcm file.
func DecodeADPCM(data []byte) ([]int16, error) {
	n, err := adpcmCount(data, int64(len(data)))
	if err != nil {
		return nil, err
	}
	pcm := make([]int16, n)
	decodeADPCMInto(pcm, data[adpcmHeader:])
	return pcm, nil
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
