package audio

import (
	"embed"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// SampleRate is the rate of every clip and of every buffer Render returns:
// 16 kHz mono signed 16-bit, enough for speech and what speaker modules take.
const SampleRate = 16000

// Gaps put between clips by Render. Clips are trimmed of silence, so the gaps
// are the whole pause: a phrase and the amount after it are two thoughts
// (phraseGap), the units of an amount are one (wordGap).
const (
	phraseGapMs = 60
	wordGapMs   = 15
	pauseMs     = 200 // for a space or comma in the text
	fadeMs      = 3   // ramps at clip edges so joins do not click
)

// ErrUnknownUnit is wrapped by Render's error when the text holds something
// the voice has no clip for.
var ErrUnknownUnit = errors.New("audio: no clip for")

// Voice is a set of clips, one per unit of speech (a digit, a unit such as 万
// or 元, or a whole phrase such as 微信收款), at SampleRate. A Voice is
// immutable once loaded and safe for concurrent use.
type Voice struct {
	// clips are read and decoded when said, not held decoded: the default
	// pack is 4 MB of samples, resident for nothing between announcements
	// on a device with little memory. Its files are in the binary (or on
	// disk, for a pack from a directory), paged in when used; the ones
	// said most recently are kept decoded, 512 KB at most (recent).
	clips   map[string]clipFile
	recent  *recentClips
	sounds  map[string][]int16 // tones such as "beep": not words, never chosen by text
	maxRune int                // longest unit, in runes
}

// manifest is manifest.json at the root of a voice pack.
type manifest struct {
	SampleRate int               `json:"sample_rate"`
	Clips      map[string]string `json:"clips"`  // unit text → file
	Sounds     map[string]string `json:"sounds"` // sound name ("beep") → file; optional
}

// LoadVoice loads a voice pack: manifest.json at the root of fsys maps each
// unit to a file beside it, raw little-endian signed 16-bit mono PCM (.pcm),
// a PCM WAV (.wav) of the same format, both at SampleRate, or IMA ADPCM
// (.adpcm, adpcm.go). Raw and WAV clips are checked at load so a bad
// recording fails at start, not mid-sentence; an ADPCM clip is decoded as it
// is said (LoadVoiceDir decodes a pack from a directory whole at load).
func LoadVoice(fsys fs.FS) (*Voice, error) {
	raw, err := fs.ReadFile(fsys, "manifest.json")
	if err != nil {
		return nil, fmt.Errorf("audio: voice pack: %w", err)
	}
	var m manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("audio: voice pack manifest: %w", err)
	}
	if m.SampleRate != 0 && m.SampleRate != SampleRate {
		return nil, fmt.Errorf("audio: voice pack is %d Hz, want %d", m.SampleRate, SampleRate)
	}
	if len(m.Clips) == 0 {
		return nil, errors.New("audio: voice pack manifest lists no clips")
	}
	v := &Voice{clips: make(map[string]clipFile, len(m.Clips)), recent: newRecentClips(recentSamples),
		sounds: make(map[string][]int16, len(m.Sounds))}
	for unit, file := range m.Clips {
		if unit == "" || !utf8.ValidString(unit) {
			return nil, fmt.Errorf("audio: voice pack: bad unit %q", unit)
		}
		// Checked now, so a bad recording fails at start, not
		// mid-sentence: raw PCM by its size (reading it would only make
		// garbage), a WAV decoded and dropped, an ADPCM clip by its being
		// there (clipSamples).
		n, err := clipSamples(fsys, file, unit)
		if err != nil {
			return nil, err
		}
		v.clips[unit] = clipFile{fsys: fsys, file: file, samples: n}
		v.maxRune = max(v.maxRune, utf8.RuneCountInString(unit))
	}
	for name, file := range m.Sounds {
		pcm, err := loadClip(fsys, file, name)
		if err != nil {
			return nil, err
		}
		v.sounds[name] = pcm
	}
	return v, nil
}

