# posagent — build, test and run the dev kit.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/posagent/posagent/device.Version=$(VERSION)
# Debian packages the build and the tests need: gcc, libc6-dev, pkg-config and
# libasound2-dev for the ALSA output (cgo; oto finds libasound with
# pkg-config), libasound2-data for alsa.conf and the file/plug/null PCMs the
# ALSA capture test routes through (no sound card needed), sox to measure the
# voice pack, espeak-ng to regenerate it and for the live-synthesis benchmark,
# chromium for the web console's headless-browser test (e2e/console_test.go),
# mosquitto (and its mosquitto_passwd) for the real-broker tests with TLS,
# passwords and ACLs (platform/mosquittotest).
DEB_PKGS := gcc libc6-dev pkg-config libasound2-dev libasound2-data sox espeak-ng chromium mosquitto curl fonts-wqy-microhei

.PHONY: all build test deps run bench bank fuzz fuzz-ci soak vet clean cross-deps build-arm build-arm64 test-arm install bench-rss

all: build

build: deps
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/posagent ./cmd/posagent
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/posctl ./cmd/posctl

# deps installs what is missing (root on Debian; apt-get update once first).
# A package is looked up with the native architecture too: once the arm
# architectures are added (cross-deps), a bare name of a multiarch package
# installed for several is ambiguous to dpkg -s.
ARCH := $(shell dpkg --print-architecture 2>/dev/null)
deps:
	@missing=""; for p in $(DEB_PKGS); do dpkg -s $$p >/dev/null 2>&1 || dpkg -s $$p:$(ARCH) >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq || { sleep 5; apt-get update -qq; } || echo "apt-get update incomplete; trying the install anyway"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@$(GO) mod download
	@cd e2e && $(GO) mod download

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	cd e2e && $(GO) vet ./...

# CGO_ENABLED=1: without cgo the ALSA output and its capture test would not
# be built at all, and the real audio path would go untested without a word.
# The console's screenshots (every payment state at both screen sizes) are
# kept as artifacts of the run.
POSAGENT_SCREENSHOTS ?= $(CURDIR)/artifacts/screenshots
export POSAGENT_SCREENSHOTS
# The product's packages, then the e2e module: the real binaries, the kill,
# fault and bank tests, the browser (a module of its own, so that toxiproxy
# and chromedp are no requirement of the product).
test: deps vet
	mkdir -p $(POSAGENT_SCREENSHOTS)
	CGO_ENABLED=1 $(GO) test -count=1 -timeout 20m ./...
	cd e2e && CGO_ENABLED=1 $(GO) test -count=1 -timeout 20m ./...
	$(MAKE) test-arm
	$(MAKE) --no-print-directory fuzz-ci

# run is the dev kit: broker, platform simulator and the agent on PTYs.
run: build
	bin/posctl demo

bench: deps
	CGO_ENABLED=1 $(GO) test -run '^$$' -bench . -benchmem ./...
	# posagent's ESC/POS encoder against hennedo/escpos, in a module of its
	# own so the main module gains no dependency (it needs cgo iconv).
	cd bench/escposcompare && CGO_ENABLED=1 $(GO) test -run '^$$' -bench . -benchmem

# fuzz runs every fuzz target for FUZZTIME each; a crasher is saved under
# the package's testdata/fuzz/FuzzX/ (commit it: it is a regression input).
# scripts/fuzz.sh tells a crasher from Go 1.26's fuzz-time deadline race.
FUZZTIME ?= 30s
fuzz: deps
	@scripts/fuzz.sh $(FUZZTIME) $(GO)

# fuzz-ci is make fuzz for FUZZCI_TIME (3 s) each, run by make test.
FUZZCI_TIME ?= 3s
fuzz-ci:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZCI_TIME)

# soak runs the real binary for SOAK_DURATION at SOAK_RATE commands a
# second, printing RSS, threads and goroutines over time and the ledger
# comparison at the end (e2e/soak_test.go). Not part of make test.
SOAK_DURATION ?= 10m
SOAK_RATE ?= 10
soak: deps
	cd e2e && SOAK_DURATION=$(SOAK_DURATION) SOAK_RATE=$(SOAK_RATE) CGO_ENABLED=1 $(GO) test -count=1 -timeout 0 -run '^TestSoak$$' -v .

# bank runs the seeded bank test (e2e/bank_test.go): HISTORIES
# histories of N operations from SEED (default: the time); the same seed
# replays the same histories. make test runs a short one.
SEED ?=
N ?= 300
HISTORIES ?= 5
bank: deps
	cd e2e && POSAGENT_BANK_SEED=$(SEED) POSAGENT_BANK_N=$(N) POSAGENT_BANK_HISTORIES=$(HISTORIES) CGO_ENABLED=1 $(GO) test -count=1 -timeout 0 -run '^TestBank$$' -v .

clean:
	rm -rf bin .devkit

