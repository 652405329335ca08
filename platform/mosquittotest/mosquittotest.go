// Package mosquittotest runs a real mosquitto broker for tests, set up the
// way a fleet's broker is: TLS only (a CA made for the test), a username and
// password per device (mosquitto_passwd), an ACL file that lets a device
// read its own cmd topic and write its own evt and state topics and nothing
// else, and the client id forced to the username so one device cannot take
// over another's session.
//
// mosquitto comes from Debian (make deps installs it). Start skips the test
// with a clear message when the binary is missing, except under CI (CI set
// in the environment), where a missing broker fails the test.
package mosquittotest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Options shape the broker.
type Options struct {
	// Devices maps each device id (its username and client id) to its
	// password. A device may read P/<id>/cmd and write P/<id>/evt and
	// P/<id>/state, nothing else.
	Devices map[string]string
	// Platform maps platform usernames to passwords: they may read and
	// write every topic under the prefix (the platform and its workers).
	Platform map[string]string
	// Prefix is the topic prefix P; default "pos/v1".
	Prefix string
	// Plain serves tcp:// instead of tls:// (TLS is the default).
	Plain bool
	// MaxPacketSize, when positive, makes the broker drop any MQTT packet
	// larger than this many bytes (and disconnect its sender).
	MaxPacketSize int
	// MaxQueued is how many QoS 1 messages the broker holds for a client
	// that is away (mosquitto's max_queued_messages, 1000 by default);
	// negative: no limit.
	MaxQueued int
}

// Broker is a running mosquitto.
type Broker struct {
	t    testing.TB
	o    Options
	dir  string
	conf string
	port int
	// CAFile is the PEM file of the CA that signed the broker's certificate
	// (what a device's mqtt.ca_file names).
	CAFile string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	out  *syncBuffer
}

// Binary is the mosquitto executable Start runs, found on PATH or in
// /usr/sbin where Debian puts it.
func Binary() (string, error) {
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/mosquitto"); err == nil {
		return "/usr/sbin/mosquitto", nil
	}
	return "", fmt.Errorf("mosquitto not found (Debian package mosquitto; make deps installs it)")
}

func passwdBinary() (string, error) {
	if p, err := exec.LookPath("mosquitto_passwd"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/mosquitto_passwd"); err == nil {
		return "/usr/bin/mosquitto_passwd", nil
	}
	return "", fmt.Errorf("mosquitto_passwd not found (Debian package mosquitto)")
}

// Require skips t when mosquitto is not installed, or fails it under CI.
func Require(t testing.TB) string {
	t.Helper()
	bin, err := Binary()
	if err == nil {
		_, err = passwdBinary()
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v: CI must run the mosquitto tests", err)
		}
		t.Skipf("skipping: %v", err)
	}
	return bin
}

