package main

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readmePosctlLines are the README's posctl command lines, in order: the
// lines of its code blocks and its inline code that run posctl (bin/posctl
// or posctl, also after a pipe), without their comments.
func readmePosctlLines(readme string) []string {
	isPosctl := func(l string) bool {
		return strings.HasPrefix(l, "posctl ") || strings.HasPrefix(l, "bin/posctl ") || strings.Contains(l, "| posctl ")
	}
	var lines []string
	var prose strings.Builder
	fenced := false
	for _, l := range strings.Split(readme, "\n") {
		if strings.HasPrefix(l, "```") {
			fenced = !fenced
			prose.WriteString("\n")
			continue
		}
		if !fenced {
			prose.WriteString(l + "\n")
			continue
		}
		if i := strings.Index(l, "  #"); i >= 0 {
			l = l[:i] // a comment after the command
		}
		if l = strings.TrimSpace(l); isPosctl(l) {
			lines = append(lines, l)
		}
	}
	// Inline code, which may wrap onto the next line of the paragraph.
	var inline []string
	for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(prose.String(), -1) {
		if l := strings.Join(strings.Fields(m[1]), " "); isPosctl(l) {
			inline = append(inline, l)
		}
	}
	// Block lines first, in order, then inline ones: the kit's line is in
	// a block, and inline ones may name a block's command by an ellipsis.
	return append(lines, inline...)
}

