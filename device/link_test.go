package device

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/platform"
)

// waitState polls the retained state through a fresh subscription (so no
// ordering against other events matters) until ok is true for it.
func (r *rig) waitState(d time.Duration, ok func(State) bool) State {
	r.t.Helper()
	deadline := time.Now().Add(d)
	var last State
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		cl, err := platform.Dial(ctx, platform.Options{URL: r.broker.URL(), Log: quiet()})
		if err == nil {
			cl.AddDevice(platform.Device{ID: devID, AuthKey: r.cfg.AuthKeyBytes()})
			if ev, err := cl.Subscribe(ctx, devID, ""); err == nil {
			loop:
				for {
					select {
					case e := <-ev:
						if e.State != nil {
							last = State{} // a field left out (omitempty) must read as empty
							json.Unmarshal(e.State, &last)
							break loop
						}
					case <-ctx.Done():
						break loop
					}
				}
			}
			cl.Close()
		}
		cancel()
		if ok(last) {
			return last
		}
		time.Sleep(50 * time.Millisecond)
	}
	if last.Pay != nil {
		r.t.Logf("last pay %+v", *last.Pay)
	}
	r.t.Fatalf("retained state never matched within %v; last %+v", d, last)
	return last
}

// After the broker restarts (losing its retained messages and sessions),
// the agent reconnects, re-publishes its retained state and device.hello,
// and works again.
func TestReconnectRepublishesState(t *testing.T) {
	r := newRig(t)
	r.start()
	r.waitState(15*time.Second, func(s State) bool { return s.Online })
	addr := r.broker.Addr()
	r.plat.Close()
	r.broker.Close()
	time.Sleep(300 * time.Millisecond)
	b, err := platform.StartBroker(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.broker = b
	r.connectPlatform()
	r.waitFor("device.hello", 15*time.Second)
	s := r.waitState(15*time.Second, func(s State) bool { return s.Online })
	if s.Board != "sim" || s.FW != Version {
		t.Fatalf("state %+v", s)
	}
	ans := r.answer(r.send("notify.payment", map[string]any{"order_id": "after-reconnect", "amount": 1}).ID, 10*time.Second)
	if ans.Type != "notify.done" {
		t.Fatalf("answer %s", ans.Type)
	}
}

// A clean stop publishes {"online":false} itself; the retained state says so.
func TestCleanStopPublishesOffline(t *testing.T) {
	r := newRig(t)
	r.start()
	r.waitState(15*time.Second, func(s State) bool { return s.Online })
	r.stop()
	r.waitState(15*time.Second, func(s State) bool { return !s.Online })
}

// testCA makes a CA and a server certificate for 127.0.0.1 signed by it.
func testCA(t *testing.T) (caPEM []byte, server tls.Certificate) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "posagent test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	srvKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srvTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		tls.Certificate{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}
}

// tlsAgent runs an agent on a TLS broker whose certificate is signed by
// the CA in trusted, and reports whether it connected within d.
func tlsAgent(t *testing.T, cert tls.Certificate, trusted []byte, d time.Duration) bool {
	b, err := platform.StartTLSBroker("127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cfg := newConfig(t, b.URL())
	cfg.MQTT.CAFile = filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(cfg.MQTT.CAFile, trusted, 0o600)
	connected := make(chan bool, 4)
	a, j := agentFor(t, cfg)
	a.onConnected = func(up bool) { connected <- up }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	defer func() { cancel(); <-done; j.Close() }()
	select {
	case up := <-connected:
		return up
	case <-time.After(d):
		return false
	}
}

// The agent reaches a TLS broker with the CA from mqtt.ca_file.
func TestTLSWithCAFile(t *testing.T) {
	caPEM, cert := testCA(t)
	if !tlsAgent(t, cert, caPEM, 10*time.Second) {
		t.Fatal("no TLS connection")
	}
}

// Without the CA the TLS broker is not trusted: the agent stays unconnected.
func TestTLSRefusesUnknownCA(t *testing.T) {
	_, cert := testCA(t)
	otherCA, _ := testCA(t)
	if tlsAgent(t, cert, otherCA, 1500*time.Millisecond) {
		t.Fatal("connected to a broker whose certificate the CA file does not vouch for")
	}
}

// agentFor builds an agent with no hardware on a fresh journal.
func agentFor(t *testing.T, cfg config.Config) (*Agent, *journal.Journal) {
	t.Helper()
	j, err := journal.Open(filepath.Join(cfg.DataDir, "journal.db"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{Config: cfg, Journal: j, Key: deviceKey(t), Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	return a, j
}

// The local API tells the cashier app whether the platform is reachable:
// GET /v1/state and the event stream say online:false while the link is
// down and true once it is back.
func TestLocalStateSaysOffline(t *testing.T) {
	r := newPayRig(t)
	r.start()
	online := func() bool {
		var s State
		r.api("GET", "/v1/state", nil, &s)
		return s.Online
	}
	waitTrue(t, 15*time.Second, online)
	addr := r.broker.Addr()
	r.plat.Close()
	r.broker.Close()
	waitTrue(t, 15*time.Second, func() bool { return !online() })
	b, err := platform.StartBroker(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.broker = b
	r.connectPlatform()
	waitTrue(t, 15*time.Second, online)
}
