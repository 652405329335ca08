package device

import (
	"fmt"
	"sort"
	"testing"
	"time"
)

// BenchmarkNotifyRoundTrip measures a notify.payment from the platform's
// publish to its notify.done, through the embedded broker, the journal
// (fsync'd bbolt), the voice rendering and a WAV write: p50 and p99 per op.
func BenchmarkNotifyRoundTrip(b *testing.B) {
	r := newRig(b)
	r.start()
	var lat []time.Duration
	i := 0
	for b.Loop() {
		i++
		start := time.Now()
		m := r.send("notify.payment", map[string]any{"order_id": fmt.Sprintf("b-%d", i), "amount": 12850, "wallet": "wechat", "print": true})
		r.answer(m.ID, 10*time.Second)
		lat = append(lat, time.Since(start))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