// clipSamples checks one clip file and says how many samples it holds.
func clipSamples(fsys fs.FS, file, unit string) (int, error) {
	if isRaw(file) {
		fi, err := fs.Stat(fsys, file)
		switch {
		case err != nil:
			return 0, fmt.Errorf("audio: voice pack: unit %q: %w", unit, err)
		case fi.Size() == 0:
			return 0, fmt.Errorf("audio: voice pack: %s (%q) is empty", file, unit)
		case fi.Size()%2 != 0:
			return 0, fmt.Errorf("audio: voice pack: %s (%q): odd length for 16-bit samples", file, unit)
		}
		return int(fi.Size() / 2), nil
	}
	if strings.ToLower(path.Ext(file)) == ".adpcm" {
		// Not read: reading every clip's header at start would fault in
		// the whole pack (the kernel maps 64 KB around each read of the
		// binary), 2 MB of resident memory for clips never said. It is
		// checked when it is decoded (its count then known), and a pack
		// from a directory is decoded whole at load (LoadVoiceDir).
		fi, err := fs.Stat(fsys, file)
		if err != nil {
			return 0, fmt.Errorf("audio: voice pack: unit %q: %w", unit, err)
		}
		if fi.Size() <= adpcmHeader {
			return 0, fmt.Errorf("audio: voice pack: %s (%q) is empty", file, unit)
		}
		return 0, nil
	}
	pcm, err := loadClip(fsys, file, unit)
	return len(pcm), err
}

// loadClip reads one clip file of a pack and fades its edges.
func loadClip(fsys fs.FS, file, unit string) ([]int16, error) {
	data, err := fs.ReadFile(fsys, file)
	if err != nil {
		return nil, fmt.Errorf("audio: voice pack: unit %q: %w", unit, err)
	}
	var pcm []int16
	switch strings.ToLower(path.Ext(file)) {
	case ".pcm", ".raw":
		pcm, err = decodeRaw(data)
	case ".wav":
		pcm, err = decodeWAV(data)
	case ".adpcm":
		pcm, err = DecodeADPCM(data)
	default:
		err = errors.New("want a .pcm, .adpcm or .wav file")
	}
	if err != nil {
		return nil, fmt.Errorf("audio: voice pack: %s (%q): %w", file, unit, err)
	}
	if len(pcm) == 0 {
		return nil, fmt.Errorf("audio: voice pack: %s (%q) is empty", file, unit)
	}
	fade(pcm, fadeMs*SampleRate/1000)
	return pcm, nil
}

//go:embed voice/default/*.adpcm voice/default/*.pcm voice/default/manifest.json
var defaultPack embed.FS

var defaultVoice = sync.OnceValue(func() *Voice {
	sub, err := fs.Sub(defaultPack, "voice/default")
	if err == nil {
		var v *Voice
		if v, err = LoadVoice(sub); err == nil {
			return v
		}
	}
	// The pack is compiled in and checked by the tests: failing here is a
	// broken build, not a runtime condition a caller could handle.
	panic(err)
})

// DefaultVoice returns the voice pack compiled into the binary (espeak-ng's
// cmn-latn-pinyin voice unless replaced by recordings; see voice/README.md).
func DefaultVoice() *Voice { return defaultVoice() }

//go:embed voice/yue/*.adpcm voice/yue/*.pcm voice/yue/manifest.json
var yuePack embed.FS

var yueVoice = sync.OnceValue(func() *Voice {
	sub, err := fs.Sub(yuePack, "voice/yue")
	if err == nil {
		var v *Voice
		if v, err = LoadVoice(sub); err == nil {
			return v
		}
	}
	panic(err) // compiled in and checked by the tests, as the default pack
})

// Languages the built-in voices speak (config audio.language).
const (
	Mandarin  = "zh"  // 普通话, the default
	Cantonese = "yue" // 粤语, as speakers sold in Guangdong offer
)

// VoiceFor is the built-in voice of a language ("" is Mandarin) and the
// reading rules its amounts take.
func VoiceFor(language string) (*Voice, Options, error) {
	switch language {
	case "", Mandarin:
		return DefaultVoice(), Options{}, nil
	case Cantonese:
		return yueVoice(), Options{Yue: true}, nil
	}
	return nil, Options{}, fmt.Errorf("audio: no built-in voice for language %q (zh or yue)", language)
}

// Lacks lists the phrases of the built-in pack (every word the device
// says) that v cannot say, neither by a clip of its own nor by joining
// shorter ones (微信 + 收款 says 微信收款).
func (v *Voice) Lacks() []string {
	var out []string
	for _, u := range DefaultVoice().Units() {
		if _, err := v.Split(u); err != nil {
			out = append(out, u)
		}
	}
	return out
}

