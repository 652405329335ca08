package device

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/posagent/posagent/audio"
	"github.com/posagent/posagent/journal"
)

// speechRecord is an announcement in journal.Speech: the audio.Record plus
// "at" (Unix seconds of Since), so Prune drops it after NotifyTTL like the
// notification it belongs to.
type speechRecord struct {
	At int64 `json:"at"`
	audio.Record
}

// Open: owed, so said after a restart (journal.Opener).
func (r speechRecord) Open() bool { return !r.Done && r.ID != "" }

// speechStore is audio.Store over the journal: what the Player owes and has
// said survives restarts, and a said id is never said again within
// NotifyTTL.
type speechStore struct{ j *journal.Journal }

var _ audio.Store = speechStore{}

func (s speechStore) Load(id string) (audio.Record, bool, error) {
	var r speechRecord
	var ok bool
	err := s.j.View(func(tx *journal.Tx) error {
		var err error
		ok, err = tx.Get(journal.Speech, id, &r)
		return err
	})
	return r.Record, ok, err
}

func (s speechStore) Save(r audio.Record) error {
	return s.j.Update(func(tx *journal.Tx) error { return putSpeech(tx, r) })
}

// putSpeech writes r within tx, so a command can owe an announcement in the
// same transaction that records the command (device.speak).
func putSpeech(tx *journal.Tx, r audio.Record) error {
	if r.Done && r.Said != "" {
		// What the function key repeats (lastSaid), without a search.
		if err := tx.Put(journal.Meta, metaLastSaid, r.ID); err != nil {
			return err
		}
	}
	return tx.Put(journal.Speech, r.ID, speechRecord{At: r.Since.Unix(), Record: r})
}

const metaLastSaid = "speech.last_said"

func (s speechStore) Owed() ([]audio.Record, error) {
	var owed []audio.Record
	err := s.j.View(func(tx *journal.Tx) error {
		return tx.OpenKeys(journal.Speech, func(k string) error {
			var r speechRecord
			if ok, err := tx.Get(journal.Speech, k, &r); err == nil && ok && r.Open() {
				owed = append(owed, r.Record)
			}
			return nil
		})
	})
	sort.SliceStable(owed, func(i, j int) bool { return owed[i].Since.Before(owed[j].Since) })
	return owed, err
}

// initSpeech builds the playback queue when the board has a speaker. It runs
// in New, after the volume is known.
func (a *Agent) initSpeech() {
	if a.audio == nil {
		return
	}
	a.speech = audio.NewPlayer(audio.PlayerOptions{
		Voice: a.voice, Out: a.audio, Store: speechStore{a.j}, Clock: a.now,
		Volume: a.state.Volume, Log: a.log,
	})
}

// resumeSpeech drops announcement records past NotifyTTL and queues the ones
// owed from before a restart, ahead of anything new.
func (a *Agent) resumeSpeech() error {
	if n, err := a.j.Prune(journal.Speech, a.now().Add(-NotifyTTL)); err != nil {
		a.log.Error("prune announcements", "err", err)
	} else if n > 0 {
		a.log.Info("pruned announcements", "count", n)
	}
	if a.speech == nil {
		return nil
	}
	return a.speech.Resume()
}

// runSpeech is the goroutine that owns the audio output.
func (a *Agent) runSpeech(ctx context.Context) {
	if a.speech != nil {
		a.speech.Run(ctx)
	}
}

// announce says text once per key (a stable id: "notify/"+order id), waiting
// until it has been played; name names the WAV. since is when it became
// owed: said more than a minute after it, it is marked 补播. The result's
// Said is the words spoken, for notify.done.
func (a *Agent) announce(ctx context.Context, key, name, text string, since time.Time) (audio.Result, error) {
	return a.speech.Say(ctx, audio.Request{ID: key, Name: name, Class: audio.Announce, Text: text, Since: since})
}

// prompt queues a status prompt (only the latest waiting one is kept) and
// does not wait for it.
func (a *Agent) prompt(name, text string) {
	if a.speech == nil {
		return
	}
	_, err := a.speech.Enqueue(audio.Request{Name: name, Class: audio.Status, Text: text})
	if err == nil {
		// What a person at the device was told, for the log (protocol §8).
		a.log.Info("prompt", "name", name, "text", text)
	}
	switch {
	case errors.Is(err, audio.ErrStopped):
		// The agent is stopping (the link's last "down" comes after the
		// player ends): there is no one to say it to and nothing is owed.
		a.log.Debug("prompt not said: stopping", "text", text)
	case err != nil:
		a.log.Error("prompt not queued", "text", text, "err", err)
	}
}

// KeyBeep acknowledges a key press: the beep goes ahead of everything
// queued. For the key drivers and the local API.
func (a *Agent) KeyBeep() {
	if a.speech == nil {
		return
	}
	if _, err := a.speech.Enqueue(audio.Request{Class: audio.Key}); err != nil {
		a.log.Error("key beep not queued", "err", err)
	}
}

// volumeChanged applies a new level to the player and says it (音量六), so
// whoever turned it can hear the result.
func (a *Agent) volumeChanged(level int) {
	if a.speech == nil {
		return
	}
	a.speech.SetVolume(level)
	a.prompt("volume", audio.VolumeWords(level))
}
