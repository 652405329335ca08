// Package testkit is what the tests of every package share: a log the test
// reads while the code under test writes it, and waiting for a condition.
// Tests only, the e2e module's too: no product binary imports it
// (cmd/posagent TestProductLinksNoTestCode).
package testkit

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// Log is a goroutine-safe sink (an slog handler's, a process's output)
// that the test reads while it is written.
type Log struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String is everything written so far.
func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Await reports whether the log holds s within d (a process's output
// reaches it through a pipe another goroutine copies, so a line logged
// before an effect the test saw may arrive after it).
func (l *Log) Await(s string, d time.Duration) bool {
	for deadline := time.Now().Add(d); ; time.Sleep(10 * time.Millisecond) {
		if strings.Contains(l.String(), s) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// WaitUntil polls ok until it holds, failing t with "never: what" after d.
// It polls often for a short d and at most every 50 ms for a long one.
func WaitUntil(t testing.TB, d time.Duration, what string, ok func() bool) {
	t.Helper()
	every := min(max(d/200, time.Millisecond), 50*time.Millisecond)
	for deadline := time.Now().Add(d); !ok(); time.Sleep(every) {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
	}
}
