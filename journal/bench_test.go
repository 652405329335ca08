package journal

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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

// BenchmarkCommit: one small commit (a notification's record and its
// open mark) with the log and without one (each commit a bbolt commit):
// time, fdatasync calls and bytes sent to the block layer per commit, a
// checkpoint at the end counted in.
func BenchmarkCommit(b *testing.B) {
	for _, mode := range []string{"log", "bbolt"} {
		b.Run(mode, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "j.db")
			if mode == "bbolt" {
				os.Mkdir(path+LogSuffix+".new", 0o700) // no log can be made
			}
			j, err := Open(path)
			if err != nil {
				b.Fatal(err)
			}
			defer j.Close()
			s0, w0 := j.Syncs(), writeBytes()
			i := 0
			for b.Loop() {
				i++
				if err := j.Update(func(tx *Tx) error {
					return tx.Put(Notify, fmt.Sprintf("order-%08d", i), map[string]any{"at": 2_000_000_000, "amount": 12850, "wallet": "wechat", "said": "微信收款一百二十八点五元"})
				}); err != nil {
					b.Fatal(err)
				}
			}
			if err := j.Checkpoint(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(j.Syncs()-s0)/float64(i), "fdatasync/op")
			b.ReportMetric(float64(writeBytes()-w0)/float64(i)/1024, "KB/op")
		})
	}
}

// writeBytes is the process's write_bytes (/proc/self/io).
func writeBytes() int64 {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}
