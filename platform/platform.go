// Package platform is the platform's side of the wire, used by posctl and
// by tests: it signs commands for devices, verifies their events (HS256 with
// the device's auth key, PS256 with the public key from its device.hello),
// and, in sim.go, simulates the platform and its payment providers.
//
// Invariants:
//   - Send signs HS256 with the device's auth key, a fresh jti and an exp
//     CommandTTL ahead, and sends nothing to a device it does not know;
//   - a subscriber gets each event in the order the broker delivered it,
//     verified (signature, exp, iat, a dev claim equal to the topic's) or
//     with Err set; state documents are passed on as they came, unsigned;
//   - a device's public key is pinned by its first verified device.hello,
//     and another replaces it only with a key_proof signed by the pinned
//     key or after Rebind;
//   - the Sim refuses a money-out request not signed PS256, and the events
//     and requests it passes on (OnEvent, OnAnswer) have the payment code
//     masked;
//   - the Provider is idempotent by out_trade_no and out_refund_no (a
//     submit it has seen never charges), shows and moves an order only for
//     the device that made it, and keeps no payment code, only its digest.
package platform

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"github.com/posagent/posagent/wire"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/posagent/posagent/mqtt"
)

// Device is what the platform knows of one device.
type Device struct {
	ID      string
	AuthKey []byte
	// Pub verifies the device's PS256 requests; learnt from the first
	// device.hello and then pinned (see learnKey).
	Pub *rsa.PublicKey
	// KeyRefused counts hellos that announced another key without proof.
	KeyRefused int
}

// Event is one verified event, or one state document, from a device.
type Event struct {
	Dev     string
	Topic   string
	Message mqtt.Message    // for evt
	State   json.RawMessage // for state
	Err     error           // verification failure (the raw token is dropped)
}

// Client is a platform connection to the broker.
type Client struct {
	c      paho.Client
	prefix string
	log    *slog.Logger
	now    func() time.Time
	ttl    time.Duration

	mu      sync.Mutex
	devices map[string]*Device
	subs    []chan Event
	// topics are the live subscriptions, made again on every reconnect:
	// the session is clean, so a broker restart forgets them.
	topics map[string]paho.MessageHandler

	// Close waits for the subscriptions' unsubscribes (unsubs) before it
	// disconnects: paho blocks an Unsubscribe begun on a client that is
	// then disconnected under it for its write timeout (30 s).
	closeOnce sync.Once
	closed    chan struct{}
	unsubs    sync.WaitGroup
}

// Options configure a Client.
type Options struct {
	URL, ClientID, Username, Password, Prefix string
	Log                                       *slog.Logger
	Now                                       func() time.Time
	// CommandTTL is the exp of signed commands; default 5 minutes.
	CommandTTL time.Duration
	// TLS is used for tls:// URLs (nil: system roots).
	TLS *tls.Config
	// Persistent keeps the MQTT session (clean session off), so events
	// published while this client is away are queued for it by the broker,
	// as a production platform worker needs; it requires a fixed ClientID.
	Persistent bool
	// Dial, when set, makes the connection in place of dialling URL (the
	// in-memory network of ServeBroker's tests).
	Dial func() (net.Conn, error)
}

