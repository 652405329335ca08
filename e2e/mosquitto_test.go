package e2e

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/posagent/posagent/device"
	"github.com/posagent/posagent/e2e/faults"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/platform"
	"github.com/posagent/posagent/platform/mosquittotest"
)

// Passwords of the mosquitto tests' users.
const (
	devPassword  = "dev-pw-Zq3v9"
	platPassword = "plat-pw-7Hk2"
)

// withMosquitto starts mosquitto (TLS, passwords, ACL) for the env's device,
// an intruder device and the platform users "platform" and "sim", points the
// agent's config at it (username = device id, password, CA file) and
// re-dials the env's platform client through it.
func (e *env) withMosquitto(o mosquittotest.Options) *mosquittotest.Broker {
	e.t.Helper()
	if o.Devices == nil {
		o.Devices = map[string]string{}
	}
	o.Devices[e.cfg.DeviceID] = devPassword
	o.Devices["dev-intruder"] = "intruder-pw"
	o.Platform = map[string]string{"platform": platPassword, "sim": platPassword}
	mb := mosquittotest.Start(e.t, o)
	e.cfg.MQTT.URL = mb.URL()
	e.cfg.MQTT.Username, e.cfg.MQTT.Password = e.cfg.DeviceID, devPassword
	e.cfg.MQTT.CAFile = mb.CAFile
	e.writeConfig()
	e.plat.Close()
	plat, ev := e.dialPlatform(mb, "platform")
	e.plat, e.events = plat, ev
	return mb
}

// withProxiedMosquitto is withMosquitto with the agent reaching the broker
// through a toxiproxy (TLS through the proxy), on a 1 s keepalive and fast
// reconnects so that faults are noticed and healed quickly. The caller
// writes the config.
func (e *env) withProxiedMosquitto() (*mosquittotest.Broker, *faults.Proxy) {
	e.t.Helper()
	mb := e.withMosquitto(mosquittotest.Options{})
	proxy, err := faults.Start(mb.Addr())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { proxy.Close() })
	e.cfg.MQTT.URL = "tls://" + proxy.Addr()
	e.cfg.MQTT.KeepaliveMS = 1000
	e.cfg.MQTT.ReconnectMinMS, e.cfg.MQTT.ReconnectMaxMS = 20, 300
	return mb, proxy
}

// startSimOn runs the platform simulator on mb, as the user "sim", until
// ctx ends.
func (e *env) startSimOn(ctx context.Context, mb *mosquittotest.Broker) *platform.Sim {
	e.t.Helper()
	simCl, _ := e.dialPlatform(mb, "sim")
	sim := &platform.Sim{Client: simCl}
	if err := sim.Start(ctx); err != nil {
		e.t.Fatal(err)
	}
	return sim
}

// writeConfig saves e.cfg where the agent reads it.
func (e *env) writeConfig() {
	e.t.Helper()
	data, err := json.Marshal(e.cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(e.cfgPath, data, 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// dialPlatform connects a platform user to mb and subscribes to the
// device's events and state.
func (e *env) dialPlatform(mb *mosquittotest.Broker, user string) (*platform.Client, <-chan platform.Event) {
	e.t.Helper()
	return e.dialPlatformOpts(mb, user, false)
}

// dialPlatformOpts is dialPlatform with a persistent session when
// persistent is true (events published while it is away are kept for it).
func (e *env) dialPlatformOpts(mb *mosquittotest.Broker, user string, persistent bool) (*platform.Client, <-chan platform.Event) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	plat, err := platform.Dial(ctx, platform.Options{URL: mb.URL(), ClientID: user, Username: user, Password: platPassword, TLS: mb.TLSConfig(), Persistent: persistent})
	if err != nil {
		e.t.Fatalf("platform through mosquitto: %v\n%s", err, mb.Log())
	}
	e.t.Cleanup(plat.Close)
	plat.AddDevice(platform.Device{ID: e.cfg.DeviceID, AuthKey: e.cfg.AuthKeyBytes()})
	ev, err := plat.Subscribe(context.Background(), e.cfg.DeviceID, "")
	if err != nil {
		e.t.Fatal(err)
	}
	return plat, ev
}

// intruder is a paho client logged in as another device of the fleet.
type intruder struct {
	c   paho.Client
	got chan string
}

func newIntruder(t *testing.T, mb *mosquittotest.Broker, clientID string) *intruder {
	t.Helper()
	in := &intruder{got: make(chan string, 256)}
	opts := paho.NewClientOptions().AddBroker(mb.URL()).SetClientID(clientID).
		SetUsername("dev-intruder").SetPassword("intruder-pw").SetTLSConfig(mb.TLSConfig()).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
	in.c = paho.NewClient(opts)
	if tok := in.c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("intruder login: %v", tok.Error())
	}
	t.Cleanup(func() { in.c.Disconnect(50) })
	return in
}

func (in *intruder) snoop(topics ...string) {
	for _, topic := range topics {
		in.c.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) {
			select {
			case in.got <- m.Topic():
			default:
			}
		}).WaitTimeout(5 * time.Second) // refused or not: nothing may arrive
	}
}

