package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"

	"github.com/posagent/posagent/audio"
	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/ota"
	"github.com/posagent/posagent/platform"
)

// buildPosctl builds the installer's tool, which makes the QRs.
func buildPosctl(t *testing.T) string {
	t.Helper()
	return buildProduct(t, "posctl")
}

func posctl(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("posctl %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// saveConfig writes cfg where the agent reads it.
func saveConfig(t *testing.T, path string, cfg config.Config) {
	t.Helper()
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// decodePNG reads a QR picture back as a phone-facing scanner would.
func decodePNG(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := zxqr.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("QR picture does not decode: %v", err)
	}
	return res.GetText()
}

// loadKey reads a key posctl keygen wrote.
func loadKey(t *testing.T, path string) ed25519.PrivateKey {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(ed25519.PrivateKey)
}

// startLogged is startAgent whose log is shown if the test fails.
func startLogged(t *testing.T, bin, cfgPath string) *proc {
	t.Helper()
	p := startAgent(t, bin, cfgPath)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("agent log:\n%s", p.log)
		}
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// retainedState reads the device's retained state document from the
// broker at url, with a client of its own (unsubscribing would end the
// test's other subscriptions to the same topics).
func retainedState(t *testing.T, url, dev string) (st struct {
	Online bool   `json:"online"`
	Cfg    int    `json:"cfg"`
	FW     string `json:"fw"`
}) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := platform.Dial(ctx, platform.Options{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ev, err := c.Subscribe(ctx, dev, "")
	if err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case e := <-ev:
			if e.State != nil {
				json.Unmarshal(e.State, &st)
				return st
			}
		case <-ctx.Done():
			t.Fatalf("no retained state for %s", dev)
			return
		}
	}
}

// waitFile waits until path exists (a prompt said to the wav output).
func waitFile(t *testing.T, path string, d time.Duration, log fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never said\nlog:\n%s", filepath.Base(path), log)
}

// waitEvent waits for an event of typ from dev on events.
func waitEvent(t *testing.T, events <-chan platform.Event, dev, typ string, d time.Duration) platform.Event {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev := <-events:
			if ev.Err == nil && ev.State == nil && ev.Dev == dev && ev.Message.Type == typ {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %s from %s", typ, dev)
			return platform.Event{}
		}
	}
}