// Dial connects to the broker with a clean session.
func Dial(ctx context.Context, o Options) (*Client, error) {
	if o.Prefix == "" {
		o.Prefix = mqtt.DefaultPrefix
	}
	if o.ClientID == "" {
		o.ClientID = "platform-" + mqtt.NewID()[:8]
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.CommandTTL <= 0 {
		o.CommandTTL = 5 * time.Minute
	}
	c := &Client{prefix: o.Prefix, log: o.Log, now: o.Now, ttl: o.CommandTTL, devices: map[string]*Device{}, topics: map[string]paho.MessageHandler{}, closed: make(chan struct{})}
	opts := paho.NewClientOptions().AddBroker(o.URL).SetClientID(o.ClientID).
		SetUsername(o.Username).SetPassword(o.Password).SetCleanSession(!o.Persistent).
		SetAutoReconnect(true).SetConnectTimeout(5 * time.Second).SetOrderMatters(true)
	if o.TLS != nil {
		opts.SetTLSConfig(o.TLS)
	}
	if o.Dial != nil {
		opts.SetCustomOpenConnectionFn(func(*url.URL, paho.ClientOptions) (net.Conn, error) { return o.Dial() })
	}
	opts.SetOnConnectHandler(c.resubscribe)
	c.c = paho.NewClient(opts)
	t := c.c.Connect()
	select {
	case <-t.Done():
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if err := t.Error(); err != nil {
		return nil, fmt.Errorf("connect %s: %w", o.URL, err)
	}
	return c, nil
}

// resubscribe makes the subscriptions again after a reconnect (paho's
// automatic reconnect keeps none with a clean session).
func (c *Client) resubscribe(cl paho.Client) {
	c.mu.Lock()
	topics := make(map[string]paho.MessageHandler, len(c.topics))
	for t, h := range c.topics {
		topics[t] = h
	}
	c.mu.Unlock()
	for topic, h := range topics {
		cl.Subscribe(topic, 1, h) // not waited for: this runs on paho's goroutine
	}
}

// Close disconnects.
func (c *Client) Close() {
	c.closeOnce.Do(func() { close(c.closed) })
	c.unsubs.Wait()
	c.c.Disconnect(100)
}

// AddDevice registers a device's keys.
func (c *Client) AddDevice(d Device) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cp := d
	c.devices[d.ID] = &cp
}

// DeviceInfo returns what is known of a device.
func (c *Client) DeviceInfo(id string) (Device, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.devices[id]
	if !ok {
		return Device{}, false
	}
	return *d, true
}

// Send signs a command for dev and publishes it on dev's cmd topic with QoS 1.
// It returns the message as sent (its ID is the jti answers will ref).
func (c *Client) Send(dev, typ string, body any) (mqtt.Message, error) {
	return c.SendRef(dev, typ, "", body)
}

// SendRef is Send for an answer: ref is the jti of the device's request it
// answers (protocol §2), so a device may tie the answer to its request.
func (c *Client) SendRef(dev, typ, ref string, body any) (mqtt.Message, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return mqtt.Message{}, err
	}
	now := c.now()
	m := mqtt.Message{ID: mqtt.NewID(), Type: typ, Ref: ref, Dev: dev, IssuedAt: now, ExpiresAt: now.Add(c.ttl), Body: raw}
	tok, err := c.Sign(m)
	if err != nil {
		return m, err
	}
	return m, c.Publish(dev, tok)
}

// Sign signs m with its device's auth key (HS256).
func (c *Client) Sign(m mqtt.Message) (string, error) {
	d, ok := c.DeviceInfo(m.Dev)
	if !ok {
		return "", fmt.Errorf("unknown device %q", m.Dev)
	}
	return mqtt.Sign(m, mqtt.Keys{Auth: d.AuthKey})
}

// Publish sends a raw token to dev's cmd topic (tests use it for forged ones).
func (c *Client) Publish(dev, token string) error {
	t, err := mqtt.TopicsFor(c.prefix, dev)
	if err != nil {
		return err
	}
	pt := c.c.Publish(t.Cmd, 1, false, token)
	if !pt.WaitTimeout(10 * time.Second) {
		return errors.New("publish: no PUBACK")
	}
	return pt.Error()
}

// Subscribe delivers the verified events and state of the devices matched by
// dev ("+" for all) until ctx is done. share, when not empty, subscribes as
// the shared group of that name (platform workers scaling out).
func (c *Client) Subscribe(ctx context.Context, dev, share string) (<-chan Event, error) {
	ch := make(chan Event, 256)
	evt := c.prefix + "/" + dev + "/evt"
	state := c.prefix + "/" + dev + "/state"
	if share != "" {
		evt = "$share/" + share + "/" + evt
	}
	// Events are delivered in the order the broker sent them (a device's
	// outbox is ordered). The handler runs on paho's router, which must
	// never block (it also carries the PUBACKs a consumer may be waiting
	// for), so it only queues; a pump feeds ch. It acknowledges first, as
	// paho would once it returns (the queue is in memory either way): the
	// goroutines that write the PUBACK are then woken before the pump, not
	// after it, and the event reaches ch without waiting for that write.
	var (
		qmu   sync.Mutex
		queue []Event
		more  = make(chan struct{}, 1)
	)
	handler := func(_ paho.Client, msg paho.Message) {
		msg.Ack()
		e := c.decode(msg.Topic(), msg.Payload())
		qmu.Lock()
		queue = append(queue, e)
		qmu.Unlock()
		select {
		case more <- struct{}{}:
		default:
		}
	}
	go func() {
		for {
			qmu.Lock()
			batch := queue
			queue = nil
			qmu.Unlock()
			for _, e := range batch {
				select {
				case ch <- e:
				case <-ctx.Done():
					return
				}
			}
			select {
			case <-more:
			case <-ctx.Done():
				return
			}
		}
	}()
	for _, topic := range []string{evt, state} {
		t := c.c.Subscribe(topic, 1, handler)
		if !t.WaitTimeout(10*time.Second) || t.Error() != nil {
			return nil, fmt.Errorf("subscribe %s: %v", topic, t.Error())
		}
		c.mu.Lock()
		c.topics[topic] = handler
		c.mu.Unlock()
	}
	c.unsubs.Add(1)
	go func() {
		defer c.unsubs.Done()
		select {
		case <-ctx.Done():
		case <-c.closed:
			return
		}
		c.mu.Lock()
		delete(c.topics, evt)
		delete(c.topics, state)
		c.mu.Unlock()
		c.c.Unsubscribe(evt, state)
	}()
	return ch, nil
}

