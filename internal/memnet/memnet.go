// Package memnet is a network in memory: a listener whose connections are
// net.Pipe pairs. Tests whose time is a bubble's (testing/synctest) run a
// broker and its clients on it, since a goroutine blocked on a real socket
// is not durably blocked and a bubble's clock would never move. Tests
// only: no product binary imports it.
package memnet

import (
	"errors"
	"net"
	"sync"
)

// Listener is a net.Listener whose Dial connects to it.
type Listener struct {
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

// Listen returns a listener; Dial connects to it.
func Listen() *Listener {
	return &Listener{conns: make(chan net.Conn), done: make(chan struct{})}
}

// Accept waits for the next Dial.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops Accept and refuses later Dials.
func (l *Listener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr names the listener.
func (l *Listener) Addr() net.Addr { return addr{} }

// Dial connects to the listener: one end of a pipe is the caller's, the
// other Accept's.
func (l *Listener) Dial() (net.Conn, error) {
	c, s := net.Pipe()
	select {
	case l.conns <- s:
		return c, nil
	case <-l.done:
		c.Close()
		s.Close()
		return nil, errors.New("memnet: listener closed")
	}
}

type addr struct{}

func (addr) Network() string { return "mem" }
func (addr) String() string  { return "memnet" }
