package device

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/posagent/posagent/audio"
	"github.com/posagent/posagent/device/printq"
	"github.com/posagent/posagent/drivers/audioout"
	"github.com/posagent/posagent/drivers/keys"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/platform"

	"github.com/posagent/posagent/internal/testkit"
)

// panelRig is the rig with keys and LEDs on gpiotest pins, driven through
// the real drivers/keys reader (real time, short long-press).
type panelRig struct {
	*rig
	up, down, fn *gpiotest.Pin
	net, status  *gpiotest.Pin
	leds         *keys.LEDs
}

func newPanelRig(t *testing.T) *panelRig {
	pin := func(n string) *gpiotest.Pin { return &gpiotest.Pin{N: n, EdgesChan: make(chan gpio.Level, 16)} }
	p := &panelRig{rig: newRig(t), up: pin("GPIO17"), down: pin("GPIO27"), fn: pin("GPIO22"), net: pin("GPIO23"), status: pin("GPIO24")}
	leds, err := keys.NewLEDs(map[string]gpio.PinOut{LEDNetwork: p.net, LEDStatus: p.status})
	if err != nil {
		t.Fatal(err)
	}
	p.leds = leds
	kp := keys.New(
		keys.Key{Name: KeyVolumeUp, Pin: p.up, ActiveLow: true},
		keys.Key{Name: KeyVolumeDown, Pin: p.down, ActiveLow: true},
		keys.Key{Name: KeyFunction, Pin: p.fn, ActiveLow: true, LongPress: 300 * time.Millisecond},
	)
	kp.Poll = 20 * time.Millisecond

	j, err := journal.Open(p.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	out, err := audioout.Open(p.cfg.Audio.Out)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{Config: p.cfg, Journal: j, Key: deviceKey(t), Audio: out, Printer: p.printer,
		Scans: make(chan string), Keys: kp, LEDs: leds, Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	p.agent = a
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	p.stop = func() {
		cancel()
		<-done
		out.Close()
		j.Close()
		p.stop = nil
	}
	p.waitFor("device.hello", 15*time.Second)
	return p
}

// press holds a key down for d and lets go, with a bounce each way.
func press(p *gpiotest.Pin, d time.Duration) {
	p.EdgesChan <- gpio.Low
	p.EdgesChan <- gpio.High
	p.EdgesChan <- gpio.Low
	time.Sleep(d)
	p.EdgesChan <- gpio.High
	p.EdgesChan <- gpio.Low
	p.EdgesChan <- gpio.High
}

// eventually polls cond for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testkit.WaitUntil(t, 10*time.Second, what, cond)
}

// takeWAV waits for name.wav, returns its samples and removes it, so the
// next prompt of the same name is waited for afresh.
func (r *rig) takeWAV(name string) []int16 {
	r.t.Helper()
	pcm := r.readWAV(name)
	os.Remove(filepath.Join(r.wavDir, name+".wav"))
	return pcm
}

// The volume keys go the way device.volume goes: one step per press
// (bounces included), journaled, in the retained state, said at the new
// level, each press acknowledged by a beep; the level stops at 0 and 10.
func TestVolumeKeys(t *testing.T) {
	r := newPanelRig(t)
	start := r.agent.State().Volume // config default, 6
	press(r.up, 80*time.Millisecond)
	eventually(t, "volume up", func() bool { return r.agent.State().Volume == start+1 })
	if !slices.Equal(r.takeWAV("volume"), rendered(t, audio.VolumeWords(start+1), start+1)) {
		t.Errorf("volume.wav is not %s at level %d", audio.VolumeWords(start+1), start+1)
	}
	if len(r.takeWAV("key")) == 0 {
		t.Error("no key beep")
	}
	if v, ok := r.agent.storedVolume(); !ok || v != start+1 {
		t.Errorf("journal volume %d %v", v, ok)
	}
	for range 12 {
		press(r.down, 60*time.Millisecond)
		time.Sleep(60 * time.Millisecond)
	}
	eventually(t, "volume down to 0", func() bool { return r.agent.State().Volume == 0 })
	press(r.up, 60*time.Millisecond)
	eventually(t, "volume up from 0", func() bool { return r.agent.State().Volume == 1 })
	r.stop()
	r.start()
	if v := r.agent.State().Volume; v != 1 {
		t.Errorf("after restart volume %d, want the key's 1", v)
	}
}

// A short press of the function key says the last announcement again (not
// marked 补播, not journaled as owed); a long press says the status.
func TestFunctionKey(t *testing.T) {
	r := newPanelRig(t)
	press(r.fn, 120*time.Millisecond)
	r.takeWAV("key")
	time.Sleep(200 * time.Millisecond)
	if _, err := os.Stat(filepath.Join(r.wavDir, "repeat.wav")); err == nil {
		t.Fatal("repeat with nothing announced yet said something")
	}

	r.answer(r.send("notify.payment", map[string]any{"order_id": "o-k1", "amount": 12850, "wallet": "wechat"}).ID, 10*time.Second)
	r.answer(r.send("notify.payment", map[string]any{"order_id": "o-k2", "amount": 300, "wallet": "alipay"}).ID, 10*time.Second)
	press(r.fn, 120*time.Millisecond)
	level := r.agent.State().Volume
	if !slices.Equal(r.takeWAV("repeat"), rendered(t, "支付宝收款三元", level)) {
		t.Error("repeat.wav is not the last announcement")
	}
	owed, err := speechStore{r.agent.j}.Owed()
	if err != nil || len(owed) != 0 {
		t.Errorf("repeat left something owed: %v %v", owed, err)
	}

	press(r.fn, 600*time.Millisecond)
	want := audio.PhraseNetUp + "，" + audio.VolumeWords(level)
	if got := r.agent.StatusWords(); got != want {
		t.Errorf("status words %q, want %q", got, want)
	}
	if !slices.Equal(r.takeWAV("status"), rendered(t, want, level)) {
		t.Errorf("status.wav is not %s", want)
	}
	if _, err := os.Stat(filepath.Join(r.wavDir, "repeat.wav")); err == nil {
		t.Error("a long press also repeated the announcement")
	}
}

// The network LED is on while connected and blinks while the link is down;
// the status LED blinks while the scanner is gone and is on again when it
// is back.
func TestLEDsFollowLinkAndDevices(t *testing.T) {
	r := newPanelRig(t)
	eventually(t, "network LED on", func() bool { return r.leds.Mode(LEDNetwork) == keys.On })
	if r.leds.Mode(LEDStatus) != keys.On {
		t.Fatalf("status LED %v with every device ok", r.leds.Mode(LEDStatus))
	}
	r.agent.ScannerStatus(false)
	if s := r.agent.State().Scanner; s != ScannerOffline {
		t.Fatalf("scanner state %q", s)
	}
	if r.leds.Mode(LEDStatus) != keys.Blink {
		t.Fatal("status LED not blinking with the scanner offline")
	}
	r.agent.ScannerStatus(true)
	if r.leds.Mode(LEDStatus) != keys.On || r.agent.State().Scanner != ScannerOK {
		t.Fatal("scanner back: status LED or state not ok")
	}
	r.broker.Close()
	eventually(t, "network LED blinking", func() bool { return r.leds.Mode(LEDNetwork) == keys.Blink })
	// The rig's cleanup closes r.broker: give it one to close.
	b, err := platform.StartBroker("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.broker = b
}

func TestLEDModes(t *testing.T) {
	for _, tc := range []struct {
		s           State
		up          bool
		net, status string
	}{
		{State{Printer: "ok", Scanner: "ok"}, true, LEDOn, LEDOn},
		{State{Printer: "none", Scanner: "none"}, false, LEDBlink, LEDOn},
		{State{Printer: printq.PaperOut, Scanner: "ok"}, true, LEDOn, LEDBlink},
		{State{Printer: printq.Offline, Scanner: "none"}, true, LEDOn, LEDBlink},
		{State{Printer: printq.CoverOpen, Scanner: "none"}, true, LEDOn, LEDBlink},
		{State{Printer: "ok", Scanner: ScannerOffline}, true, LEDOn, LEDBlink},
	} {
		if n, s := ledModes(tc.s, tc.up); n != tc.net || s != tc.status {
			t.Errorf("%+v up=%v: %s %s, want %s %s", tc.s, tc.up, n, s, tc.net, tc.status)
		}
	}
}
