// Package e2e tests the product from outside: the real binaries (the
// agent, posctl) built from the product's module and run as processes,
// through real brokers (the embedded one, mosquitto with TLS and ACLs),
// pseudo-terminals and a fault proxy (toxiproxy) on the link; the kill
// tests, the seeded bank test, the soak; and the web console in a real
// browser (chromium, driven by chromedp).
//
// It is a module of its own so that what only its tests need (toxiproxy,
// with prometheus and zerolog; chromedp) is no requirement of the product:
// the product's go.mod lists only what the product uses.
package e2e
