package device

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// firstSample is the agent's speaker in the benchmark: it notes when the
// first samples of an announcement are handed to the output driver, then
// writes them as the sim board does (wav:DIR).
type firstSample struct {
	out AudioOut
	at  chan time.Time
}

func (f firstSample) Play(ctx context.Context, id string, pcm []int16) error {
	if strings.HasPrefix(id, "b-") { // not the status prompts (网络已连接)
		f.at <- time.Now()
	}
	return f.out.Play(ctx, id, pcm)
}

// BenchmarkNotifyFirstSample measures a notify.payment from the platform's
// publish to the first sample of its announcement reaching the audio output
// (Play called with the rendered, volume-scaled buffer), through the real
// agent: embedded broker, signature check, journal (bbolt, fsync'd: the
// command and the owed announcement), notify worker, playback queue, render.
// p50 and p99 over b.N notifications. On a board, ALSA adds at most its
// ~50 ms buffer before the sample is heard.
func BenchmarkNotifyFirstSample(b *testing.B) {
	r := newRig(b)
	fs := firstSample{out: r.wavOut(), at: make(chan time.Time, 1)}
	r.startWith(fs, time.Now)
	var lat []time.Duration
	i := 0
	for b.Loop() {
		i++
		start := time.Now()
		m := r.send("notify.payment", map[string]any{"order_id": fmt.Sprintf("b-%d", i), "amount": 12850 + int64(i), "wallet": "wechat"})
		select {
		case at := <-fs.at:
			lat = append(lat, at.Sub(start))
		case <-time.After(10 * time.Second):
			b.Fatal("no announcement")
		}
		r.answer(m.ID, 10*time.Second) // one at a time, like a till
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
