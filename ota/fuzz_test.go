package ota

import (
	"encoding/json"
	"testing"
)

// The config QR's parser is fuzzed by FuzzParseQR (qr_test.go); the patch
// it carries (and config.set's) by FuzzMergePatch here.

// FuzzMergePatch feeds patches (config.set's and the QR's cfg) to
// MergePatch: it never panics, and what it returns is a JSON object.
func FuzzMergePatch(f *testing.F) {
	f.Add([]byte(`{"audio":{"volume":6}}`), []byte(`{"audio":{"volume":3}}`))
	f.Add([]byte(``), []byte(`{"mqtt":{"url":"tls://b:8883","password":null}}`))
	f.Add([]byte(`{"a":1}`), []byte(`{"data_dir":"/tmp"}`))
	f.Add([]byte(`{}`), []byte(`[1,2]`))
	f.Add([]byte(`{}`), []byte(`{"a":{"b":{"c":{"d":null}}}}`))
	f.Fuzz(func(t *testing.T, base, patch []byte) {
		out, err := MergePatch(base, patch)
		if err != nil {
			return
		}
		var obj map[string]any
		if err := json.Unmarshal(out, &obj); err != nil {
			t.Fatalf("MergePatch(%q, %q) = %q, not an object: %v", base, patch, out, err)
		}
	})
}
