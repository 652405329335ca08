package audio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Output is where a Player's samples go. drivers/audioout's outputs satisfy
// it; it is declared here, by its user, so this package needs no driver.
type Output interface {
	// Play plays 16 kHz mono pcm and returns once it has been played (or
	// written), or when ctx is done. name names the announcement (the WAV
	// output's file name). pcm is the output's only until Play returns:
	// the Player renders later announcements into it.
	Play(ctx context.Context, name string, pcm []int16) error
}

// Class says how a request waits its turn. A speaker says one thing at a
// time; the classes decide what goes next, never what is cut off.
type Class uint8

const (
	// Announce is money (payments, refunds, deposits) and anything else that
	// must be heard: first in, first out, never dropped, said once per ID,
	// and owed across restarts through the Store.
	Announce Class = iota
	// Status is a prompt about the device (网络断开, 音量六, 请出示付款码):
	// only the latest queued one is kept, since an older one is no longer
	// true; it waits behind announcements.
	Status
	// Key is key feedback: it goes ahead of everything queued, so a key
	// press is acknowledged as soon as the current clip ends.
	Key
)

func (c Class) String() string {
	switch c {
	case Announce:
		return "announce"
	case Status:
		return "status"
	case Key:
		return "key"
	}
	return fmt.Sprintf("class(%d)", uint8(c))
}

// Request is something to say.
type Request struct {
	// ID is the stable id of an Announce (an order id, never a time): a
	// second request with an ID already said is not said again. Required
	// for Announce; optional (and not persisted) for the other classes.
	ID string
	// Name is given to the Output (the WAV file name); "" uses ID, or the
	// class name when there is no ID. A late announcement plays as
	// Name+".replay".
	Name  string
	Class Class
	// Text is what to say, in units of the voice (see Voice.Split). A Key
	// request with no Text plays the beep.
	Text string
	// Since is when the announcement became owed (the payment notice's
	// arrival); zero means now. One played more than ReplayAfter later is
	// said prefixed with 补播, so a shop owner hearing it after a restart
	// knows it is not a new payment.
	Since time.Time
	// Again marks an announcement whose playing had begun before a
	// restart (Record.Started): it is said prefixed with 补播 whatever its
	// age, so one heard in full just before a crash is never heard again
	// as if it were a second payment. Enqueue and Resume set it from the
	// Store.
	Again bool
	// Kept marks an announcement whose caller keeps its record in its own
	// journal, marking it begun before it is queued and said in the
	// transaction that finishes its work (a payment notice's): the Player
	// neither loads nor saves it, sets Again only from the request, and
	// says it once among what is queued or playing.
	Kept bool
}

// Result is what came of a request.
type Result struct {
	Said      string // the words spoken, 补播 included; "" for a beep or when dropped
	Replay    bool   // said late, marked 补播
	Duplicate bool   // its ID had been said before: nothing played now; Said is what was said then
	Dropped   bool   // a status prompt replaced by a newer one before its turn
}

// Record is an Announce as the Store keeps it, from when it is owed until
// it has been said.
type Record struct {
	ID    string    `json:"id"`
	Name  string    `json:"name,omitempty"`
	Text  string    `json:"text"`
	Since time.Time `json:"since"`
	// Started is saved as playing begins: owed and Started after a
	// restart means it may have been heard, so it is said again as 补播.
	Started bool   `json:"started,omitempty"`
	Done    bool   `json:"done,omitempty"`
	Said    string `json:"said,omitempty"` // the words spoken, once Done
	Err     string `json:"err,omitempty"`  // why it was not said, when Done without Said
}

// Store keeps Records so that an announcement owed when the process dies is
// said after the restart, and one said is never said again. The agent
// implements it over its journal; a Player without one dedupes only in
// memory.
type Store interface {
	// Load returns the record of id, if any.
	Load(id string) (Record, bool, error)
	// Save writes r (by r.ID) durably before returning.
	Save(r Record) error
	// Owed returns the records not Done, oldest Since first.
	Owed() ([]Record, error)
}

// ReplayAfter is the default age past which an announcement is said as a
// replay (补播), as the issue asks: a minute.
const ReplayAfter = time.Minute

// ErrStopped is returned for requests still queued when Run returns, and by
// Enqueue after it.
var ErrStopped = errors.New("audio: player stopped")

