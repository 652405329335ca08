package mosquittotest

import (
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

func dial(t *testing.T, b *Broker, clientID, user, pass string) (paho.Client, error) {
	t.Helper()
	opts := paho.NewClientOptions().AddBroker(b.URL()).SetClientID(clientID).
		SetUsername(user).SetPassword(pass).SetCleanSession(true).SetAutoReconnect(false).
		SetConnectTimeout(5 * time.Second).SetTLSConfig(b.TLSConfig())
	c := paho.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, errTimeout
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c, nil
}

type timeoutErr struct{}

func (timeoutErr) Error() string { return "connect timed out" }

var errTimeout = timeoutErr{}

func mustDial(t *testing.T, b *Broker, clientID, user, pass string) paho.Client {
	t.Helper()
	c, err := dial(t, b, clientID, user, pass)
	if err != nil {
		t.Fatalf("%s: %v\n%s", user, err, b.Log())
	}
	return c
}

func subscribe(t *testing.T, c paho.Client, topic string) <-chan string {
	t.Helper()
	ch := make(chan string, 64)
	tok := c.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) {
		ch <- m.Topic() + " " + string(m.Payload())
	})
	tok.WaitTimeout(5 * time.Second) // a refused subscription may report an error: either way nothing must arrive
	return ch
}

func publish(t *testing.T, c paho.Client, topic, payload string) {
	t.Helper()
	tok := c.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// The ACL: a device reads only its own cmd and writes only its own evt and
// state; the platform reaches every device. Checked with three real
// clients and a marker message sent after each probe, so "nothing arrived"
// is known to be after the probe had its chance.
func TestACLIsolatesDevices(t *testing.T) {
	b := Start(t, Options{
		Devices:  map[string]string{"dev-a": "pw-a", "dev-b": "pw-b"},
		Platform: map[string]string{"platform": "pw-p"},
	})
	a := mustDial(t, b, "dev-a", "dev-a", "pw-a")
	bb := mustDial(t, b, "dev-b", "dev-b", "pw-b")
	p := mustDial(t, b, "platform", "platform", "pw-p")

	aCmd := subscribe(t, a, "pos/v1/dev-a/cmd")
	bCmd := subscribe(t, bb, "pos/v1/dev-b/cmd")
	pEvt := subscribe(t, p, "pos/v1/+/evt")
	// B tries to read A's events, A's commands and everything.
	bSnoop := subscribe(t, bb, "pos/v1/dev-a/evt")
	bSnoop2 := subscribe(t, bb, "pos/v1/dev-a/cmd")
	bSnoop3 := subscribe(t, bb, "pos/v1/#")

	// B writes to A's cmd topic and forges A's events: not delivered.
	publish(t, bb, "pos/v1/dev-a/cmd", "forged-by-b")
	publish(t, bb, "pos/v1/dev-a/evt", "forged-evt-by-b")
	// The legitimate traffic, which B must not see.
	publish(t, p, "pos/v1/dev-a/cmd", "cmd-for-a")
	publish(t, a, "pos/v1/dev-a/evt", "evt-of-a")
	// Markers, in order after the probes.
	publish(t, p, "pos/v1/dev-b/cmd", "marker-b")
	publish(t, bb, "pos/v1/dev-b/evt", "evt-of-b")

	expect := func(ch <-chan string, want ...string) []string {
		t.Helper()
		var got []string
		deadline := time.After(5 * time.Second)
		for len(got) < len(want) {
			select {
			case m := <-ch:
				got = append(got, m)
			case <-deadline:
				t.Fatalf("got %q, want %q", got, want)
			}
		}
		for i := range want {
			if !strings.HasSuffix(got[i], want[i]) {
				t.Fatalf("got %q, want %q", got, want)
			}
		}
		return got
	}
	expect(aCmd, "cmd-for-a")            // not forged-by-b
	expect(bCmd, "marker-b")             // B's own commands work
	expect(pEvt, "evt-of-a", "evt-of-b") // not forged-evt-by-b
	for name, ch := range map[string]<-chan string{"A's evt": bSnoop, "A's cmd": bSnoop2, "pos/v1/#": bSnoop3} {
		for len(ch) > 0 {
			// On pos/v1/# B may see its own cmd topic, nothing of A's.
			if m := <-ch; !strings.HasPrefix(m, "pos/v1/dev-b/cmd ") {
				t.Errorf("device B subscribed to %s received %q", name, m)
			}
		}
	}
	select {
	case m := <-aCmd:
		t.Errorf("device A received %q", m)
	default:
	}
}

// Wrong passwords, unknown users and anonymous clients are refused; a
// plain-TCP client cannot talk to the TLS listener.
func TestAuthRefused(t *testing.T) {
	b := Start(t, Options{Devices: map[string]string{"dev-a": "pw-a"}})
	for _, c := range []struct{ user, pass string }{{"dev-a", "wrong"}, {"nobody", "pw-a"}, {"", ""}} {
		if _, err := dial(t, b, "x", c.user, c.pass); err == nil {
			t.Errorf("user %q with password %q connected", c.user, c.pass)
		}
	}
	plain := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + b.Addr()).SetClientID("dev-a").
		SetUsername("dev-a").SetPassword("pw-a").SetConnectTimeout(2 * time.Second).SetAutoReconnect(false))
	if tok := plain.Connect(); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
		plain.Disconnect(0)
		t.Error("plain TCP connected to the TLS listener")
	}
}