// LoadVoiceDir loads a replacement pack (recorded clips, voice/README.md)
// from dir and checks it can say every phrase the device says; the error
// names each it cannot.
func LoadVoiceDir(dir string) (*Voice, error) {
	v, err := LoadVoice(os.DirFS(dir))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	// Decoded whole once: a clip LoadVoice did not read (.adpcm) fails
	// at start, not mid-sentence.
	for _, u := range v.Units() {
		c := v.clips[u]
		if _, err := loadClip(c.fsys, c.file, u); err != nil {
			return nil, fmt.Errorf("%s: %w", dir, err)
		}
	}
	if lack := v.Lacks(); len(lack) > 0 {
		return nil, fmt.Errorf("audio: voice pack %s cannot say %d of the phrases the device says: %s", dir, len(lack), strings.Join(lack, " "))
	}
	return v, nil
}

// Units returns the units the voice can say, sorted.
func (v *Voice) Units() []string {
	units := make([]string, 0, len(v.clips))
	for u := range v.clips {
		units = append(units, u)
	}
	slices.Sort(units)
	return units
}

// clipFile is where a unit's samples are.
type clipFile struct {
	fsys fs.FS
	file string
	// samples is the clip's count where its size gives it (raw PCM), 0
	// for a clip whose count is known once it is decoded.
	samples int
}

// Clip returns the samples of one unit, or nil.
func (v *Voice) Clip(unit string) []int16 {
	c, ok := v.clips[unit]
	if !ok {
		return nil
	}
	pcm, err := loadClip(c.fsys, c.file, unit)
	if err != nil {
		return nil // checked at load: only a pack changed on disk since
	}
	return pcm
}

// Beep returns the key-feedback tone: the pack's "beep" sound, or, for a pack
// without one, 80 ms of 1760 Hz made here, so a key is always acknowledged.
// The slice is shared: do not modify it.
func (v *Voice) Beep() []int16 {
	if b := v.sounds["beep"]; len(b) > 0 {
		return b
	}
	return synthBeep()
}

// synthBeep is the fallback beep, computed once.
var synthBeep = sync.OnceValue(func() []int16 {
	pcm := make([]int16, 80*SampleRate/1000)
	for i := range pcm {
		pcm[i] = int16(16000 * math.Sin(2*math.Pi*1760*float64(i)/SampleRate))
	}
	fade(pcm, 5*SampleRate/1000)
	return pcm
})