// PlayerOptions are the parts of a Player.
type PlayerOptions struct {
	Voice *Voice // nil: DefaultVoice
	Out   Output // required
	Store Store  // nil: no persistence
	// Clock tells the time for Since and the replay rule; nil is time.Now.
	Clock func() time.Time
	// Volume is the starting level, 0-10; 0 is silence, so set it.
	Volume int
	// ReplayAfter overrides the replay age; 0 is ReplayAfter.
	ReplayAfter time.Duration
	Log         *slog.Logger
}

// Player is the playback queue: one request is said at a time, chosen by
// class, by Run (or, for a Kept announcement that finds the speaker idle
// and nothing queued, by its caller: Say); callers queue from any goroutine.
type Player struct {
	voice       *Voice
	out         Output
	store       Store
	now         func() time.Time
	replayAfter time.Duration
	log         *slog.Logger
	volume      atomic.Int32

	// enq makes "is this announcement queued, owed or said?" and "said:
	// record it and forget it" atomic with respect to each other, so two
	// requests for one ID can never both find it unsaid and unqueued.
	enq sync.Mutex

	mu       sync.Mutex
	keys     []*item // Key: first
	announce []*item // Announce: FIFO
	status   []*item // Status: at most one
	byID     map[string]*item
	stopped  bool
	running  bool            // Run has begun
	runCtx   context.Context // Run's: sayHere plays under it too
	// busy: one request is being said, by Run or by sayHere (a Kept
	// announcement said on its caller's goroutine); the other waits.
	busy bool
	wake chan struct{} // cap 1: something was queued
	// unsaved are announcements said in full whose Done record the store
	// could not take (a full disk), by ID (under enq): asked for again,
	// the record is saved then instead of saying it a second time.
	unsaved map[string]Record

	// prepared are renders made ahead of their turn (Prepare), by text,
	// oldest first, at most maxPrepared.
	prepMu   sync.Mutex
	prepared []*render
}

// render is one text rendered ahead at volume level; done closes when pcm
// and err are set.
type render struct {
	text  string
	level int
	at    time.Time // when it was asked for
	done  chan struct{}
	pcm   []int16
	err   error
}

// maxPrepared bounds the renders kept ahead (about 100 KB each): a burst
// renders the rest in turn, as without Prepare, and none twice.
const maxPrepared = 4

// Prepare renders text now, on a goroutine of its own, so that when it
// comes to be said it starts without waiting for its render: a
// notification renders its words while the commit that accepts it syncs.
// Nothing is said, queued or owed. While maxPrepared renders wait to be
// said, Prepare does nothing: those are said first (announcements keep
// their order), and a render pushed out before its turn would be made
// twice. One older than ReplayAfter is dropped: its words, said now, are
// said as 补播, a text of their own. Text the voice cannot say is ignored
// here (Say refuses it).
func (p *Player) Prepare(text string) {
	p.prepMu.Lock()
	defer p.prepMu.Unlock()
	now := p.now()
	p.prepared = slices.DeleteFunc(p.prepared, func(r *render) bool { return now.Sub(r.at) > p.replayAfter })
	for _, r := range p.prepared {
		if r.text == text {
			return
		}
	}
	if len(p.prepared) == maxPrepared {
		return
	}
	r := &render{text: text, level: p.Volume(), at: now, done: make(chan struct{})}
	p.prepared = append(p.prepared, r)
	go func() {
		r.pcm, r.err = p.voice.renderAt(text, r.level)
		close(r.done)
	}()
}

// renderText is text's samples at volume level: the render Prepare made
// for it (waited for, if it is still being made), taken so it is used
// once, or a render made now.
func (p *Player) renderText(text string, level int) ([]int16, error) {
	p.prepMu.Lock()
	var r *render
	for i, c := range p.prepared {
		if c.text == text {
			r = c
			p.prepared = append(p.prepared[:i:i], p.prepared[i+1:]...)
			break
		}
	}
	p.prepMu.Unlock()
	if r != nil {
		<-r.done
		if r.err == nil && r.level == level {
			return r.pcm, nil
		}
	}
	return p.voice.renderAt(text, level)
}

// item is a queued request; done closes when res and err are final.
type item struct {
	req  Request
	done chan struct{}
	res  Result
	err  error
}

func (it *item) finish(res Result, err error) {
	it.res, it.err = res, err
	close(it.done)
}

// Ticket follows a queued request.
type Ticket struct{ it *item }

// Done is closed once the request has been said, dropped or failed.
func (t Ticket) Done() <-chan struct{} { return t.it.done }