// A device logging in with another device's client id does not take over
// that device's session: the broker uses the username as the client id.
func TestClientIDIsUsername(t *testing.T) {
	b := Start(t, Options{Devices: map[string]string{"dev-a": "pw-a", "dev-b": "pw-b"}, Platform: map[string]string{"platform": "pw-p"}})
	lost := make(chan error, 1)
	opts := paho.NewClientOptions().AddBroker(b.URL()).SetClientID("dev-a").SetUsername("dev-a").SetPassword("pw-a").
		SetTLSConfig(b.TLSConfig()).SetAutoReconnect(false).SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err })
	a := paho.NewClient(opts)
	if tok := a.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer a.Disconnect(50)
	aCmd := subscribe(t, a, "pos/v1/dev-a/cmd")
	mustDial(t, b, "dev-a", "dev-b", "pw-b") // B claims A's client id
	p := mustDial(t, b, "platform", "platform", "pw-p")
	publish(t, p, "pos/v1/dev-a/cmd", "still-a")
	select {
	case m := <-aCmd:
		if !strings.HasSuffix(m, "still-a") {
			t.Fatalf("A got %q", m)
		}
	case err := <-lost:
		t.Fatalf("device A was disconnected by B's login: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("device A no longer gets its commands")
	}
}

// Packets over MaxPacketSize are refused by the broker itself.
func TestMaxPacketSize(t *testing.T) {
	b := Start(t, Options{Devices: map[string]string{"dev-a": "pw-a"}, Platform: map[string]string{"platform": "pw-p"}, MaxPacketSize: 256 << 10})
	a := mustDial(t, b, "dev-a", "dev-a", "pw-a")
	aCmd := subscribe(t, a, "pos/v1/dev-a/cmd")
	p := mustDial(t, b, "platform", "platform", "pw-p")
	big := strings.Repeat("x", 4<<20)
	p.Publish("pos/v1/dev-a/cmd", 1, false, big).WaitTimeout(5 * time.Second)
	p2 := mustDial(t, b, "platform2", "platform", "pw-p")
	publish(t, p2, "pos/v1/dev-a/cmd", "small")
	select {
	case m := <-aCmd:
		if len(m) > 1024 {
			t.Fatalf("a %d-byte message went through", len(m))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the small message after the big one never came")
	}
}