// An installer's QR made by posctl, shown as a PNG, read back by a decoder
// and typed into the scanner: the agent moves to a second broker under a
// new device id and auth key and says 配置成功. Expired, reused, tampered,
// another device's and another key's QRs are refused with 配置失败 and the
// reason, and a QR naming a broker that does not answer falls back to the
// config before it and says so.
func TestConfigQRThroughScanner(t *testing.T) {
	e := newEnv(t)
	ctl := buildPosctl(t)
	dir := t.TempDir()
	posctl(t, ctl, "keygen", "-o", filepath.Join(dir, "prov"))
	if fi, err := os.Stat(filepath.Join(dir, "prov.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key: %v %v", fi, err)
	}
	pub, _ := os.ReadFile(filepath.Join(dir, "prov.pub"))
	e.cfg.ProvisioningPubkey = strings.TrimSpace(string(pub))
	e.cfg.ConfigApply.ApplyTimeoutMS = 2000
	saveConfig(t, e.cfgPath, e.cfg)
	p := startLogged(t, e.bin, e.cfgPath)
	e.waitHello(10 * time.Second)

	// The second broker and the identity the QR gives the device there.
	b2, err := platform.StartBroker("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	auth2 := make([]byte, 32)
	rand.Read(auth2)
	plat2, err := platform.Dial(context.Background(), platform.Options{URL: b2.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer plat2.Close()
	plat2.AddDevice(platform.Device{ID: "dev-qr2", AuthKey: auth2})
	ev2, err := plat2.Subscribe(context.Background(), "dev-qr2", "")
	if err != nil {
		t.Fatal(err)
	}
	patch := fmt.Sprintf(`{"mqtt":{"url":%q,"username":"dev-qr2","password":"pw-2"},"device_id":"dev-qr2","auth_key":%q,"store":{"name":"新店"}}`,
		b2.URL(), base64.StdEncoding.EncodeToString(auth2))
	patchPath := filepath.Join(dir, "patch.json")
	os.WriteFile(patchPath, []byte(patch), 0o600)
	pngPath := filepath.Join(dir, "qr.png")
	out := posctl(t, ctl, "qr", "-config", patchPath, "-key", filepath.Join(dir, "prov.key"), "-dev", e.cfg.Serial, "-ttl", "15m", "-o", pngPath)
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Scan()
	text := sc.Text()
	sc.Scan()
	t.Logf("QR: %s", sc.Text())
	if !strings.HasPrefix(text, ota.QRPrefix) || !strings.HasPrefix(sc.Text(), fmt.Sprint(len(text), " bytes")) {
		t.Fatalf("posctl qr printed %q", out)
	}
	scanned := decodePNG(t, pngPath)
	if scanned != text {
		t.Fatalf("the PNG decodes to %q, posctl printed %q", scanned, text)
	}

	e.scan(scanned)
	hello := waitEvent(t, ev2, "dev-qr2", "device.hello", 15*time.Second)
	var hb struct {
		Serial string `json:"serial"`
	}
	json.Unmarshal(hello.Message.Body, &hb)
	if hb.Serial != e.cfg.Serial {
		t.Errorf("hello on the new broker from serial %q", hb.Serial)
	}
	waitFile(t, filepath.Join(e.wavDir, "config-ok-1.wav"), 10*time.Second, p.log)
	if strings.Contains(p.log.String(), "pw-2") || strings.Contains(p.log.String(), e.cfg.AuthKey) || strings.Contains(p.log.String(), scanned[10:60]) {
		t.Error("a secret of the config or the QR text is in the log")
	}

	// Refusals: each is said (配置失败) under its reason's name, and the
	// agent stays where it is.
	key := loadKey(t, filepath.Join(dir, "prov.key"))
	sign := func(k ed25519.PrivateKey, dev string, at time.Time, ttl time.Duration) string {
		s, err := ota.SignQR(json.RawMessage(`{"store":{"name":"坏店"}}`), dev, at, ttl, k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	posctl(t, ctl, "keygen", "-o", filepath.Join(dir, "other"))
	otherOut := posctl(t, ctl, "qr", "-config", patchPath, "-key", filepath.Join(dir, "other.key"))
	wrongKey := strings.SplitN(otherOut, "\n", 2)[0]
	// Tampered: the payload changed after signing (another store name).
	parts := strings.Split(sign(key, "", time.Now(), time.Hour), ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[2])
	parts[2] = base64.RawURLEncoding.EncodeToString(bytes.Replace(payload, []byte("坏店"), []byte("好店"), 1))
	tampered := strings.Join(parts, ".")
	cases := []struct{ name, text, reason string }{
		{"reused", scanned, ota.ReasonReused},
		{"expired", sign(key, "", time.Now().Add(-2*time.Hour), time.Hour), ota.ReasonExpired},
		{"foreign serial", sign(key, "SN-OTHER", time.Now(), time.Hour), ota.ReasonDevice},
		{"wrong key", wrongKey, ota.ReasonSignature},
		{"tampered", tampered, ota.ReasonSignature},
	}
	for _, tc := range cases {
		wav := filepath.Join(e.wavDir, "config-refused-"+tc.reason+".wav")
		os.Remove(wav)
		e.scan(tc.text)
		waitFile(t, wav, 10*time.Second, p.log)
		// The reason is spoken: the WAV is 配置失败，<reason> as the pack says it.
		pcm, err := audio.DefaultVoice().Render(audio.ConfigFailed(tc.reason))
		if err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(wav); err != nil || fi.Size() != int64(44+2*len(pcm)) {
			t.Errorf("%s: spoken prompt is not %q", tc.name, audio.ConfigFailed(tc.reason))
		}
		if !p.log.Await("reason="+tc.reason, 15*time.Second) {
			t.Errorf("%s: reason %s not in the log", tc.name, tc.reason)
		}
	}
	if n := strings.Count(p.log.String(), "config applied"); n != 1 {
		t.Errorf("%d configs applied, want 1", n)
	}

	// A broker that does not answer: tried for apply_timeout_ms, then the
	// config before it (the second broker) runs again.
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"mqtt":{"url":"tcp://127.0.0.1:1"}}`), 0o600)
	badQR := strings.SplitN(posctl(t, ctl, "qr", "-config", bad, "-key", filepath.Join(dir, "prov.key")), "\n", 2)[0]
	e.scan(badQR)
	waitFile(t, filepath.Join(e.wavDir, "config-restored-2.wav"), 20*time.Second, p.log)
	waitEvent(t, ev2, "dev-qr2", "device.hello", 15*time.Second)
	if !p.log.Await("reason=connect", 15*time.Second) {
		t.Errorf("fallback reason not logged:\n%s", p.log)
	}
	// The state says which config runs: version 1 again.
	if st := retainedState(t, b2.URL(), "dev-qr2"); !st.Online || st.Cfg != 1 {
		t.Errorf("state after the fallback %+v, want online with cfg 1", st)
	}
}

// awaitType waits for the event of type typ answering jti.
func awaitType(t *testing.T, e *env, jti, typ string, d time.Duration) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		m, err := platform.Await(ctx, e.events, jti)
		if err != nil {
			t.Fatalf("no %s: %v", typ, err)
		}
		var b map[string]any
		json.Unmarshal(m.Body, &b)
		if m.Type == typ {
			return b
		}
		t.Fatalf("answered %s %v, want %s", m.Type, b, typ)
	}
}

// config.set over MQTT: applied when the new config connects, refused for
// a version not above the current one or a key no patch may set, and
// rolled back (config.rejected, restored) when it cannot connect.
func TestConfigSet(t *testing.T) {
	e := newEnv(t)
	e.cfg.ConfigApply.ApplyTimeoutMS = 1500
	saveConfig(t, e.cfgPath, e.cfg)
	p := startLogged(t, e.bin, e.cfgPath)
	e.waitHello(10 * time.Second)

	send := func(body any) string {
		m, err := e.plat.Send(e.cfg.DeviceID, "config.set", body)
		if err != nil {
			t.Fatal(err)
		}
		return m.ID
	}
	jti := send(map[string]any{"version": 5, "patch": map[string]any{"store": map[string]any{"name": "改名店"}, "audio": map[string]any{"volume": 3}}})
	if b := awaitType(t, e, jti, "config.applied", 15*time.Second); b["version"] != 5.0 {
		t.Errorf("config.applied %v", b)
	}
	waitFile(t, filepath.Join(e.wavDir, "config-ok-5.wav"), 10*time.Second, p.log)
	if st := retainedState(t, e.broker.URL(), e.cfg.DeviceID); st.Cfg != 5 {
		t.Errorf("state cfg %d, want 5", st.Cfg)
	}
	for _, tc := range []struct {
		body   any
		reason string
	}{
		{map[string]any{"version": 5, "patch": map[string]any{"audio": map[string]any{"volume": 4}}}, ota.ReasonVersion},
		{map[string]any{"version": 6, "patch": map[string]any{"data_dir": "/tmp/elsewhere"}}, ota.ReasonBadConfig},
		{map[string]any{"version": 6, "patch": map[string]any{"mqtt": map[string]any{"url": "ftp://x"}}}, ota.ReasonBadConfig},
		{map[string]any{"version": 6, "patch": map[string]any{"printer": map[string]any{"papermm": 80}}}, ota.ReasonBadConfig},
	} {
		b := awaitType(t, e, send(tc.body), "config.rejected", 10*time.Second)
		if b["reason"] != tc.reason || b["restored"] != false {
			t.Errorf("%v: rejected %v, want reason %s", tc.body, b, tc.reason)
		}
	}
	jti = send(map[string]any{"version": 7, "patch": map[string]any{"mqtt": map[string]any{"url": "tcp://127.0.0.1:1"}}})
	b := awaitType(t, e, jti, "config.rejected", 20*time.Second)
	if b["reason"] != ota.ReasonConnect || b["restored"] != true || b["version"] != 7.0 {
		t.Errorf("unreachable broker: %v", b)
	}
	waitFile(t, filepath.Join(e.wavDir, "config-restored-7.wav"), 10*time.Second, p.log)
	if st := retainedState(t, e.broker.URL(), e.cfg.DeviceID); !st.Online || st.Cfg != 5 {
		t.Errorf("state after the fallback %+v, want cfg 5", st)
	}
}