# Cross builds for the boards (issue 8): cgo with Debian's cross toolchains
# and libasound of the target architecture (multiarch), so the ALSA output is
# in the arm binaries as in the native one. -s -w strips them: a POS terminal
# has little flash. cross-deps installs what is missing (root on Debian).
# The C library comes from the libc6-dev-*-cross packages, not multiarch
# libc6-dev:armhf, which must match the host's libc6-dev version exactly and
# so breaks whenever the mirror's security index for armhf lags amd64's.
CROSS_PKGS := gcc-arm-linux-gnueabihf gcc-aarch64-linux-gnu libc6-dev-armhf-cross libc6-dev-arm64-cross libasound2-dev:armhf libasound2-dev:arm64 qemu-user-static
ARM_LDFLAGS := -s -w $(LDFLAGS)
cross-deps:
	@missing=""; for p in $(CROSS_PKGS); do dpkg -s $$p >/dev/null 2>&1 || dpkg -s $$p:$(ARCH) >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		dpkg --add-architecture armhf && dpkg --add-architecture arm64 && \
		apt-get update -qq || { sleep 5; apt-get update -qq; } || echo "apt-get update incomplete; trying the install anyway"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build-arm: deps cross-deps
	CGO_ENABLED=1 GOOS=linux GOARCH=arm GOARM=7 CC=arm-linux-gnueabihf-gcc \
	PKG_CONFIG_LIBDIR=/usr/lib/arm-linux-gnueabihf/pkgconfig:/usr/share/pkgconfig \
		$(GO) build -trimpath -ldflags "$(ARM_LDFLAGS)" -o bin/posagent-armv7 ./cmd/posagent
	@ls -l bin/posagent-armv7 | awk '{print "bin/posagent-armv7 (stripped):", $$5, "bytes"}'

build-arm64: deps cross-deps
	CGO_ENABLED=1 GOOS=linux GOARCH=arm64 CC=aarch64-linux-gnu-gcc \
	PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig \
		$(GO) build -trimpath -ldflags "$(ARM_LDFLAGS)" -o bin/posagent-arm64 ./cmd/posagent
	@ls -l bin/posagent-arm64 | awk '{print "bin/posagent-arm64 (stripped):", $$5, "bytes"}'

# test-arm builds both and runs each under qemu-user: -version, -board list,
# and a short sim-board session against a broker (scripts/arm-smoke.sh).
# The multiarch libc and libasound are on the host's root, so qemu's default
# sysroot (-L /) finds the loader and libraries.
test-arm: build-arm build-arm64
	scripts/arm-smoke.sh qemu-arm-static bin/posagent-armv7
	scripts/arm-smoke.sh qemu-aarch64-static bin/posagent-arm64
	# The GPIO drivers an ARM build registers (boards/host_socs.go).
	GOARCH=arm GOARM=7 CGO_ENABLED=0 $(GO) test -exec qemu-arm-static -run TestHostDrivers ./boards
	GOARCH=arm64 CGO_ENABLED=0 $(GO) test -exec qemu-aarch64-static -run TestHostDrivers ./boards

# install puts the agent where the systemd unit expects it; DESTDIR-aware
# for packaging. The config is never overwritten.
PREFIX  ?= /usr
DESTDIR ?=
install: build
	install -D -m 0755 bin/posagent $(DESTDIR)$(PREFIX)/bin/posagent
	install -D -m 0644 deploy/posagent.service $(DESTDIR)/lib/systemd/system/posagent.service
	install -D -m 0644 docs/porting.md $(DESTDIR)$(PREFIX)/share/doc/posagent/porting.md
	install -d -m 0700 $(DESTDIR)/var/lib/posagent
	install -d -m 0755 $(DESTDIR)/etc/posagent
	test -e $(DESTDIR)/etc/posagent/config.json || install -m 0640 deploy/config.example.json $(DESTDIR)/etc/posagent/config.json
	@if [ -z "$(DESTDIR)" ]; then \
		id posagent >/dev/null 2>&1 || useradd --system --home-dir /var/lib/posagent --shell /usr/sbin/nologin posagent; \
		chown posagent:posagent /var/lib/posagent; chgrp posagent /etc/posagent/config.json; \
		systemctl daemon-reload 2>/dev/null || true; \
		echo "edit /etc/posagent/config.json, then: systemctl enable --now posagent"; \
	fi

# bench-rss measures the real binary: cold start to connected, RSS at idle
# and under RATE notify.payment/s for DURATION, and idle bytes/hour on the
# wire at keepalive 120 s (measured at a short keepalive through a counting
# proxy, extrapolated). make bench-rss DURATION=10m for the full run.
DURATION ?= 20s
RATE     ?= 10
ORDERS   ?= 0
AGENT    ?= bin/posagent
bench-rss: build
	case "$(AGENT)" in bin/posagent) ;; *) cp bin/posagent $(AGENT) ;; esac
	$(GO) run ./scripts/agentbench -agent $(AGENT) -duration $(DURATION) -rate $(RATE) -orders $(ORDERS)
