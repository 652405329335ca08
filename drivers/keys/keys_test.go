package keys

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// recorder collects events.
type recorder struct {
	mu sync.Mutex
	ev []Event
}

func (r *recorder) add(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ev = append(r.ev, e)
}

func (r *recorder) take() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := r.ev
	r.ev = nil
	return ev
}

func testPin(name string) *gpiotest.Pin {
	return &gpiotest.Pin{N: name, EdgesChan: make(chan gpio.Level, 16)}
}

// edges plays levels on a pin with gaps between them, as a finger and a
// bouncing contact do.
func edges(p *gpiotest.Pin, seq ...any) {
	for _, s := range seq {
		switch v := s.(type) {
		case gpio.Level:
			p.EdgesChan <- v
		case time.Duration:
			time.Sleep(v)
		}
		synctest.Wait()
	}
}

// Keys on gpiotest pins, in a synctest bubble so the debounce and long-press
// times pass instantly and exactly: bouncing presses are one press, a held
// function key is one long press, an active-low volume key reports down.
func TestKeysOnPins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up, fn := testPin("GPIO17"), testPin("GPIO22")
		k := New(
			Key{Name: "volume_up", Pin: up, ActiveLow: true},
			Key{Name: "function", Pin: fn, ActiveLow: true, LongPress: DefaultLongPress},
		)
		var rec recorder
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- k.Run(ctx, rec.add) }()
		synctest.Wait()
		if up.P != gpio.PullUp || up.Read() != gpio.High {
			t.Fatalf("active-low key not pulled up: pull %v level %v", up.P, up.Read())
		}

		ms := time.Millisecond
		// Volume up: bouncing press, held, bouncing release.
		edges(up, gpio.Low, 2*ms, gpio.High, 3*ms, gpio.Low, 100*ms, gpio.High, 2*ms, gpio.Low, 2*ms, gpio.High, 100*ms)
		if got := rec.take(); !slices.Equal(got, []Event{{"volume_up", Down}}) {
			t.Fatalf("volume up: %v", got)
		}
		// Function: a short press, then a glitch, then a long hold.
		edges(fn, gpio.Low, 200*ms, gpio.High, 100*ms)
		edges(fn, gpio.Low, 5*ms, gpio.High, 100*ms)
		if got := rec.take(); !slices.Equal(got, []Event{{"function", Short}}) {
			t.Fatalf("function short press and glitch: %v", got)
		}
		edges(fn, gpio.Low, 1400*ms)
		if got := rec.take(); len(got) != 0 {
			t.Fatalf("long press fired early: %v", got)
		}
		edges(fn, 200*ms)
		if got := rec.take(); !slices.Equal(got, []Event{{"function", Long}}) {
			t.Fatalf("function held: %v", got)
		}
		edges(fn, gpio.High, 100*ms)
		if got := rec.take(); len(got) != 0 {
			t.Fatalf("release after a long press: %v", got)
		}

		cancel()
		if err := <-done; err != context.Canceled {
			t.Fatalf("Run: %v", err)
		}
	})
}

// An active-high key is pulled down and pressed by a high level; RunKeys
// reports presses with the long flag.
func TestRunKeysActiveHigh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fn := testPin("GPIO5")
		k := New(Key{Name: "function", Pin: fn, LongPress: time.Second})
		type press struct {
			key  string
			long bool
		}
		var mu sync.Mutex
		var got []press
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			k.RunKeys(ctx, func(key string, long bool) {
				mu.Lock()
				got = append(got, press{key, long})
				mu.Unlock()
			})
			close(done)
		}()
		defer func() { cancel(); <-done }()
		synctest.Wait()
		if fn.P != gpio.PullDown {
			t.Fatalf("active-high key pull %v", fn.P)
		}
		edges(fn, gpio.High, 100*time.Millisecond, gpio.Low, 100*time.Millisecond, gpio.High, 2*time.Second, gpio.Low, 100*time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		if !slices.Equal(got, []press{{"function", false}, {"function", true}}) {
			t.Fatalf("got %v", got)
		}
	})
}

// A pin that cannot take edges is an error before anything runs.
func TestKeysPinError(t *testing.T) {
	p := &gpiotest.Pin{N: "GPIO9"} // no EdgesChan: gpiotest refuses edge detection
	err := New(Key{Name: "volume_up", Pin: p}).Run(t.Context(), func(Event) {})
	if err == nil {
		t.Fatal("no error for a pin without edge detection")
	}
}

func TestLEDs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net, st := testPin("GPIO23"), testPin("GPIO24")
		net.L, st.L = gpio.High, gpio.High
		l, err := NewLEDs(map[string]gpio.PinOut{"network": net, "status": st})
		if err != nil {
			t.Fatal(err)
		}
		if net.Read() != gpio.Low || st.Read() != gpio.Low {
			t.Fatal("LEDs not off at start")
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { l.Run(ctx); close(done) }()

		l.SetLED("status", "on")
		l.SetLED("nonexistent", "on") // a board without it: ignored
		if st.Read() != gpio.High {
			t.Fatal("status LED not on")
		}
		l.SetLED("network", "blink")
		synctest.Wait()
		var levels []gpio.Level
		for range 4 {
			time.Sleep(BlinkPeriod / 2)
			synctest.Wait()
			levels = append(levels, net.Read())
		}
		for i := 1; i < len(levels); i++ {
			if levels[i] == levels[i-1] {
				t.Fatalf("network LED not blinking: %v", levels)
			}
		}
		if st.Read() != gpio.High || l.Mode("status") != On {
			t.Fatal("steady LED changed while the other blinked")
		}
		l.SetLED("network", "off")
		time.Sleep(2 * BlinkPeriod)
		synctest.Wait()
		if net.Read() != gpio.Low {
			t.Fatal("network LED not off after blinking")
		}
		cancel()
		<-done
		if st.Read() != gpio.Low {
			t.Fatal("LEDs not off after Run ends")
		}
	})
}

func TestParseMode(t *testing.T) {
	for s, want := range map[string]Mode{"off": Off, "on": On, "blink": Blink} {
		if m, err := ParseMode(s); err != nil || m != want {
			t.Errorf("%s: %v %v", s, m, err)
		}
	}
	if _, err := ParseMode("strobe"); err == nil {
		t.Error("unknown mode accepted")
	}
}
