package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/posagent/posagent/pinhash"
)

// posctl pin-hash makes what a device verifies, from the PIN on stdin.
func TestPINHash(t *testing.T) {
	var out, errb bytes.Buffer
	stdin = strings.NewReader("2468\n")
	if code := run([]string{"pin-hash", "-n", "1024"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	h, err := pinhash.Parse(strings.TrimSpace(out.String()))
	if err != nil || h.N != 1024 || !h.Verify("2468") || h.Verify("2467") {
		t.Fatalf("pin-hash gave %q: %v", out.String(), err)
	}
	stdin = strings.NewReader("")
	if code := run([]string{"pin-hash"}, &out, &errb); code != 2 {
		t.Fatalf("no PIN: exit %d", code)
	}
	stdin = strings.NewReader("1\n")
	if code := run([]string{"pin-hash", "-n", "1000"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "power of two") {
		t.Fatalf("a bad N: exit %d %s", code, errb.String())
	}
}