func (in *intruder) publish(t *testing.T, topic, payload string) {
	t.Helper()
	if tok := in.c.Publish(topic, 1, false, payload); !tok.WaitTimeout(5 * time.Second) {
		t.Fatal("intruder publish: no PUBACK")
	}
}

// The real binary through mosquitto with TLS, a password and the ACL: it
// connects, is notified, takes a payment through the simulator (a
// shared-subscription worker logged in as "sim"), and another device of the
// fleet, logged in with its own password, can neither read its topics nor
// command it, not even with a command signed with its auth key, nor take
// over its session by claiming its client id.
func TestAgentThroughMosquitto(t *testing.T) {
	e := newEnv(t)
	mb := e.withMosquitto(mosquittotest.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim := e.startSimOn(ctx, mb)
	p := startAgent(t, e.bin, e.cfgPath)
	defer func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		<-p.done
		if t.Failed() {
			t.Logf("agent log:\n%s\nbroker log:\n%s", p.log, mb.Log())
		}
	}()
	e.waitHello(20 * time.Second)
	tr := newTracker()
	events := make(chan platform.Event, 256)
	answers := make(chan mqtt.Message, 256)
	var forgedSeen atomic.Value
	go func() { // split the event stream: the tracker, and answers by ref
		for ev := range e.events {
			if ev.Err == nil && ev.State == nil && ev.Message.Ref != "" {
				answers <- ev.Message
			}
			if ev.Err == nil && ev.State == nil {
				if ev.Message.Type == "device.volume" {
					forgedSeen.Store(ev.Message.ID)
				}
			}
			events <- ev
		}
	}()
	go tr.run(ctx, events)

	in := newIntruder(t, mb, e.cfg.DeviceID) // claims the agent's client id
	in.snoop("pos/v1/"+e.cfg.DeviceID+"/evt", "pos/v1/"+e.cfg.DeviceID+"/cmd", "pos/v1/"+e.cfg.DeviceID+"/state", "pos/v1/#", "#")
	await := func(jti string) mqtt.Message {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case m := <-answers:
				if m.Ref == jti {
					return m
				}
			case <-deadline:
				t.Fatalf("no answer to %s through mosquitto", jti)
			}
		}
	}

	// A notification, end to end.
	m, err := e.plat.Send(e.cfg.DeviceID, "notify.payment", map[string]any{"order_id": "MQ-1", "amount": 12850, "wallet": "wechat", "print": true})
	if err != nil {
		t.Fatal(err)
	}
	if ans := await(m.ID); ans.Type != "notify.done" || !strings.Contains(string(ans.Body), `"announced":true`) {
		t.Fatalf("answer %s %s", ans.Type, ans.Body)
	}
	// A payment, through the simulator's shared subscription.
	if _, err := e.plat.Send(e.cfg.DeviceID, "pay.collect", map[string]any{"out_trade_no": "MQ-PAY-1", "amount": 1000, "timeout_s": 10}); err != nil {
		t.Fatal(err)
	}
	if !tr.wait(20*time.Second, func() bool { return tr.awaiting["MQ-PAY-1"] }) {
		t.Fatal("pay.collect never awaited a code")
	}
	e.scan("134567890123450001")
	if !tr.wait(20*time.Second, func() bool { return tr.result["MQ-PAY-1"] != "" }) || tr.result["MQ-PAY-1"] != device.Paid {
		t.Fatalf("payment through mosquitto: %q", tr.result["MQ-PAY-1"])
	}
	if le, ok := sim.Provider.Entry("MQ-PAY-1"); !ok || le.Charges != 1 {
		t.Fatalf("ledger %+v", le)
	}

	// The intruder commands the agent with a correctly signed command (as
	// if it had stolen the auth key): the broker does not deliver it. A
	// platform command sent after it is answered; the intruder's never.
	now := time.Now()
	forged := mqtt.Message{ID: mqtt.NewID(), Type: "device.volume", Dev: e.cfg.DeviceID, IssuedAt: now, ExpiresAt: now.Add(time.Minute), Body: json.RawMessage(`{"level":0}`)}
	tok, err := mqtt.Sign(forged, mqtt.Keys{Auth: e.cfg.AuthKeyBytes()})
	if err != nil {
		t.Fatal(err)
	}
	in.publish(t, "pos/v1/"+e.cfg.DeviceID+"/cmd", tok)
	// and forges the agent's events towards the platform
	in.publish(t, "pos/v1/"+e.cfg.DeviceID+"/evt", tok)
	marker, err := e.plat.Send(e.cfg.DeviceID, "device.volume", map[string]any{"level": 7})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.After(20 * time.Second)
	for done := false; !done; {
		select {
		case a := <-answers:
			if a.Ref == forged.ID {
				t.Fatalf("the agent answered the intruder's command: %s %s", a.Type, a.Body)
			}
			if a.Ref == marker.ID {
				if !strings.Contains(string(a.Body), `"volume":7`) {
					t.Fatalf("marker answered %s", a.Body)
				}
				done = true
			}
		case <-deadline:
			t.Fatal("the platform's command after the intruder's was not answered")
		}
	}
	// The platform never saw the forged event as one of the device's.
	if id, _ := forgedSeen.Load().(string); id == forged.ID {
		t.Fatal("the intruder's event reached the platform")
	}
	// And the intruder read none of it.
	select {
	case topic := <-in.got:
		t.Fatalf("the intruder received a message on %s", topic)
	default:
	}
	// The local API listens on loopback only, and the process listens on
	// nothing else.
	for _, addr := range listening(t, p.cmd.Process.Pid) {
		if !addr.IsLoopback() {
			t.Errorf("the agent listens on %v", addr)
		}
	}
	// The agent kept its session all along (the intruder's client id
	// claim did not disconnect it).
	p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.done
	if strings.Contains(p.log.String(), "connection lost") {
		t.Errorf("the agent lost its connection:\n%s", p.log)
	}
	if _, err := os.Stat(filepath.Join(e.wavDir, "MQ-1.wav")); err != nil {
		t.Error(err)
	}
	// Secrets: neither the log nor the journal holds the MQTT password,
	// the auth key or the payment code; the data files are private.
	db, err := os.ReadFile(filepath.Join(e.cfg.DataDir, "journal.db"))
	if err != nil {
		t.Fatal(err)
	}
	wal, err := os.ReadFile(filepath.Join(e.cfg.DataDir, "journal.db"+journal.LogSuffix))
	if err != nil {
		t.Fatal(err)
	}
	db = append(db, wal...) // the log: every commit since the last checkpoint, and older ones behind them
	for name, secret := range map[string]string{"MQTT password": devPassword, "auth key": e.cfg.AuthKey,
		"auth key (raw)": string(e.cfg.AuthKeyBytes()), "payment code": "134567890123450001", "payment code head": "134567890123"} {
		if strings.Contains(p.log.String(), secret) {
			t.Errorf("%s in the agent's log", name)
		}
		if bytes.Contains(db, []byte(secret)) {
			t.Errorf("%s in the journal", name)
		}
	}
	checkPrivate(t, e.cfg.DataDir)
}

// checkPrivate fails t for anything in dir readable by group or others.
func checkPrivate(t *testing.T, dir string) {
	t.Helper()
	n := 0
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s is %v", path, fi.Mode().Perm())
		}
		n++
		return nil
	})
	if n < 3 { // the directory, the journal and the device key at least
		t.Errorf("data dir %s holds %d entries", dir, n)
	}
}

// listening returns the local addresses of the TCP sockets pid listens on
// (its socket inodes matched against /proc/net/tcp and tcp6).
func listening(t *testing.T, pid int) []net.IP {
	t.Helper()
	inodes := map[string]bool{}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	var ips []net.IP
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || f[3] != "0A" || !inodes[f[9]] { // 0A: LISTEN
				continue
			}
			hexIP := strings.Split(f[1], ":")[0]
			raw, err := hex.DecodeString(hexIP)
			if err != nil {
				t.Fatal(err)
			}
			// /proc prints each 32-bit word in host (little-endian) order.
			for i := 0; i+4 <= len(raw); i += 4 {
				raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
			}
			ips = append(ips, net.IP(raw))
		}
	}
	if len(ips) == 0 {
		t.Fatal("the agent listens on nothing: its local API is missing")
	}
	return ips
}