func (c *Client) decode(topic string, payload []byte) Event {
	parts := strings.Split(strings.TrimPrefix(topic, c.prefix+"/"), "/")
	e := Event{Topic: topic}
	if len(parts) != 2 {
		e.Err = fmt.Errorf("unexpected topic %s", topic)
		return e
	}
	e.Dev = parts[0]
	if parts[1] == "state" {
		e.State = append(json.RawMessage(nil), payload...)
		return e
	}
	d, ok := c.DeviceInfo(e.Dev)
	if !ok {
		e.Err = fmt.Errorf("event from unknown device %q", e.Dev)
		return e
	}
	m, err := mqtt.Verify(payload, mqtt.Keys{Auth: d.AuthKey, DevicePub: d.Pub}, mqtt.Policy{
		Algs: []string{mqtt.HS256, mqtt.PS256}, Dev: e.Dev, Now: c.now(),
	})
	e.Message, e.Err = m, err
	if err == nil && m.Type == wire.TypeDeviceHello {
		c.learnKey(e.Dev, m.Body)
	}
	return e
}

// learnKey pins the public key a device announces in device.hello: the
// first one is kept, and a different one later replaces it only when the
// hello proves possession of the pinned key (key_proof, KeyProof) or after
// Rebind (an installer re-binding the device). Otherwise anyone holding the
// auth key — which a config QR carries — could announce their own key and
// then sign refunds as the device: PS256 would protect nothing.
func (c *Client) learnKey(dev string, body json.RawMessage) {
	var h wire.DeviceHello
	if json.Unmarshal(body, &h) != nil {
		return
	}
	pub, err := ParsePublicKey(h.PublicKey)
	if err != nil {
		c.log.Warn("device.hello with a bad public key", "dev", dev, "err", err)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.devices[dev]
	switch {
	case !ok:
	case d.Pub == nil || d.Pub.Equal(pub):
		d.Pub = pub
	case VerifyKeyProof(d.Pub, dev, h.PublicKey, h.KeyProof) == nil:
		c.log.Info("device key rotated with proof of the pinned key", "dev", dev)
		d.Pub = pub
	default:
		d.KeyRefused++
		c.log.Warn("device.hello with another public key refused: the pinned key is kept (re-bind the device to accept a new one)", "dev", dev)
	}
}

// Rebind forgets dev's pinned key: the next device.hello pins its key. It
// is the platform's side of an installer re-binding a device (a new config
// QR), for a device whose key was lost.
func (c *Client) Rebind(dev string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d, ok := c.devices[dev]; ok {
		d.Pub, d.KeyRefused = nil, 0
	}
}

// keyProofText is what a key_proof signs: the device and its new key.
func keyProofText(dev, newPEM string) []byte {
	return []byte("posagent-key-rotate-v1\n" + dev + "\n" + newPEM)
}

// KeyProof signs dev's new public key (PEM) with its old private key, for
// the key_proof of a device.hello that rotates the device key.
func KeyProof(old *rsa.PrivateKey, dev, newPEM string) (string, error) {
	sum := sha256.Sum256(keyProofText(dev, newPEM))
	sig, err := rsa.SignPSS(rand.Reader, old, crypto.SHA256, sum[:], nil)
	return base64.StdEncoding.EncodeToString(sig), err
}

// VerifyKeyProof checks a key_proof against the pinned key.
func VerifyKeyProof(pinned *rsa.PublicKey, dev, newPEM, proof string) error {
	sig, err := base64.StdEncoding.DecodeString(proof)
	if err != nil || proof == "" {
		return errors.New("no key proof")
	}
	sum := sha256.Sum256(keyProofText(dev, newPEM))
	return rsa.VerifyPSS(pinned, crypto.SHA256, sum[:], sig, nil)
}

// ParsePublicKey parses a PEM SubjectPublicKeyInfo RSA key.
func ParsePublicKey(p string) (*rsa.PublicKey, error) {
	block, _ := pem.Decode([]byte(p))
	if block == nil {
		return nil, errors.New("not PEM")
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("not an RSA key")
	}
	return rk, nil
}

// Await waits on events for the first one answering jti.
func Await(ctx context.Context, events <-chan Event, jti string) (mqtt.Message, error) {
	for {
		select {
		case <-ctx.Done():
			return mqtt.Message{}, fmt.Errorf("no answer to %s: %w", jti, ctx.Err())
		case e, ok := <-events:
			if !ok {
				return mqtt.Message{}, errors.New("event stream closed")
			}
			if e.Err == nil && e.State == nil && e.Message.Ref == jti {
				return e.Message, nil
			}
		}
	}
}