// Split cuts text into the units Render says: at each position the longest
// unit the voice knows, so 微信收款 is one phrase clip and not 微信 + 收款.
// Spaces and commas (ASCII or full-width) become "" entries, each a pause.
func (v *Voice) Split(text string) ([]string, error) {
	var units []string
	r := []rune(text)
	for i := 0; i < len(r); {
		switch r[i] {
		case ' ', '\t', '\n', ',', '，', '、', '。':
			units = append(units, "")
			i++
			continue
		}
		n := min(v.maxRune, len(r)-i)
		for ; n > 0; n-- {
			if _, ok := v.clips[string(r[i:i+n])]; ok {
				break
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("%w %q (character %d of %q)", ErrUnknownUnit, r[i], i+1, text)
		}
		units = append(units, string(r[i:i+n]))
		i += n
	}
	return units, nil
}

// Render returns text said by the voice as one buffer at SampleRate: the clips
// of Split's units with gaps between them (phraseGapMs next to a phrase,
// wordGapMs between digits and units). A character the voice cannot say is an
// error naming it; nothing is rendered then, since a partial amount is worse
// than none.
func (v *Voice) Render(text string) ([]int16, error) { return v.renderAt(text, 10) }

// renderAt is Render at volume level (Scale(Render(text), level), sample
// for sample), in one pass over each clip: the player's renders.
func (v *Voice) renderAt(text string, level int) ([]int16, error) {
	units, err := v.Split(text)
	if err != nil {
		return nil, err
	}
	g := volumeQ15[min(max(level, 0), 10)]
	// A raw clip is counted by its size and decoded straight into the
	// render; any other is taken from the clips said recently, or decoded
	// (its count then known) and kept there.
	decoded := make([][]int16, len(units))
	n := 0
	for i, u := range units {
		n += gapBefore(units, i)
		switch c := v.clips[u]; {
		case u == "":
		case isRaw(c.file):
			n += c.samples
		default:
			if decoded[i] = v.decoded(u); decoded[i] == nil {
				return nil, fmt.Errorf("audio: voice pack: %q cannot be read", u)
			}
			n += len(decoded[i])
		}
	}
	out := pcmBuffer(n)
	for i, u := range units {
		gap := len(out)
		out = out[:gap+gapBefore(units, i)] // silence, within n
		clear(out[gap:])
		if u == "" {
			continue
		}
		pcm := decoded[i]
		if pcm == nil {
			var ok bool
			if out, ok = appendRaw(out, v.clips[u], g); ok {
				continue
			}
			// Changed on disk since the pack was loaded: as Clip reads it.
			if pcm = v.decoded(u); pcm == nil {
				return nil, fmt.Errorf("audio: voice pack: %q cannot be read", u)
			}
		}
		start := len(out)
		out = slices.Grow(out, len(pcm))[:start+len(pcm)]
		dst := out[start:]
		for i, s := range pcm { // copied at the volume in one pass
			dst[i] = int16((int32(s)*g + 1<<14) >> 15)
		}
	}
	return out, nil
}

// renders recycles the buffers of renders played (Player.play): one
// announcement is about 100 KB of samples (¥128.50 is 3.1 s at 16 kHz),
// half of all a notification allocates, and the collections that garbage
// brings on fall on the next notifications' way.
var renders sync.Pool // of *[]int16

// pcmBuffer is an empty buffer with room for n samples, a recycled one
// when there is one big enough.
func pcmBuffer(n int) []int16 {
	if bp, _ := renders.Get().(*[]int16); bp != nil && cap(*bp) >= n {
		return (*bp)[:0]
	}
	return make([]int16, 0, n)
}

// recycle gives pcm, a render no one holds any more, to later renders.
func recycle(pcm []int16) {
	pcm = pcm[:0]
	renders.Put(&pcm)
}

// decoded is unit's samples as Clip gives them, from the clips said
// recently, or decoded through Clip and kept there; nil when it cannot be
// read. They are shared: the caller copies them.
func (v *Voice) decoded(unit string) []int16 {
	pcm := v.recent.get(unit)
	if pcm == nil {
		if pcm = v.Clip(unit); pcm != nil {
			v.recent.put(unit, pcm)
		}
	}
	return pcm
}

// isRaw says whether file is raw PCM, whose size gives its count.
func isRaw(file string) bool {
	ext := strings.ToLower(path.Ext(file))
	return ext == ".pcm" || ext == ".raw"
}

// scratch holds a raw clip's bytes while it is decoded into a render, so
// that a render allocates its own samples and nothing else.
var scratch = sync.Pool{New: func() any { return new([]byte) }}

// appendRaw decodes raw clip c into out's spare room, faded as fade does
// and then at gain g, in one pass (false: c is no raw clip of the length
// it had when the pack was loaded).
func appendRaw(out []int16, c clipFile, g int32) ([]int16, bool) {
	if !isRaw(c.file) {
		return out, false
	}
	f, err := c.fsys.Open(c.file)
	if err != nil {
		return out, false
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.Size() != int64(2*c.samples) {
		return out, false
	}
	bp := scratch.Get().(*[]byte)
	defer scratch.Put(bp)
	if cap(*bp) < 2*c.samples {
		*bp = make([]byte, 2*c.samples)
	}
	b := (*bp)[:2*c.samples]
	if _, err := io.ReadFull(f, b); err != nil {
		return out, false
	}
	start := len(out)
	out = append(out, make([]int16, c.samples)...)
	dst := out[start:]
	b = b[:2*len(dst)] // one bounds check for the loops
	nf := min(fadeMs*SampleRate/1000, len(dst)/2)
	raw := func(i int) int32 { return int32(int16(uint16(b[2*i]) | uint16(b[2*i+1])<<8)) }
	for i := 0; i < nf; i++ { // the edges, faded first, as fade does
		dst[i] = int16((int32(int16(raw(i)*int32(i)/int32(nf)))*g + 1<<14) >> 15)
		j := len(dst) - 1 - i
		dst[j] = int16((int32(int16(raw(j)*int32(i)/int32(nf)))*g + 1<<14) >> 15)
	}
	mid := dst[nf : len(dst)-nf]
	for i := range mid {
		dst[nf+i] = int16((raw(nf+i)*g + 1<<14) >> 15)
	}
	return out, true
}

// gain sets pcm to gain g (Q15, at most unity: the products always fit).
func gain(pcm []int16, g int32) {
	for i, s := range pcm {
		pcm[i] = int16((int32(s)*g + 1<<14) >> 15)
	}
}

// gapBefore is the silence, in samples, put before units[i].
func gapBefore(units []string, i int) int {
	switch {
	case units[i] == "":
		return pauseMs * SampleRate / 1000
	case i == 0 || units[i-1] == "":
		return 0
	case utf8.RuneCountInString(units[i]) > 1 || utf8.RuneCountInString(units[i-1]) > 1:
		return phraseGapMs * SampleRate / 1000
	default:
		return wordGapMs * SampleRate / 1000
	}
}

// fade ramps the first and last n samples linearly, in place.
func fade(pcm []int16, n int) {
	n = min(n, len(pcm)/2)
	for i := 0; i < n; i++ {
		pcm[i] = int16(int32(pcm[i]) * int32(i) / int32(n))
		j := len(pcm) - 1 - i
		pcm[j] = int16(int32(pcm[j]) * int32(i) / int32(n))
	}
}

func decodeRaw(data []byte) ([]int16, error) {
	if len(data)%2 != 0 {
		return nil, errors.New("odd length for 16-bit samples")
	}
	pcm := make([]int16, len(data)/2)
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(data[2*i:]))
	}
	return pcm, nil
}

