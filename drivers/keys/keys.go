package keys

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// Key is one key on a pin.
type Key struct {
	// Name is what the key is reported as (device's key names).
	Name string
	Pin  gpio.PinIn
	// ActiveLow: pressing pulls the pin to ground; the pin is pulled up.
	// Otherwise pressing drives it high and the pin is pulled down.
	ActiveLow bool
	// Debounce, 0 for DefaultDebounce.
	Debounce time.Duration
	// LongPress, 0 for a key with no long press (it reports Down);
	// otherwise it reports Short or Long.
	LongPress time.Duration
}

// Event is one press.
type Event struct {
	Key  string
	Kind Kind
}

// Keys reads a set of keys: one goroutine per pin, waiting for edges.
type Keys struct {
	keys []Key
	// Now tells the time; nil is time.Now. The pins' own waits are real
	// time, so tests run Keys inside a testing/synctest bubble.
	Now func() time.Time
	// Poll bounds each wait for an edge, so Run notices its context is
	// done: a pin's WaitForEdge cannot be interrupted otherwise. 0 is
	// DefaultPoll.
	Poll time.Duration
}

// DefaultPoll is how often a key goroutine checks whether to stop while no
// edge comes. Edges are reported at once; this costs one wake-up per key
// per Poll.
const DefaultPoll = 500 * time.Millisecond

// New returns a reader of keys. Nothing happens until Run.
func New(keys ...Key) *Keys {
	return &Keys{keys: keys}
}

// Names lists the keys' names.
func (k *Keys) Names() []string {
	var n []string
	for _, key := range k.keys {
		n = append(n, key.Name)
	}
	return n
}

// Run sets the pins up as inputs on both edges and calls f for every press
// until ctx is done. f is called from one goroutine per key; presses of one
// key arrive in order. A pin that cannot be set up is an error before any
// goroutine starts.
func (k *Keys) Run(ctx context.Context, f func(Event)) error {
	for _, key := range k.keys {
		pull := gpio.PullDown
		if key.ActiveLow {
			pull = gpio.PullUp
		}
		if err := key.Pin.In(pull, gpio.BothEdges); err != nil {
			return fmt.Errorf("key %s on %s: %w", key.Name, key.Pin, err)
		}
	}
	if len(k.keys) == 0 {
		return errors.New("keys: none")
	}
	var wg sync.WaitGroup
	for _, key := range k.keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k.watch(ctx, key, f)
		}()
	}
	wg.Wait()
	return ctx.Err()
}

// RunKeys is Run reporting presses as device.KeyPad wants them: a key name
// and whether it was a long press. Down and Short are both a press.
func (k *Keys) RunKeys(ctx context.Context, press func(key string, long bool)) error {
	return k.Run(ctx, func(e Event) { press(e.Key, e.Kind == Long) })
}

func (k *Keys) now() time.Time {
	if k.Now != nil {
		return k.Now()
	}
	return time.Now()
}

// watch runs one key: wait for an edge or the next deadline of its Press,
// sample the level, report.
func (k *Keys) watch(ctx context.Context, key Key, f func(Event)) {
	p := Press{Debounce: key.Debounce, LongPress: key.LongPress}
	if p.Debounce == 0 {
		p.Debounce = DefaultDebounce
	}
	poll := k.Poll
	if poll == 0 {
		poll = DefaultPoll
	}
	pressed := func() bool { return (key.Pin.Read() == gpio.Low) == key.ActiveLow }
	// A key held at start (or a pin wired the wrong way round) is not a
	// press: its level is the base, and only a change from it counts.
	p.settle(pressed(), k.now())
	for ctx.Err() == nil {
		wait := poll
		if at, ok := p.Next(); ok {
			// Round up by a millisecond so the wake-up is never before
			// the deadline (a second wake-up just for the remainder).
			wait = min(poll, at.Sub(k.now())+time.Millisecond)
		}
		if wait > 0 {
			key.Pin.WaitForEdge(wait)
		}
		if ctx.Err() != nil {
			return
		}
		if kind := p.Sample(pressed(), k.now()); kind != 0 {
			f(Event{Key: key.Name, Kind: kind})
		}
	}
}
