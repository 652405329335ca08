package mqtt_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/platform"
)

// retained returns the retained message on topic (nil if none).
func retained(t *testing.T, url, topic string) []byte {
	t.Helper()
	got := make(chan []byte, 1)
	c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID("reader"))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(0)
	tok := c.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) {
		select {
		case got <- m.Payload():
		default:
		}
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	select {
	case p := <-got:
		return p
	case <-time.After(500 * time.Millisecond):
		return nil
	}
}

// brokerAndJournal is an embedded broker and a journal in a temporary
// directory, both closed when tb ends.
func brokerAndJournal(tb testing.TB) (*platform.Broker, *journal.Journal) {
	tb.Helper()
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
	return b, j
}

// However early the link is stopped, even as its connection comes up, the
// state it leaves retained is never online: a clean disconnect fires no
// will, so an online state left behind would stay there.
func TestStopDuringConnectLeavesOffline(t *testing.T) {
	b, j := brokerAndJournal(t)
	topics, _ := mqtt.TopicsFor("", "dev-stop")
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for i := 0; i < 40; i++ {
		l, err := mqtt.NewLink(mqtt.LinkConfig{URL: b.URL(), DeviceID: "dev-stop", Log: quiet}, j, mqtt.Handlers{})
		if err != nil {
			t.Fatal(err)
		}
		l.SetState([]byte(`{"online":true}`))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- l.Run(ctx) }()
		// Stop at a random point of the first few milliseconds: before the
		// connect, during it, and once it is up.
		time.Sleep(time.Duration(rand.IntN(4000)) * time.Microsecond)
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after the stop")
		}
		if s := retained(t, b.URL(), topics.State); s != nil && string(s) != `{"online":false}` {
			t.Fatalf("try %d: retained state %s after the stop", i, s)
		}
	}
}

// The work a batch of commands starts (Handlers.Commands' then: the
// agent's workers) runs once the batch's PUBACKs are on their way: while
// then runs, the broker sees them arrive. Were then run first, the wait
// in it would find its command still unacknowledged. The commands go one
// at a time, each after the last one's then, so that what the broker
// awaits is the one command's PUBACK.
func TestCommandsThenFollowsAcks(t *testing.T) {
	b, j := brokerAndJournal(t)
	const dev = "dev-then"
	topics, _ := mqtt.TopicsFor("", dev)
	acked := make(chan bool, 8) // each then: its command acknowledged
	commands := func(payloads [][]byte) ([]bool, func()) {
		done := make([]bool, len(payloads))
		for i := range done {
			done[i] = true
		}
		return done, func() {
			deadline := time.Now().Add(5 * time.Second)
			for b.Unacked(dev) > 0 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			acked <- b.Unacked(dev) == 0
		}
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	l, err := mqtt.NewLink(mqtt.LinkConfig{URL: b.URL(), DeviceID: dev, Log: quiet}, j, mqtt.Handlers{Commands: commands})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { l.Run(ctx); close(stopped) }()
	defer func() { cancel(); <-stopped }()
	deadline := time.Now().Add(5 * time.Second)
	for !l.Connected() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	c := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID("platform"))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(0)
	for i := range 5 {
		if tok := c.Publish(topics.Cmd, 1, false, fmt.Sprintf("command %d", i)); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
		select {
		case ok := <-acked:
			if !ok {
				t.Fatalf("command %d: then ran, and the broker never had its PUBACK", i)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("command %d: then did not run", i)
		}
	}
}
