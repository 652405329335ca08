package platform

import (
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Broker is an embedded MQTT broker (mochi-mqtt) for the dev kit and tests.
// It allows every client: it is meant for loopback only.
type Broker struct {
	srv  *mochi.Server
	addr string
	url  string
}

// StartBroker starts a broker listening on addr ("127.0.0.1:0" picks a
// free port). log may be nil to discard the broker's own logs.
func StartBroker(addr string, log *slog.Logger) (*Broker, error) {
	return StartTLSBroker(addr, nil, log)
}

// StartTLSBroker is StartBroker with TLS on the listener when tc is not nil.
func StartTLSBroker(addr string, tc *tls.Config, log *slog.Logger) (*Broker, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv := mochi.New(&mochi.Options{InlineClient: true, Logger: log})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		return nil, err
	}
	l := listeners.NewTCP(listeners.Config{ID: "tcp", Address: addr, TLSConfig: tc})
	if err := srv.AddListener(l); err != nil {
		return nil, fmt.Errorf("broker listen %s: %w", addr, err)
	}
	go srv.Serve()
	scheme := "tcp://"
	if tc != nil {
		scheme = "tls://"
	}
	return &Broker{srv: srv, addr: l.Address(), url: scheme + l.Address()}, nil
}

// ServeBroker is a broker on a listener of the caller's: another
// transport, or the in-memory network of tests whose time is a bubble's
// (testing/synctest). Its URL is "mem://" plus the listener's address;
// clients reach it through their Dial option.
func ServeBroker(ln net.Listener, log *slog.Logger) (*Broker, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	srv := mochi.New(&mochi.Options{InlineClient: true, Logger: log})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		return nil, err
	}
	l := listeners.NewNet("mem", ln)
	if err := srv.AddListener(l); err != nil {
		return nil, err
	}
	go srv.Serve()
	return &Broker{srv: srv, addr: ln.Addr().String(), url: "mem://" + ln.Addr().String()}, nil
}

// Addr is the listening address (host:port).
func (b *Broker) Addr() string { return b.addr }

// URL is the URL clients dial: tcp:// or tls://.
func (b *Broker) URL() string { return b.url }

// Unacked is how many messages the broker has sent to client id with QoS
// 1 or 2 and awaits the acknowledgement of (0 for a client it does not
// know): what it would send again on the client's reconnect.
func (b *Broker) Unacked(id string) int {
	cl, ok := b.srv.Clients.Get(id)
	if !ok {
		return 0
	}
	return cl.State.Inflight.Len()
}

// Close stops the broker and drops every connection.
//
// mochi v2.7.9's own Close can wait for ever: Clients.GetByListener takes
// the clients' read lock and, under it, again (Clients.Len); a client
// leaving at that moment queues Delete's write lock between the two, and
// both wait on each other (seen once in the device tests: 11 minutes, every
// goroutine parked). So the clients are dropped first, given a moment to
// leave, and mochi's Close gets closeWait to end; past that it is left
// behind (the listener is closed by then) and Close says so.
func (b *Broker) Close() error {
	for _, cl := range b.srv.Clients.GetAll() {
		if !cl.Net.Inline && !cl.Closed() {
			b.srv.DisconnectClient(cl, packets.ErrServerShuttingDown) // as mochi's Close does
		}
	}
	time.Sleep(10 * time.Millisecond)
	done := make(chan error, 1)
	go func() { done <- b.srv.Close() }()
	select {
	case err := <-done:
		return err
	case <-time.After(closeWait):
		return fmt.Errorf("broker %s: close still waiting after %v (mochi's clients lock)", b.addr, closeWait)
	}
}

// closeWait bounds Close.
const closeWait = 10 * time.Second
