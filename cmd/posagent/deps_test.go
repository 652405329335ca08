package main

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The product binaries (the agent, and posctl for platform engineers and
// the dev kit) link no test code: not package testing, not the fault
// proxy (toxiproxy, and prometheus with it), not the browser driver, not
// the mosquitto harness, nor the shared test kit.
func TestProductLinksNoTestCode(t *testing.T) {
	out, err := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "list", "-deps", "../...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "testing" || strings.HasPrefix(pkg, "testing/") ||
			strings.Contains(pkg, "toxiproxy") || strings.Contains(pkg, "chromedp") || strings.Contains(pkg, "prometheus") ||
			strings.HasSuffix(pkg, "/mosquittotest") || strings.HasSuffix(pkg, "/platform/faults") || strings.HasSuffix(pkg, "/internal/testkit") {
			t.Errorf("a product binary links %s", pkg)
		}
	}
}
