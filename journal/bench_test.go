package journal

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkPruneNothingOld: the hourly prune of the notify records when
// none is old yet, at 1,000 and 100,000 kept (it read every one of them
// before ByAt: 172 ms at 100,000). The figure should not grow.
func BenchmarkPruneNothingOld(b *testing.B) {
	now := time.Unix(2_000_000_000, 0)
	for _, n := range []int{1000, 100000} {
		j, err := Open(filepath.Join(b.TempDir(), "j.db"))
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < n; {
			j.Update(func(tx *Tx) error {
				for k := 0; k < 5000 && i < n; k, i = k+1, i+1 {
					tx.Put(Notify, fmt.Sprintf("order-%08d", i), map[string]any{"at": now.Unix() - int64(i%3600), "body": map[string]any{"amount": 100}})
				}
				return nil
			})
		}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if got, err := j.Prune(Notify, now.Add(-7*24*time.Hour)); err != nil || got != 0 {
					b.Fatalf("pruned %d, %v", got, err)
				}
			}
		})
		j.Close()
	}
}