// Every posctl line of the README, run as written against the dev kit the
// README's own demo line starts (the kit's default folder and ports, in a
// folder of its own): each exits as it should and does what it says. A
// posctl line this test does not know fails it, so a new or edited line is
// checked here before it reaches a reader. The README is read as it is
// now, so an edited README is what is tested.
func TestReadmePosctl(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := readmePosctlLines(string(readme))
	if len(lines) < 10 {
		t.Fatalf("README posctl lines: %q: not what this test reads", lines)
	}

	// The folder a newcomer works in: the binaries as bin/posctl and on
	// $PATH as posctl, and the files the README's installer lines name:
	// patch.json ("holds config-file keys"), ota.key and the artifact.
	ctl := kitBinaries(t)
	work := t.TempDir()
	os.Mkdir(filepath.Join(work, "bin"), 0o755)
	for _, b := range []string{"posctl", "posagent"} {
		if err := os.Symlink(filepath.Join(filepath.Dir(ctl), b), filepath.Join(work, "bin", b)); err != nil {
			t.Fatal(err)
		}
	}
	env := append(os.Environ(), "PATH="+filepath.Join(work, "bin")+":"+os.Getenv("PATH"), "POSCTL_CONFIG=")
	os.WriteFile(filepath.Join(work, "patch.json"), []byte(`{"store":{"name":"新店"},"audio":{"volume":7}}`), 0o644)
	if o, code := posctlRun(t, ctl, work, "keygen", "-o", "ota"); code != 0 {
		t.Fatal(o)
	}
	agent, _ := os.ReadFile(filepath.Join(filepath.Dir(ctl), "posagent"))
	os.WriteFile(filepath.Join(work, "posagent"), agent, 0o755)

	shell := func(ctx context.Context, line string) *exec.Cmd {
		c := exec.CommandContext(ctx, "bash", "-c", line)
		c.Dir, c.Env = work, env
		c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // Ctrl-C to the line's processes
		c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
		return c
	}
	interrupt := func(c *exec.Cmd) { syscall.Kill(-c.Process.Pid, syscall.SIGINT) }

	// The kit, by the README's line.
	var demo string
	for _, l := range lines {
		if regexp.MustCompile(`^(bin/)?posctl demo$`).MatchString(l) {
			demo = l
		}
	}
	if demo == "" {
		t.Fatalf("the README has no posctl demo line: %q", lines)
	}
	kctx, kcancel := context.WithCancel(context.Background())
	defer kcancel()
	k := &kit{cmd: shell(kctx, demo), out: &lockedBuffer{}}
	k.cmd.Stdout, k.cmd.Stderr = k.out, k.out
	if k.keyboard, err = k.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := k.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	kitDone := make(chan error, 1)
	go func() { kitDone <- k.cmd.Wait() }()
	defer func() {
		interrupt(k.cmd)
		select {
		case err := <-kitDone:
			if err != nil {
				t.Errorf("%s: stopped with %v", demo, err)
			}
		case <-time.After(20 * time.Second):
			kcancel()
			<-kitDone
			t.Errorf("%s did not stop on Ctrl-C", demo)
		}
		if t.Failed() {
			t.Logf("the kit:\n%s", k.out.String())
		}
	}()
	waitOutput(t, k.out, "Ctrl-C stops everything", 30*time.Second)

	// What each line must do. exit is its status; a long one runs until
	// Ctrl-C, after printing long.
	type check struct {
		re     string
		exit   int
		out    []string // in its output
		files  []string // made in the folder
		kit    string   // then in the kit's terminal
		long   string
		before string // a file to wait for first
	}
	checks := []check{
		{re: `^(bin/)?posctl send notify\.payment -amount 12850 -wallet wechat$`, out: []string{`"said":"微信收款一百二十八点五元"`, `"printed":true`}, kit: "receipt 001"},
		{re: `^(bin/)?posctl send -h$`, out: []string{"notify.payment — ", "device.speak — ", "Exit status"}},
		{re: `^(bin/)?posctl watch$`, long: " state {"},
		{re: `^(bin/)?posctl sim$`, long: "platform simulator on tcp://127.0.0.1:"},
		{re: `^echo \d+ \| posctl pin-hash$`, out: []string{"scrypt:"}},
		{re: `^posctl send device\.volume level=3$`, out: []string{"answer device.state", `"volume":3`}, kit: "the device says 「音量三」"},
		{re: `^posctl render \.devkit/receipts/001\.bin -o receipt\.png$`, files: []string{"receipt.png"}, before: ".devkit/receipts/001.bin"},
		{re: `^posctl keygen -o provisioning$`, out: []string{"public key"}, files: []string{"provisioning.key", "provisioning.pub"}},
		{re: `^posctl qr -config patch\.json -key provisioning\.key -ttl 15m -o qr\.png$`, out: []string{"PCFG1.", "CST"}, files: []string{"qr.png"}},
		{re: `^posctl qr -config \.devkit/qr-patch\.json -key \.devkit/provisioning\.key -scan$`, out: []string{"PCFG1.", "scanned it in the dev kit"}, kit: "config applied (qr"},
		{re: `^posctl ota-sign -key ota\.key -version 2\.0\.0 -url https://host/posagent posagent$`, out: []string{`"url":"https://host/posagent"`, `"sig":`}},
		// The kit's agent has no ota.pubkey (config reference: every
		// ota.update then fails no_key): the device answers so, and
		// posctl exits 1 on that failure.
		{re: `^posctl send ota\.update -json "\$\(posctl ota-sign -key ota\.key .*\)"$`, exit: 1, out: []string{"answer ota.result", `"reason":"no_key"`}},
	}
	var otaSign string
	for _, l := range lines {
		if strings.HasPrefix(l, "posctl ota-sign ") {
			otaSign = l
		}
	}
	for _, line := range lines {
		if line == demo {
			continue
		}
		if strings.Contains(line, "…") {
			// An elided command is the block's: posctl ota-sign ….
			if otaSign == "" || !strings.Contains(line, "posctl ota-sign …") {
				t.Errorf("README line %q elides a command this test does not know", line)
				continue
			}
			line = strings.Replace(line, "posctl ota-sign …", otaSign, 1)
		}
		var c *check
		for i := range checks {
			if regexp.MustCompile(checks[i].re).MatchString(line) {
				c = &checks[i]
			}
		}
		if c == nil {
			t.Errorf("README posctl line %q: this test does not know what it should do (teach it: readme_test.go)", line)
			continue
		}
		if c.before != "" {
			deadline := time.Now().Add(15 * time.Second)
			for _, err := os.Stat(filepath.Join(work, c.before)); err != nil; _, err = os.Stat(filepath.Join(work, c.before)) {
				if time.Now().After(deadline) {
					t.Fatalf("%s: no %s", line, c.before)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		cmd := shell(ctx, line)
		var out lockedBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if c.long != "" {
			waitOutput(t, &out, c.long, 15*time.Second)
			interrupt(cmd)
		}
		err := cmd.Wait()
		cancel()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if code != c.exit {
			t.Errorf("%s: exit %d, want %d:\n%s", line, code, c.exit, out.String())
			continue
		}
		for _, want := range c.out {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%s: no %q in:\n%s", line, want, out.String())
			}
		}
		if strings.Contains(out.String(), `\u00`) {
			t.Errorf("%s: escaped output:\n%s", line, out.String())
		}
		for _, f := range c.files {
			data, err := os.ReadFile(filepath.Join(work, f))
			if err != nil {
				t.Errorf("%s: %v", line, err)
			} else if strings.HasSuffix(f, ".png") {
				if _, err := png.Decode(bytes.NewReader(data)); err != nil {
					t.Errorf("%s: %s: %v", line, f, err)
				}
			}
		}
		if c.kit != "" {
			waitOutput(t, k.out, c.kit, 30*time.Second)
		}
		t.Logf("ran %s: exit %d", line, code)
	}
}
