package audio

import (
	"container/list"
	"sync"
)

// recentSamples bounds what a Voice keeps decoded: 256 Ki samples, 512 KB,
// which holds every digit and unit of an amount (81,008 samples in the
// built-in Mandarin pack) and the phrases a shop hears most (微信收款 and
// 支付宝收款 are 40,834 together).
const recentSamples = 256 << 10

// recentClips keeps the clips said most recently, decoded and faded, up
// to max samples in all, dropping the least recently said first. An
// announcement is mostly the same dozen digits and units said again, and
// decoding IMA ADPCM is most of a render (¥128.50: 118-124 µs decoding
// every clip, 311-331 µs inflating them first, 41-46 µs from here on the
// build machine); a render that finds its clips here only copies them at
// its volume. Clips stay out of memory until said, and a pack's others
// never come in (Voice).
//
// The samples handed out are shared: the caller copies them.
type recentClips struct {
	mu     sync.Mutex
	max    int
	held   int       // samples kept
	order  list.List // of *recentClip, the most recently said first
	byUnit map[string]*list.Element
}

type recentClip struct {
	unit string
	pcm  []int16
}

func newRecentClips(max int) *recentClips {
	return &recentClips{max: max, byUnit: map[string]*list.Element{}}
}

// get is unit's samples, or nil when they are not kept.
func (r *recentClips) get(unit string) []int16 {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.byUnit[unit]
	if e == nil {
		return nil
	}
	r.order.MoveToFront(e)
	return e.Value.(*recentClip).pcm
}

// put keeps unit's samples, dropping the least recently said until they
// fit; a clip longer than max is not kept.
func (r *recentClips) put(unit string, pcm []int16) {
	if len(pcm) > r.max {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byUnit[unit] != nil {
		return // put by a render beside this one
	}
	for r.held+len(pcm) > r.max {
		e := r.order.Back()
		c := r.order.Remove(e).(*recentClip)
		delete(r.byUnit, c.unit)
		r.held -= len(c.pcm)
	}
	r.byUnit[unit] = r.order.PushFront(&recentClip{unit, pcm})
	r.held += len(pcm)
}

// kept is how many samples are kept, and of how many clips.
func (r *recentClips) kept() (samples, clips int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.held, len(r.byUnit)
}