// decodeWAV reads a RIFF WAVE file holding 16-bit PCM, mono, at SampleRate;
// anything else is an error (gen.sh converts recordings to that).
func decodeWAV(data []byte) ([]int16, error) {
	if len(data) < 12 || string(data[0:4]) != "RIFF" || string(data[8:12]) != "WAVE" {
		return nil, errors.New("not a RIFF WAVE file")
	}
	var fmtOK bool
	for p := 12; p+8 <= len(data); {
		id, size := string(data[p:p+4]), int(binary.LittleEndian.Uint32(data[p+4:]))
		body := data[p+8:]
		if size < 0 || size > len(body) {
			if id != "data" {
				return nil, fmt.Errorf("chunk %q overruns the file", id)
			}
			size = len(body) &^ 1 // streamed WAVs may carry a bogus data size
		}
		body = body[:size]
		switch id {
		case "fmt ":
			if size < 16 {
				return nil, errors.New("short fmt chunk")
			}
			format := binary.LittleEndian.Uint16(body[0:])
			channels := binary.LittleEndian.Uint16(body[2:])
			rate := binary.LittleEndian.Uint32(body[4:])
			bits := binary.LittleEndian.Uint16(body[14:])
			if (format != 1 && format != 0xFFFE) || channels != 1 || rate != SampleRate || bits != 16 {
				return nil, fmt.Errorf("want 16-bit PCM mono %d Hz, have format %d, %d channels, %d Hz, %d bits",
					SampleRate, format, channels, rate, bits)
			}
			fmtOK = true
		case "data":
			if !fmtOK {
				return nil, errors.New("data chunk before fmt chunk")
			}
			return decodeRaw(body[:size&^1])
		}
		p += 8 + size + size&1 // chunks are padded to even sizes
	}
	return nil, errors.New("no data chunk")
}

// volumeQ15 is the gain of each volume level in Q15 (32768 = unity): 2 dB a
// step below 10, which sounds even to the ear where a linear ramp would crowd
// all the change into the low levels. With the clips at -16 dBFS RMS
// (voice/gen.sh), level 6, the default, plays at -24 dBFS, 10 at -16 and 1
// at -34, still heard in a quiet shop (TestVolumeLevels reports each).
// Level 0 is silence. Values are round(32768 * 10^(-2(10-l)/20)).
var volumeQ15 = [11]int32{0, 4125, 5193, 6538, 8231, 10362, 13045, 16423, 20675, 26029, 32768}

// Scale returns a copy of pcm at volume level 0..10 (clamped): 0 is silence,
// 10 unchanged. Gains never exceed unity and products are rounded in fixed
// point, so nothing clips.
func Scale(pcm []int16, level int) []int16 {
	out := make([]int16, len(pcm))
	scaleInto(out, pcm, level)
	return out
}

// scaleInto writes pcm at volume level into out[:len(pcm)]; out may be
// pcm itself, for samples no one else holds. Every gain is at most unity,
// so a product rounded back always fits an int16: no clamp is needed.
func scaleInto(out, pcm []int16, level int) {
	level = min(max(level, 0), 10)
	g := volumeQ15[level]
	out = out[:len(pcm)]
	if g == 0 {
		clear(out)
		return
	}
	copy(out, pcm)
	gain(out, g)
}
