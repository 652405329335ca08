package testkit

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestLogIsSafe(t *testing.T) {
	var l Log
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fmt.Fprintf(&l, "%d\n", i)
			_ = l.String()
		}()
	}
	wg.Wait()
	if n := len(l.String()); n != 16 {
		t.Fatalf("%d bytes", n)
	}
}

// fake records a failure instead of ending the test.
type fake struct {
	testing.TB
	failed string
}

func (f *fake) Helper()                        {}
func (f *fake) Fatalf(format string, a ...any) { f.failed = fmt.Sprintf(format, a...) }

func TestWaitUntil(t *testing.T) {
	start := time.Now()
	n := 0
	WaitUntil(t, time.Second, "three polls", func() bool { n++; return n == 3 })
	if n != 3 {
		t.Fatalf("polled %d times", n)
	}
	f := &fake{}
	WaitUntil(f, 20*time.Millisecond, "never true", func() bool { return f.failed != "" })
	if f.failed != "never: never true" || time.Since(start) > 5*time.Second {
		t.Fatalf("failed %q after %v", f.failed, time.Since(start))
	}
}
