package audio

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// benchAmounts are announcements of every length a till produces.
var benchAmounts = []int64{5, 12850, 100100, 99999999999}

// BenchmarkRenderAnnouncement is the cost of what a payment says, from fen
// to one PCM buffer at the device volume: words, clips, gaps, Scale. One
// sub-benchmark per amount, from the shortest reading to the longest, each
// from the clips said recently (warm: what a till's next payment costs)
// and from the pack (cold: every clip decoded, as the first time). Each
// render is recycled once made, as the player recycles one once played.
func BenchmarkRenderAnnouncement(b *testing.B) {
	v := freshVoice(b) // its own, as its clips kept are dropped
	for _, fen := range benchAmounts {
		for _, cold := range []bool{false, true} {
			name := strconv.FormatInt(fen, 10) + map[bool]string{false: "/warm", true: "/cold"}[cold]
			b.Run(name, func(b *testing.B) {
				var secs float64
				for b.Loop() {
					if cold {
						v.recent = newRecentClips(recentSamples)
					}
					// As the player renders: at the volume (6), in one pass.
					pcm, err := v.renderAt(Announcement("pay", "wechat", fen, Options{}), 6)
					if err != nil {
						b.Fatal(err)
					}
					secs = float64(len(pcm)) / SampleRate
					recycle(pcm) // played: as the player gives it to the next render
				}
				b.ReportMetric(secs, "audio-s")
			})
		}
	}
}

// pinyinOf turns text into the pinyin of its units from voice/units.tsv —
// what espeak-ng's cmn-latn-pinyin voice reads.
func pinyinOf(b *testing.B, text string) string {
	raw, err := os.ReadFile("voice/units.tsv")
	if err != nil {
		b.Fatal(err)
	}
	py := map[string]string{}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Split(line, "\t")
		if len(f) == 3 && !strings.HasPrefix(line, "#") {
			py[f[0]] = f[2]
		}
	}
	units, err := DefaultVoice().Split(text)
	if err != nil {
		b.Fatal(err)
	}
	var words []string
	for _, u := range units {
		words = append(words, py[u])
	}
	return strings.Join(words, " ")
}

// BenchmarkEspeakLive is the alternative a user might pick: synthesising
// the same announcement live with espeak-ng (cmn-latn-pinyin, as the pack is
// made), for the whole WAV (ns/op) and for its first bytes (first-ms). It
// is skipped where espeak-ng is not installed.
func BenchmarkEspeakLive(b *testing.B) {
	bin, err := exec.LookPath("espeak-ng")
	if err != nil {
		b.Skip("espeak-ng not installed")
	}
	words := pinyinOf(b, Announcement("pay", "wechat", 12850, Options{}))
	var first time.Duration
	n := 0
	for b.Loop() {
		start := time.Now()
		cmd := exec.Command(bin, "-v", "cmn-latn-pinyin", "-s", "180", "--stdout", words)
		out, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		br := bufio.NewReader(out)
		if _, err := br.Peek(44 + 2); err != nil { // the WAV header and a sample
			b.Fatal(err)
		}
		first += time.Since(start)
		if _, err := io.Copy(io.Discard, br); err != nil {
			b.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(first.Microseconds())/1000/float64(n), "first-ms")
}
