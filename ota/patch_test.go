package ota

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/posagent/posagent/config"
)

func fileConfig(t *testing.T) config.Config {
	c := config.Default()
	c.DeviceID, c.DataDir = "dev-0001", t.TempDir()
	c.MQTT.URL = "tcp://127.0.0.1:1883"
	c.AuthKey = base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))
	c.Store.Name = "file"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestMergePatchAccumulates(t *testing.T) {
	p1, err := MergePatch(nil, json.RawMessage(`{"mqtt":{"url":"tcp://a:1","username":"u"},"store":{"name":"一"}}`))
	if err != nil {
		t.Fatal(err)
	}
	p2, err := MergePatch(p1, json.RawMessage(`{"mqtt":{"username":null},"audio":{"volume":3}}`))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Merged(fileConfig(t), p2)
	if err != nil {
		t.Fatal(err)
	}
	if c.MQTT.URL != "tcp://a:1" || c.MQTT.Username != "" || c.Store.Name != "一" || c.Audio.Volume != 3 || c.DeviceID != "dev-0001" {
		t.Errorf("merged %+v", c)
	}
	if c.MQTT.Prefix != "pos/v1" || c.MQTT.KeepaliveMS != 120000 {
		t.Errorf("file values lost: %+v", c.MQTT)
	}
}

func TestMergedRefuses(t *testing.T) {
	f := fileConfig(t)
	for _, p := range []string{
		`{"mqtt":{"url":"ftp://x"}}`,      // invalid value
		`{"mqtt":{"uri":"tcp://x:1"}}`,    // unknown key
		`{"audio":{"volume":"loud"}}`,     // wrong type
		`{"auth_key":"c2hvcnQ="}`,         // too short
		`{"api":{"listen":"0.0.0.0:80"}}`, // not loopback
	} {
		if _, err := Merged(f, json.RawMessage(p)); err == nil {
			t.Errorf("%s accepted", p)
		}
	}
}

func TestAppliedStageCommitRollback(t *testing.T) {
	var a Applied
	if err := a.Stage(json.RawMessage(`{"store":{"name":"x"}}`), 0, Trial{Source: "qr", Ref: "q1"}); err != nil {
		t.Fatal(err)
	}
	if err := a.Stage(json.RawMessage(`{"store":{"name":"y"}}`), 0, Trial{}); ReasonOf(err) != ReasonBusy {
		t.Fatalf("second stage during a trial: %v", err)
	}
	if err := a.Commit(); err != nil || a.Version != 1 || a.Report == nil || !a.Report.OK || a.Trial != nil {
		t.Fatalf("commit: %v %+v", err, a)
	}
	if err := a.Stage(json.RawMessage(`{"audio":{"volume":2}}`), 1, Trial{Source: "config.set"}); ReasonOf(err) != ReasonVersion {
		t.Fatalf("same version accepted: %v", err)
	}
	if err := a.Stage(json.RawMessage(`{"audio":{"volume":2}}`), 7, Trial{Source: "config.set", Ref: "c7"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(a.Patch), `"volume":2`) || !strings.Contains(string(a.Patch), `"name":"x"`) {
		t.Errorf("patch %s", a.Patch)
	}
	if err := a.Rollback(ReasonConnect, "no broker"); err != nil {
		t.Fatal(err)
	}
	if a.Version != 1 || strings.Contains(string(a.Patch), "volume") || a.Report.OK || a.Report.Ref != "c7" || a.Report.Reason != ReasonConnect {
		t.Errorf("after rollback %+v %+v", a, a.Report)
	}
	if err := a.Rollback("x", "y"); err == nil {
		t.Error("rollback with no trial")
	}
}

// The hardware's keys are refused in a patch, naming the key, at any depth
// the key lives; a patch of other keys under the same parent is not.
func TestPatchRefusesFixedKeys(t *testing.T) {
	for _, tc := range []struct {
		patch, want string
	}{
		{`{"board":"smartpos"}`, "board cannot be set over the air"},
		{`{"data_dir":"/tmp"}`, "data_dir cannot be set over the air"},
		{`{"serial":"SN2"}`, "serial cannot be set over the air"},
		{`{"ota":{"dir":"/tmp"}}`, "ota.dir cannot be set over the air"},
		{`{"board":null}`, "board cannot be set over the air"},
		{`{"ota":{"check_ms":1000}}`, ""},
	} {
		_, err := MergePatch(nil, json.RawMessage(tc.patch))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.patch, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want %q", tc.patch, err, tc.want)
		}
		// Staged (config.set, QR), the refusal is bad_config and stages nothing.
		var a Applied
		err = a.Stage(json.RawMessage(tc.patch), 1, Trial{Source: "config.set"})
		if got := ReasonOf(err); tc.want != "" && (got != ReasonBadConfig || a.Trial != nil) {
			t.Errorf("%s staged: reason %q, trial %v", tc.patch, got, a.Trial)
		}
	}
}
