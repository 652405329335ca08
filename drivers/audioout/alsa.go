//go:build linux && cgo

package audioout

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ebitengine/oto/v3"
)

// deviceBuffer is the ALSA buffer oto asks for: short, so an announcement
// starts promptly and Play's wait for the tail to drain is short too.
const deviceBuffer = 50 * time.Millisecond

// otoContext is created on first use and kept for the life of the process:
// oto allows one context per process and cannot close it, so this is the one
// package-level state here. A failure (no device) is kept too, since oto
// cannot be retried either.
var otoContext = sync.OnceValues(func() (*oto.Context, error) {
	c, ready, err := oto.NewContext(&oto.NewContextOptions{
		SampleRate:   SampleRate,
		ChannelCount: 1,
		Format:       oto.FormatSignedInt16LE,
		BufferSize:   deviceBuffer,
	})
	if err != nil {
		return nil, err
	}
	<-ready
	if err := c.Err(); err != nil {
		return nil, err
	}
	return c, nil
})

// ALSA plays through the default ALSA PCM device with oto. One announcement
// plays at a time; a second Play waits for the first.
type ALSA struct {
	ctx    *oto.Context
	mu     sync.Mutex // serialises Play: the speaker says one thing at a time
	closed bool
}

var _ Output = (*ALSA)(nil)

func openALSA() (Output, error) {
	c, err := otoContext()
	if err != nil {
		return nil, fmt.Errorf("audioout: alsa: %w", err)
	}
	return &ALSA{ctx: c}, nil
}

// Play plays pcm and returns when the device has played it, or when ctx is
// done (the rest is then dropped).
func (a *ALSA) Play(ctx context.Context, id string, pcm []int16) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b := make([]byte, 2*len(pcm))
	for i, s := range pcm {
		b[2*i], b[2*i+1] = byte(s), byte(s>>8)
	}
	p := a.ctx.NewPlayer(bytes.NewReader(b))
	defer p.Close()
	// The whole announcement in the player's buffer: with oto's default
	// (a fraction of a second) a slow refill leaves gaps of silence, heard as
	// stutter and seen as zeros in a capture.
	p.SetBufferSize(len(b))
	p.Play()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for p.IsPlaying() {
		select {
		case <-ctx.Done():
			p.Pause()
			return ctx.Err()
		case <-tick.C:
		}
	}
	if err := p.Err(); err != nil {
		return fmt.Errorf("audioout: alsa: %w", err)
	}
	if err := a.ctx.Err(); err != nil {
		return fmt.Errorf("audioout: alsa: %w", err)
	}
	// The player is done when oto has taken the last samples; the device
	// still holds up to a buffer of them (plus the period being written).
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(2 * deviceBuffer):
	}
	return nil
}

// Close makes later Plays fail. The oto context stays (oto cannot close it);
// Open("alsa") again returns a new ALSA on the same context.
func (a *ALSA) Close() error {
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
	return nil
}
