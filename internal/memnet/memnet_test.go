package memnet

import (
	"errors"
	"io"
	"net"
	"testing"
)

func TestDialAcceptClose(t *testing.T) {
	l := Listen()
	got := make(chan string, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(c)
		got <- string(b)
	}()
	c, err := l.Dial()
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("ping"))
	c.Close()
	if s := <-got; s != "ping" {
		t.Fatalf("accepted end read %q", s)
	}
	l.Close()
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
	if _, err := l.Dial(); err == nil {
		t.Fatal("Dial after Close connected")
	}
}
