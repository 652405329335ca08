package mqtt_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/platform"
)

// delayProxy forwards TCP to upstream, each chunk delivered oneWay later
// than it was read (in order): a link of 2×oneWay round trip.
func delayProxy(tb testing.TB, upstream string, oneWay time.Duration) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	pipe := func(dst, src net.Conn) {
		type chunk struct {
			at time.Time
			b  []byte
		}
		ch := make(chan chunk, 4096)
		go func() {
			for c := range ch {
				time.Sleep(time.Until(c.at))
				if _, err := dst.Write(c.b); err != nil {
					break
				}
			}
			dst.Close()
		}()
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				ch <- chunk{time.Now().Add(oneWay), append([]byte(nil), buf[:n]...)}
			}
			if err != nil {
				close(ch)
				return
			}
		}
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", upstream)
			if err != nil {
				c.Close()
				continue
			}
			go pipe(u, c)
			go pipe(c, u)
		}
	}()
	return "tcp://" + ln.Addr().String()
}

// backlog journals n events and drains them through a link with the given
// one-way delay to a real broker; it returns how long the drain took and
// the order the platform received the events in.
func backlog(tb testing.TB, n int, oneWay time.Duration) (time.Duration, []int) {
	b, err := platform.StartBroker("127.0.0.1:0", nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { b.Close() })
	j, err := journal.Open(filepath.Join(tb.TempDir(), "journal.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { j.Close() })
	for i := 0; i < n; {
		j.Update(func(tx *journal.Tx) error {
			for k := 0; k < 500 && i < n; k, i = k+1, i+1 {
				body, _ := json.Marshal(map[string]int{"n": i})
				if err := mqtt.Enqueue(tx, mqtt.Message{ID: mqtt.NewID(), Type: "notify.done", Body: body, IssuedAt: time.Now()}); err != nil {
					return err
				}
			}
			return nil
		})
	}
	topics, _ := mqtt.TopicsFor("", "dev-q")
	var mu sync.Mutex
	var got []int
	all := make(chan struct{})
	c := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID("platform"))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		tb.Fatalf("connect: %v", tok.Error())
	}
	tb.Cleanup(func() { c.Disconnect(0) })
	tok := c.Subscribe(topics.Evt, 1, func(_ paho.Client, m paho.Message) {
		parts := strings.Split(string(m.Payload()), ".")
		raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
		var claims struct {
			Body struct{ N int } `json:"body"`
		}
		json.Unmarshal(raw, &claims)
		mu.Lock()
		got = append(got, claims.Body.N)
		if len(got) == n {
			close(all)
		}
		mu.Unlock()
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		tb.Fatalf("subscribe: %v", tok.Error())
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	l, err := mqtt.NewLink(mqtt.LinkConfig{URL: delayProxy(tb, b.Addr(), oneWay), DeviceID: "dev-q", Log: quiet,
		Keys: mqtt.Keys{Auth: make([]byte, 32)}}, j, mqtt.Handlers{})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	tb.Cleanup(func() { cancel(); <-done })
	start := time.Now()
	select {
	case <-all:
	case <-time.After(60 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		tb.Fatalf("%d of %d events after 60 s", len(got), n)
	}
	took := time.Since(start)
	mu.Lock()
	defer mu.Unlock()
	return took, append([]int(nil), got...)
}

// A backlog is published in order, a window at a time, over a slow link.
func TestOutboxDrainsInOrder(t *testing.T) {
	took, got := backlog(t, 300, 25*time.Millisecond)
	for i, v := range got {
		if v != i {
			t.Fatalf("event %d arrived as the %dth: %v…", v, i, got[max(0, i-3):min(len(got), i+3)])
		}
	}
	t.Logf("300 events over a 50 ms round trip in %v", took.Round(time.Millisecond))
}

// BenchmarkOutboxBacklog: 1,000 events queued while offline, drained over a
// 50 ms round trip (a 4G link has more); the figure is the drain time.
func BenchmarkOutboxBacklog(b *testing.B) {
	for b.Loop() {
		took, got := backlog(b, 1000, 25*time.Millisecond)
		if len(got) != 1000 {
			b.Fatal(fmt.Sprint(len(got)))
		}
		b.ReportMetric(took.Seconds(), "s/1000-events")
	}
}
