// Command voiceadpcm turns a voice pack's raw PCM clips (.pcm) into IMA
// ADPCM (.adpcm, its codes compressed: a fifth of the size;
// audio.EncodeADPCM) and points the pack's manifest at them, removing the
// .pcm files. The pack's sounds (the key beep, a pure tone that ADPCM
// renders worst) stay raw. It prints the signal-to-error ratio of the
// clips it converted. Clips already .adpcm with their codes uncompressed
// ("IMA4") are written compressed, sample for sample the same.
// audio/voice/gen.sh runs it on the packs it makes.
//
//	go run ./scripts/voiceadpcm audio/voice/default audio/voice/yue
package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/posagent/posagent/audio"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: voiceadpcm PACK_DIR...")
		os.Exit(2)
	}
	for _, dir := range os.Args[1:] {
		if err := convert(dir); err != nil {
			fmt.Fprintln(os.Stderr, "voiceadpcm:", err)
			os.Exit(1)
		}
	}
}

func convert(dir string) error {
	mpath := filepath.Join(dir, "manifest.json")
	text, err := os.ReadFile(mpath)
	if err != nil {
		return err
	}
	var m struct {
		Clips map[string]string `json:"clips"`
	}
	if err := json.Unmarshal(text, &m); err != nil {
		return fmt.Errorf("%s: %w", mpath, err)
	}
	out := string(text)
	var sum, worst float64 = 0, math.Inf(1)
	n := 0
	packed := 0
	for _, file := range m.Clips {
		if filepath.Ext(file) == ".adpcm" {
			ok, err := pack(filepath.Join(dir, file))
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			if ok {
				packed++
			}
			continue
		}
		if filepath.Ext(file) != ".pcm" {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			return err
		}
		if len(raw)%2 != 0 {
			return fmt.Errorf("%s: odd length for 16-bit samples", file)
		}
		pcm := make([]int16, len(raw)/2)
		for i := range pcm {
			pcm[i] = int16(binary.LittleEndian.Uint16(raw[2*i:]))
		}
		enc, err := encode(pcm)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		snr, err := ratio(pcm, enc)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		sum, worst, n = sum+snr, min(worst, snr), n+1
		name := strings.TrimSuffix(file, ".pcm") + ".adpcm"
		if err := os.WriteFile(filepath.Join(dir, name), enc, 0o644); err != nil {
			return err
		}
		out = strings.ReplaceAll(out, `"`+file+`"`, `"`+name+`"`)
	}
	out = strings.Replace(out, `"format": "s16le mono raw"`, `"format": "clips IMA ADPCM (.adpcm), sounds s16le mono raw"`, 1)
	if err := os.WriteFile(mpath, []byte(out), 0o644); err != nil {
		return err
	}
	// Only once the manifest names the new files: a .pcm a sound still
	// uses stays.
	for _, file := range m.Clips {
		if filepath.Ext(file) == ".pcm" && !strings.Contains(out, `"`+file+`"`) {
			os.Remove(filepath.Join(dir, file))
		}
	}
	if n > 0 {
		fmt.Printf("%s: %d clips to IMA ADPCM, signal to error %.1f dB mean, %.1f dB worst\n", dir, n, sum/float64(n), worst)
	}
	if packed > 0 {
		fmt.Printf("%s: %d IMA ADPCM clips compressed\n", dir, packed)
	}
	return nil
}

// pack writes the .adpcm clip at path compressed when its codes are not
// (false: they were), checking that it decodes to the same samples.
func pack(path string) (bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	if len(data) < 4 || string(data[:4]) != "IMA4" {
		return false, nil
	}
	pcm, err := audio.DecodeADPCM(data)
	if err != nil {
		return false, err
	}
	enc := audio.EncodeADPCM(pcm)
	back, err := audio.DecodeADPCM(enc)
	if err != nil {
		return false, err
	}
	if !slices.Equal(back, pcm) {
		return false, errors.New("coded again, it would not decode to the same samples")
	}
	return true, os.WriteFile(path, enc, 0o644)
}

// peakLimit is -1 dBFS less 0.1 dB, the peak gen.sh leaves a clip under
// (TestDefaultVoiceLoudness).
const peakLimit = 29200

// encode is pcm in IMA ADPCM, lowered as little as it takes (a few tenths
// of a dB at most) when the decoded samples would overshoot the peak that
// gen.sh's normalisation keeps: the codec's error rides on the peaks too.
func encode(pcm []int16) ([]byte, error) {
	scaled := pcm
	for range 8 {
		enc := audio.EncodeADPCM(scaled)
		dec, err := audio.DecodeADPCM(enc)
		if err != nil {
			return nil, err
		}
		peak := 0
		for _, x := range dec {
			peak = max(peak, abs(int(x)))
		}
		if peak <= peakLimit {
			return enc, nil
		}
		g := float64(peakLimit) / float64(peak) * 0.998
		next := make([]int16, len(scaled))
		for i, x := range scaled {
			next[i] = int16(math.Round(float64(x) * g))
		}
		scaled = next
	}
	return nil, fmt.Errorf("decoded peak stays above %d", peakLimit)
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// ratio is the signal-to-error ratio, in dB, of enc decoded against pcm.
func ratio(pcm []int16, enc []byte) (float64, error) {
	dec, err := audio.DecodeADPCM(enc)
	if err != nil {
		return 0, err
	}
	var sig, noise float64
	for i, x := range pcm {
		d := float64(x) - float64(dec[i])
		sig += float64(x) * float64(x)
		noise += d * d
	}
	if noise == 0 {
		return math.Inf(1), nil
	}
	return 10 * math.Log10(sig/noise), nil
}