// Wait waits for the request's Result, or for ctx (the request stays queued).
func (t Ticket) Wait(ctx context.Context) (Result, error) {
	select {
	case <-t.it.done:
		return t.it.res, t.it.err
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

// NewPlayer returns a Player; nothing plays until Run.
func NewPlayer(o PlayerOptions) *Player {
	p := &Player{
		voice: o.Voice, out: o.Out, store: o.Store, now: o.Clock, replayAfter: o.ReplayAfter, log: o.Log,
		byID: map[string]*item{}, wake: make(chan struct{}, 1), unsaved: map[string]Record{},
	}
	if p.voice == nil {
		p.voice = DefaultVoice()
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.replayAfter == 0 {
		p.replayAfter = ReplayAfter
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.SetVolume(o.Volume)
	return p
}

// SetVolume sets the level (0-10, clamped) of everything played from now on.
func (p *Player) SetVolume(level int) { p.volume.Store(int32(min(max(level, 0), 10))) }

// Volume returns the current level.
func (p *Player) Volume() int { return int(p.volume.Load()) }

// Say queues r and waits for its Result (see Enqueue and Ticket.Wait). A
// Kept announcement that finds the speaker idle and nothing queued is said
// on the caller's goroutine (sayHere), as Run would say it next: Say then
// returns once it has been said, or cut off by Run's end, whatever ctx.
func (p *Player) Say(ctx context.Context, r Request) (Result, error) {
	t, here, err := p.enqueue(r, true)
	if err != nil {
		return Result{}, err
	}
	if here {
		p.sayHere(t.it)
		return t.it.res, t.it.err
	}
	return t.Wait(ctx)
}

// Enqueue queues r without waiting. Text the voice cannot say is refused here,
// before anything is owed. An Announce is saved in the Store before Enqueue
// returns (it is owed from then on, across restarts); one whose ID was said
// before completes at once as a Duplicate, and one already queued returns the
// queued request's Ticket, so concurrent or repeated requests are said once.
func (p *Player) Enqueue(r Request) (Ticket, error) {
	t, _, err := p.enqueue(r, false)
	return t, err
}

// enqueue is Enqueue; with here, a Kept announcement that would be said
// next and at once is not queued but handed back (here true) to be said
// by the caller (sayHere).
func (p *Player) enqueue(r Request, here bool) (Ticket, bool, error) {
	if r.Class > Key {
		return Ticket{}, false, fmt.Errorf("audio: unknown class %v", r.Class)
	}
	if r.Text == "" && r.Class != Key {
		return Ticket{}, false, errors.New("audio: nothing to say")
	}
	if _, err := p.voice.Split(r.Text); err != nil {
		return Ticket{}, false, err
	}
	if r.Class == Announce && r.ID == "" {
		return Ticket{}, false, errors.New("audio: an announcement needs a stable id")
	}
	if r.Since.IsZero() {
		r.Since = p.now()
	}
	if r.Class == Announce {
		p.enq.Lock()
		defer p.enq.Unlock()
		if t, ok := p.queued(r.ID); ok {
			return t, false, nil
		}
		if r.Kept {
			// Read only: one said under a build that kept it here.
			if p.store != nil {
				if rec, ok, err := p.store.Load(r.ID); err == nil && ok && rec.Done && rec.Said != "" {
					it := &item{req: r, done: make(chan struct{})}
					it.finish(Result{Said: rec.Said, Duplicate: true}, nil)
					return Ticket{it}, false, nil
				}
			}
			return p.push(r, here)
		}
		if rec, ok := p.unsaved[r.ID]; ok && p.store != nil {
			if err := p.store.Save(rec); err != nil {
				return Ticket{}, false, fmt.Errorf("audio: %s: said, still not recorded: %w", r.ID, err)
			}
			delete(p.unsaved, r.ID)
			it := &item{req: r, done: make(chan struct{})}
			it.finish(Result{Said: rec.Said, Duplicate: true}, nil)
			return Ticket{it}, false, nil
		}
		if p.store != nil {
			rec, ok, err := p.store.Load(r.ID)
			if err != nil {
				return Ticket{}, false, fmt.Errorf("audio: %s: %w", r.ID, err)
			}
			switch {
			case ok && rec.Done:
				it := &item{req: r, done: make(chan struct{})}
				var err error
				if rec.Err != "" {
					err = fmt.Errorf("audio: %s was not said: %s", r.ID, rec.Err)
				}
				it.finish(Result{Said: rec.Said, Duplicate: true}, err)
				return Ticket{it}, false, nil
			case ok:
				// Owed from before (a restart): say what was owed, from when.
				r.Name, r.Text, r.Since, r.Again = rec.Name, rec.Text, rec.Since, rec.Started
			default:
				rec = Record{ID: r.ID, Name: r.Name, Text: r.Text, Since: r.Since}
				if err := p.store.Save(rec); err != nil {
					return Ticket{}, false, fmt.Errorf("audio: %s: %w", r.ID, err)
				}
			}
		}
	}
	return p.push(r, false)
}

// queued returns the ticket of the Announce with id if it is queued or playing.
func (p *Player) queued(id string) (Ticket, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if it := p.byID[id]; it != nil {
		return Ticket{it}, true
	}
	return Ticket{}, false
}

// push adds r to its class's queue and wakes Run. With here, an
// announcement that Run would take next and at once (Run running and idle,
// nothing queued) is not queued: it is marked playing (busy, and by its ID)
// and handed back for the caller to say (here true).
func (p *Player) push(r Request, here bool) (Ticket, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return Ticket{}, false, ErrStopped
	}
	if r.Class == Announce {
		if it := p.byID[r.ID]; it != nil { // queued meanwhile by another caller
			return Ticket{it}, false, nil
		}
	}
	it := &item{req: r, done: make(chan struct{})}
	if here && r.Class == Announce && p.running && !p.busy && len(p.keys)+len(p.announce)+len(p.status) == 0 {
		p.busy = true
		p.byID[r.ID] = it
		return Ticket{it}, true, nil
	}
	switch r.Class {
	case Key:
		p.keys = append(p.keys, it)
	case Announce:
		p.announce = append(p.announce, it)
		p.byID[r.ID] = it
	case Status:
		for _, old := range p.status {
			old.finish(Result{Dropped: true}, nil)
		}
		p.status = append(p.status[:0], it)
	}
	p.kick()
	return Ticket{it}, false, nil
}

// kick wakes Run.
func (p *Player) kick() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// sayHere says it, handed back by push, on the caller's goroutine, as Run
// would have said it: a notification's announcement then starts without
// the caller waking Run and Run waking the caller again, two goroutine
// hand-offs on every notification's path. Run says nothing meanwhile
// (busy); what is queued meanwhile waits for it, and Run is woken for it
// after. It plays under Run's context, as Run would: Run's end (shutdown)
// cuts it off, not said; the caller giving up (its ctx) does not, so
// another caller waiting for the same ID still hears it said, and the
// caller is back once the words have played.
func (p *Player) sayHere(it *item) {
	p.mu.Lock()
	ctx := p.runCtx
	p.mu.Unlock()
	res, err := p.play(ctx, it.req)
	if ctx.Err() != nil {
		res, err = Result{}, ctx.Err()
	} else if err != nil {
		p.log.Error("not said", "id", it.req.ID, "class", it.req.Class, "err", err)
	}
	p.enq.Lock()
	p.forget(it)
	p.enq.Unlock()
	p.done()
	it.finish(res, err)
}

// done ends what Run or sayHere was saying, and wakes Run for what was
// queued meanwhile.
func (p *Player) done() {
	p.mu.Lock()
	p.busy = false
	queued := len(p.keys)+len(p.announce)+len(p.status) > 0
	p.mu.Unlock()
	if queued {
		p.kick()
	}
}

// Resume queues every announcement the Store says is owed, oldest first.
// Call it once before Run, before anything else is queued, so what was owed
// before a restart is said before what arrives after it.
func (p *Player) Resume() error {
	if p.store == nil {
		return nil
	}
	p.enq.Lock()
	defer p.enq.Unlock()
	owed, err := p.store.Owed()
	if err != nil {
		return fmt.Errorf("audio: owed announcements: %w", err)
	}
	for _, rec := range owed {
		p.log.Info("announcement owed from before the restart", "id", rec.ID, "since", rec.Since)
		if _, _, err := p.push(Request{ID: rec.ID, Name: rec.Name, Class: Announce, Text: rec.Text, Since: rec.Since, Again: rec.Started}, false); err != nil {
			return err
		}
	}
	return nil
}

// next takes the request to play: keys, then announcements, then status.
func (p *Player) next() *item {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.busy {
		return nil // sayHere is saying one: done wakes Run after it
	}
	for _, q := range []*[]*item{&p.keys, &p.announce, &p.status} {
		if len(*q) > 0 {
			it := (*q)[0]
			(*q)[0] = nil
			*q = (*q)[1:]
			p.busy = true
			return it
		}
	}
	return nil
}

// Run plays queued requests one at a time until ctx is done. Only it and
// sayHere call the Output, never both at once (busy), both under ctx.
// Requests still queued then fail with ErrStopped (an Announce stays owed
// in the Store, for the next start).
func (p *Player) Run(ctx context.Context) error {
	defer p.stop()
	p.mu.Lock()
	p.running, p.runCtx = true, ctx
	p.mu.Unlock()
	for {
		it := p.next()
		if it == nil {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-p.wake:
				continue
			}
		}
		if it.req.Class == Announce && p.store != nil && !it.req.Again && !it.req.Kept {
			// From here a crash may leave it heard, in part or in full,
			// but not recorded as said: the next start says it as 补播.
			r := it.req
			if err := p.store.Save(Record{ID: r.ID, Name: r.Name, Text: r.Text, Since: r.Since, Started: true}); err != nil {
				// Not said until it can be recorded (a full disk): said
				// now and not recorded, it would be said again when it
				// is retried — a second 收款 for one payment.
				p.log.Error("announcement not said: its start cannot be recorded", "id", r.ID, "err", err)
				p.enq.Lock()
				p.forget(it)
				p.enq.Unlock()
				p.done()
				it.finish(Result{}, fmt.Errorf("audio: %s: %w", r.ID, err))
				continue
			}
		}
		res, err := p.play(ctx, it.req)
		if ctx.Err() != nil {
			// Cut off by shutdown: not said, still owed.
			p.enq.Lock()
			p.forget(it)
			p.enq.Unlock()
			it.finish(Result{}, ctx.Err())
			return ctx.Err()
		}
		p.enq.Lock()
		if it.req.Class == Announce && p.store != nil && !it.req.Kept {
			rec := Record{ID: it.req.ID, Name: it.req.Name, Text: it.req.Text, Since: it.req.Since, Done: true, Said: res.Said}
			if err != nil {
				rec.Err = err.Error()
			}
			if serr := p.store.Save(rec); serr != nil {
				p.log.Error("announcement said but not recorded", "id", it.req.ID, "err", serr)
				if err == nil {
					p.unsaved[it.req.ID] = rec
				}
			}
		}
		p.forget(it)
		p.enq.Unlock()
		p.done()
		if err != nil {
			p.log.Error("not said", "id", it.req.ID, "class", it.req.Class, "err", err)
		}
		it.finish(res, err)
	}
}

func (p *Player) forget(it *item) {
	p.mu.Lock()
	if p.byID[it.req.ID] == it {
		delete(p.byID, it.req.ID)
	}
	p.mu.Unlock()
}

func (p *Player) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopped = true
	for _, q := range [][]*item{p.keys, p.announce, p.status} {
		for _, it := range q {
			it.finish(Result{}, ErrStopped)
		}
	}
	p.keys, p.announce, p.status, p.byID = nil, nil, nil, map[string]*item{}
}

// play renders one request at the current volume and hands it to the output.
func (p *Player) play(ctx context.Context, r Request) (Result, error) {
	name := r.Name
	if name == "" {
		name = r.ID
	}
	if name == "" {
		name = r.Class.String()
	}
	var res Result
	var pcm []int16
	rendered := false // pcm is this play's own render: recycled once played
	if r.Class == Key && r.Text == "" {
		pcm = Scale(p.voice.Beep(), p.Volume()) // shared: scaled into a copy
	} else {
		text := r.Text
		if r.Class == Announce && (r.Again || p.now().Sub(r.Since) > p.replayAfter) {
			text, name, res.Replay = PhraseReplay+text, name+".replay", true
		}
		var err error
		if pcm, err = p.renderText(text, p.Volume()); err != nil {
			return Result{}, err
		}
		res.Said, rendered = text, true
	}
	err := p.out.Play(ctx, name, pcm)
	if rendered {
		recycle(pcm)
	}
	if err != nil {
		return Result{}, err
	}
	if r.Class == Announce {
		// One line per announcement played, before it is recorded as said:
		// a shop owner's "it said that payment twice" can be checked against
		// the log, and the kill tests count plays across restarts with it.
		p.log.Info("played", "id", r.ID, "file", name)
	}
	return res, nil
}
