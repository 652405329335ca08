package mqtt_test

import (
	"context"
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

// However early the link is stopped, even as its connection comes up, the
// state it leaves retained is never online: a clean disconnect fires no
// will, so an online state left behind would stay there.
func TestStopDuringConnectLeavesOffline(t *testing.T) {
	b, err := platform.StartBroker("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	j, err := journal.Open(filepath.Join(t.TempDir(), "journal.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
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
