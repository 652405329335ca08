package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// testOnly are what only tests use: the fault proxy (toxiproxy, and
// prometheus and zerolog with it) and the browser driver, required by the
// e2e module (../../e2e), never by the product's.
var testOnly = []string{"toxiproxy", "chromedp", "prometheus", "zerolog"}

// The product binaries (the agent, and posctl for platform engineers and
// the dev kit) link no test code: not package testing, not the fault
// proxy, not the browser driver, not the mosquitto harness, nor the
// shared test kit; and the product's go.mod requires none of what only
// the tests use.
func TestProductLinksNoTestCode(t *testing.T) {
	out, err := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "list", "-deps", "../...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "testing" || strings.HasPrefix(pkg, "testing/") ||
			strings.HasSuffix(pkg, "/mosquittotest") || strings.HasSuffix(pkg, "/internal/testkit") || strings.HasSuffix(pkg, "/internal/memnet") || strings.Contains(pkg, "/e2e") {
			t.Errorf("a product binary links %s", pkg)
		}
		for _, m := range testOnly {
			if strings.Contains(pkg, m) {
				t.Errorf("a product binary links %s", pkg)
			}
		}
	}
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range testOnly {
		if strings.Contains(string(mod), m) {
			t.Errorf("the product's go.mod requires %s, which only tests use (it belongs in e2e/go.mod)", m)
		}
	}
}
