package mqtt

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/posagent/posagent/journal"
)

// heldAck is a command whose PUBACK cannot be written yet (paho's Ack
// waits for the socket's writer, which a stalled uplink holds up).
type heldAck struct {
	payload []byte
	release chan struct{}
	acked   chan struct{}
}

func (m *heldAck) Duplicate() bool   { return false }
func (m *heldAck) Qos() byte         { return 1 }
func (m *heldAck) Retained() bool    { return false }
func (m *heldAck) Topic() string     { return "" }
func (m *heldAck) MessageID() uint16 { return 1 }
func (m *heldAck) Payload() []byte   { return m.payload }
func (m *heldAck) Ack() {
	<-m.release
	close(m.acked)
}

// The work commands start (then) does not wait for their PUBACKs to be
// written: a PUBACK held up by the uplink holds up the acknowledgements
// only, which then go, in order, once it can be written.
func TestThenDoesNotWaitForTheUplink(t *testing.T) {
	j, err := journal.Open(filepath.Join(t.TempDir(), "journal.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	ran := make(chan int, 4)
	commands := func(payloads [][]byte) ([]bool, func()) {
		done := make([]bool, len(payloads))
		for i := range done {
			done[i] = true
		}
		n := len(payloads)
		return done, func() { ran <- n }
	}
	l, err := NewLink(LinkConfig{URL: "tcp://127.0.0.1:1", DeviceID: "dev-held"}, j, Handlers{Commands: commands})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go l.acceptLoop(ctx)
	go l.ackLoop(ctx)
	release := make(chan struct{})
	first := &heldAck{payload: []byte("first"), release: release, acked: make(chan struct{})}
	second := &heldAck{payload: []byte("second"), release: make(chan struct{}), acked: make(chan struct{})}
	close(second.release)
	l.inbox <- first
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("then waited for a PUBACK the uplink held up")
	}
	l.inbox <- second
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("the next command's then waited for the first one's PUBACK")
	}
	select {
	case <-second.acked:
		t.Fatal("the second command was acknowledged before the first")
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	for i, m := range []*heldAck{first, second} {
		select {
		case <-m.acked:
		case <-time.After(5 * time.Second):
			t.Fatalf("command %d never acknowledged", i+1)
		}
	}
}
