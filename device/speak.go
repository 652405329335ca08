package device

import (
	"errors"
	"unicode/utf8"

	"github.com/posagent/posagent/audio"
	"github.com/posagent/posagent/journal"
	"github.com/posagent/posagent/mqtt"
	"github.com/posagent/posagent/wire"
)

// MaxSpeakRunes bounds device.speak's text: a minute of speech at most, so
// one command cannot hold the speaker for long while payments wait behind it.
const MaxSpeakRunes = 120

// acceptSpeak checks that the voice pack can say the text (ASCII numbers are
// read as Mandarin first, see audio.Normalize) and owes it as an
// announcement in the command's own transaction, so it is said once, even
// across a restart; it is queued behind the payments already owed. It
// answers nothing on success (protocol §3); a text the pack cannot say is a
// bad_request naming the character.
func (a *Agent) acceptSpeak(tx *journal.Tx, m mqtt.Message) (*mqtt.Message, func(), error) {
	var b wire.DeviceSpeak
	if err := decodeBody(m.Body, &b); err != nil {
		return a.badRequest(tx, m, "device.speak: %v", err)
	}
	if b.Text == nil || *b.Text == "" {
		return a.badRequest(tx, m, "device.speak: text is required")
	}
	if !utf8.ValidString(*b.Text) || utf8.RuneCountInString(*b.Text) > MaxSpeakRunes {
		return a.badRequest(tx, m, "device.speak: text must be valid UTF-8 of at most %d characters", MaxSpeakRunes)
	}
	text, err := audio.Normalize(*b.Text)
	if err != nil {
		return a.badRequest(tx, m, "device.speak: %v", err)
	}
	if _, err := a.voice.Split(text); err != nil {
		if errors.Is(err, audio.ErrUnknownUnit) {
			return a.badRequest(tx, m, "device.speak: the voice pack cannot say it: %v", err)
		}
		return a.badRequest(tx, m, "device.speak: %v", err)
	}
	if a.speech == nil {
		ans, err := a.emit(tx, wire.TypeError, m.ID, errorBody{Ref: m.ID, Code: CodeUnsupported, Message: "device.speak: this device has no speaker"})
		return &ans, nil, err
	}
	rec := audio.Record{ID: "speak/" + m.ID, Name: "speak-" + m.ID, Text: text, Since: a.now()}
	if err := putSpeech(tx, rec); err != nil {
		return nil, nil, err
	}
	return nil, func() {
		// The record is owed already: Enqueue finds it and queues it.
		if _, err := a.speech.Enqueue(audio.Request{ID: rec.ID, Name: rec.Name, Class: audio.Announce, Text: text, Since: rec.Since}); err != nil {
			a.log.Error("device.speak not queued (said after restart)", "jti", m.ID, "err", err)
		}
	}, nil
}