// Start writes the certificates, password and ACL files into a temporary
// directory and starts mosquitto on a free loopback port. It is stopped
// when the test ends.
func Start(t testing.TB, o Options) *Broker {
	t.Helper()
	Require(t)
	if o.Prefix == "" {
		o.Prefix = "pos/v1"
	}
	b := &Broker{t: t, o: o, dir: t.TempDir(), out: &syncBuffer{}}
	if err := b.setup(); err != nil {
		t.Fatal(err)
	}
	var err error
	for try := 0; try < 5; try++ {
		if b.port, err = freePort(); err != nil {
			continue
		}
		if err = b.writeConf(); err != nil {
			t.Fatal(err)
		}
		if err = b.start(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("mosquitto did not start: %v\n%s", err, b.Log())
	}
	t.Cleanup(b.Stop)
	return b
}

// Addr is host:port of the listener.
func (b *Broker) Addr() string { return fmt.Sprintf("127.0.0.1:%d", b.port) }

// URL is what clients dial: tls://127.0.0.1:PORT (tcp:// with Plain).
func (b *Broker) URL() string {
	if b.o.Plain {
		return "tcp://" + b.Addr()
	}
	return "tls://" + b.Addr()
}

// TLSConfig trusts the test CA (for paho clients other than the agent).
func (b *Broker) TLSConfig() *tls.Config {
	if b.o.Plain {
		return nil
	}
	pool := x509.NewCertPool()
	data, err := os.ReadFile(b.CAFile)
	if err != nil || !pool.AppendCertsFromPEM(data) {
		b.t.Fatalf("test CA %s unreadable: %v", b.CAFile, err)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// Log is what mosquitto has logged so far.
func (b *Broker) Log() string {
	data, _ := os.ReadFile(filepath.Join(b.dir, "mosquitto.log"))
	return b.out.String() + string(data)
}

// Stop stops mosquitto with SIGTERM (it saves its persistent sessions and
// queued messages) and waits for it. Stopping a stopped broker does nothing.
func (b *Broker) Stop() {
	b.mu.Lock()
	cmd, done := b.cmd, b.done
	b.cmd = nil
	b.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// Restart stops mosquitto and starts it again on the same port, with the
// sessions and messages it saved.
func (b *Broker) Restart() {
	b.t.Helper()
	b.Stop()
	var err error
	for try := 0; try < 50; try++ { // the port may linger briefly
		if err = b.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Fatalf("mosquitto did not restart: %v\n%s", err, b.Log())
}

// Start starts a stopped broker again (after Stop).
func (b *Broker) Start() { b.Restart() }

func (b *Broker) start() error {
	bin, err := Binary()
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, "-c", b.conf)
	cmd.Stdout, cmd.Stderr = b.out, b.out
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-done:
			return fmt.Errorf("mosquitto exited: %v", cmd.ProcessState)
		default:
		}
		c, err := net.DialTimeout("tcp", b.Addr(), 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-done
			return fmt.Errorf("mosquitto not listening on %s after 10 s", b.Addr())
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.mu.Lock()
	b.cmd, b.done = cmd, done
	b.mu.Unlock()
	return nil
}

func (b *Broker) setup() error {
	if !b.o.Plain {
		if err := b.writeCerts(); err != nil {
			return err
		}
	}
	pw, err := passwdBinary()
	if err != nil {
		return err
	}
	users := map[string]string{}
	for u, p := range b.o.Devices {
		users[u] = p
	}
	for u, p := range b.o.Platform {
		users[u] = p
	}
	names := make([]string, 0, len(users))
	for u := range users {
		names = append(names, u)
	}
	sort.Strings(names)
	passwd := filepath.Join(b.dir, "passwd")
	for i, u := range names {
		args := []string{"-b", passwd, u, users[u]}
		if i == 0 {
			args = append([]string{"-c"}, args...)
		}
		if out, err := exec.Command(pw, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("mosquitto_passwd %s: %v\n%s", u, err, out)
		}
	}
	if len(names) == 0 {
		os.WriteFile(passwd, nil, 0o600)
	}
	var acl strings.Builder
	acl.WriteString("# platform users: every device's topics\n")
	for _, u := range sortedKeys(b.o.Platform) {
		fmt.Fprintf(&acl, "user %s\ntopic readwrite %s/#\n\n", u, b.o.Prefix)
	}
	// Pattern lines apply to every user; %u is the username, which is
	// also the client id (use_username_as_clientid) and the device id.
	acl.WriteString("# devices: their own topics only\n")
	fmt.Fprintf(&acl, "pattern read %s/%%u/cmd\n", b.o.Prefix)
	fmt.Fprintf(&acl, "pattern write %s/%%u/evt\n", b.o.Prefix)
	fmt.Fprintf(&acl, "pattern write %s/%%u/state\n", b.o.Prefix)
	return os.WriteFile(filepath.Join(b.dir, "acl"), []byte(acl.String()), 0o600)
}

func (b *Broker) writeConf() error {
	var c strings.Builder
	fmt.Fprintf(&c, "per_listener_settings false\n")
	if os.Geteuid() == 0 {
		// As root mosquitto would switch to the user "mosquitto", who
		// cannot read the test's 0700 temporary directory.
		c.WriteString("user root\n")
	}
	fmt.Fprintf(&c, "listener %d 127.0.0.1\n", b.port)
	if !b.o.Plain {
		fmt.Fprintf(&c, "cafile %s\ncertfile %s\nkeyfile %s\ntls_version tlsv1.2\n",
			b.CAFile, filepath.Join(b.dir, "server.pem"), filepath.Join(b.dir, "server.key"))
	}
	fmt.Fprintf(&c, "allow_anonymous false\npassword_file %s\nacl_file %s\n",
		filepath.Join(b.dir, "passwd"), filepath.Join(b.dir, "acl"))
	c.WriteString("use_username_as_clientid true\n")
	// Without it Nagle holds each small publish back until the previous
	// one is acknowledged: 40 ms per command with Linux's delayed ACK,
	// which made the crash test (1000 payments) 2.3 times as slow.
	c.WriteString("set_tcp_nodelay true\n")
	fmt.Fprintf(&c, "persistence true\npersistence_location %s/\n", b.dir)
	switch {
	case b.o.MaxQueued < 0:
		c.WriteString("max_queued_messages 0\n")
	case b.o.MaxQueued > 0:
		fmt.Fprintf(&c, "max_queued_messages %d\n", b.o.MaxQueued)
	}
	if b.o.MaxPacketSize > 0 {
		fmt.Fprintf(&c, "max_packet_size %d\n", b.o.MaxPacketSize)
	}
	fmt.Fprintf(&c, "log_dest file %s\n", filepath.Join(b.dir, "mosquitto.log"))
	c.WriteString("log_type error\nlog_type warning\nlog_type notice\nlog_type information\nconnection_messages true\n")
	b.conf = filepath.Join(b.dir, "mosquitto.conf")
	return os.WriteFile(b.conf, []byte(c.String()), 0o600)
}

// writeCerts makes a CA and a server certificate for 127.0.0.1 signed by it.
func (b *Broker) writeCerts() error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "posagent mosquittotest CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	srvTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		return err
	}
	b.CAFile = filepath.Join(b.dir, "ca.pem")
	files := map[string][]byte{
		b.CAFile:                           pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		filepath.Join(b.dir, "server.pem"): pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvDER}),
		filepath.Join(b.dir, "server.key"): pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}
	for name, data := range files {
		if err := os.WriteFile(name, data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func sortedKeys(m map[string]string) []string {
	k := make([]string, 0, len(m))
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
