package faults

import (
	"io"
	"net"
	"testing"
	"time"
)

func echoServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go io.Copy(c, c)
		}
	}()
	return ln.Addr().String()
}

func roundTrip(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		return err
	}
	b := make([]byte, 4)
	_, err = io.ReadFull(c, b)
	return err
}

func TestProxyFaults(t *testing.T) {
	x, err := Start(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if err := roundTrip(x.Addr()); err != nil {
		t.Fatalf("clean link: %v", err)
	}
	x.BlackHole()
	if err := roundTrip(x.Addr()); err == nil {
		t.Fatal("black hole delivered")
	}
	x.Clear()
	if err := roundTrip(x.Addr()); err != nil {
		t.Fatalf("after clear: %v", err)
	}
	x.Down()
	if err := roundTrip(x.Addr()); err == nil {
		t.Fatal("link down delivered")
	}
	if err := x.Up(); err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(x.Addr()); err != nil {
		t.Fatalf("back up: %v", err)
	}
	if err := x.Latency(20, 5); err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(x.Addr()); err != nil {
		t.Fatalf("with latency: %v", err)
	}
	x.Reset()
	if err := roundTrip(x.Addr()); err == nil {
		t.Fatal("reset link delivered")
	}
}
