//go:build linux && cgo

package audioout

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/posagent/posagent/audio"
)

// childEnv, when set, makes TestALSACapture the subprocess half: oto reads the
// ALSA config once per process, so the config must be in the environment
// before oto starts, and the only way to give a test a fresh process is to
// re-run the test binary.
const childEnv = "AUDIOOUT_ALSA_CAPTURE_DIR"

// asoundrc routes the default PCM, as oto opens it, through plug (converting
// oto's float samples back to S16_LE at 16 kHz mono) to a file PCM that
// records every frame it is given into capture.raw.
const asoundrc = `pcm.!default {
	type plug
	slave {
		pcm "capture"
		format S16_LE
		rate 16000
		channels 1
	}
}
pcm.capture {
	type file
	slave.pcm "null"
	file "%s"
	format "raw"
}
`

// announcement is what the test plays: a whole payment announcement as the
// agent renders it, so the capture proves the real path sample for sample.
const announcement = "微信收款一百二十八点五元"

func rendered(t *testing.T) []int16 {
	t.Helper()
	pcm, err := audio.DefaultVoice().Render(announcement)
	if err != nil {
		t.Fatal(err)
	}
	return pcm
}

func TestALSACapture(t *testing.T) {
	if dir := os.Getenv(childEnv); dir != "" {
		alsaChild(t)
		return
	}
	dir := t.TempDir()
	capture := filepath.Join(dir, "capture.raw")
	if err := os.WriteFile(filepath.Join(dir, ".asoundrc"), fmt.Appendf(nil, asoundrc, capture), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestALSACapture$", "-test.v")
	// alsa.conf loads ~/.asoundrc; HOME is the tempdir so the machine's own
	// config (or lack of a sound card) does not matter.
	cmd.Env = append(os.Environ(), childEnv+"="+dir, "HOME="+dir, "XDG_CONFIG_HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	t.Logf("child:\n%s", out)

	raw, err := os.ReadFile(capture)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]int16, len(raw)/2)
	for i := range got {
		got[i] = int16(binary.LittleEndian.Uint16(raw[2*i:]))
	}
	want := rendered(t)
	at := find(got, want)
	if at < 0 {
		t.Fatalf("rendered announcement (%d samples) not found in the %d captured samples", len(want), len(got))
	}
	t.Logf("captured %d samples; the announcement found intact at sample %d", len(got), at)
}

// find returns where want occurs in got, or -1.
func find(got, want []int16) int {
next:
	for i := 0; i+len(want) <= len(got); i++ {
		for j, w := range want {
			if got[i+j] != w {
				continue next
			}
		}
		return i
	}
	return -1
}

// alsaChild plays the announcement the way the agent does: through the
// playback queue (audio.Player), whose goroutine owns the ALSA output.
func alsaChild(t *testing.T) {
	out, err := Open("alsa")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p := audio.NewPlayer(audio.PlayerOptions{Out: out, Volume: 10})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { p.Run(runCtx); close(done) }()
	start := time.Now()
	res, err := p.Say(ctx, audio.Request{ID: "o-128", Class: audio.Announce, Text: announcement})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	stop()
	<-done
	t.Logf("said %s: Say took %v for %v of audio", res.Said, took, time.Duration(len(rendered(t)))*time.Second/SampleRate)
	// Silence after, to push the tail through ALSA's buffers into the file.
	if err := out.Play(ctx, "tail", make([]int16, SampleRate/5)); err != nil {
		t.Fatal(err)
	}
}
