# Drover build, test and benchmark entry points. Everything here works on a
# fresh Debian machine as root: `make deps` installs what is missing.

SHELL   := /bin/bash
export PATH := /usr/local/go/bin:$(HOME)/go/bin:$(PATH)
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME ?= 3s

.PHONY: test-lab all build deps demo test test-unit fuzz lint bench bench-failover kernellab-deps test-kernel bench-kernel base-mibs clean

all: build

## build: the static drover binary in bin/
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/drover ./cmd/drover

## deps: Debian packages the tests need (gcc for the race detector; iproute2
## and nftables for the netns tier; net-snmp's snmpd, tools and snmptrapd for
## the SNMP interop tests; sblim-wbemcli for the CIM-XML interop test;
## smitools and npm for the MIB lint)
deps:
	@command -v $(GO) >/dev/null || { echo "make: Go 1.26 is required (not found in PATH)"; exit 1; }
	@if ! command -v gcc >/dev/null; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev >/dev/null; \
		else echo "make: gcc is needed for go test -race; run as root or install gcc"; exit 1; fi; fi
	@if [ "$$(id -u)" = 0 ] && ! { command -v ip && command -v nft; } >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 nftables >/dev/null; fi
	@if [ "$$(id -u)" = 0 ] && ! { command -v snmpd && command -v snmpwalk && command -v snmptrapd; } >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq snmpd snmp snmptrapd >/dev/null; fi
	@if [ "$$(id -u)" = 0 ] && ! command -v wbemcli >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sblim-wbemcli >/dev/null; fi
	@if [ "$$(id -u)" = 0 ] && ! { command -v smilint && command -v npm; } >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq smitools npm >/dev/null; fi
	@$(MAKE) --no-print-directory base-mibs

## base-mibs: the IETF SNMPv2 base MIBs (Debian ships none) for the MIB lint,
## from the npm package net-snmp, into .cache/mibs (docs/snmp.md)
BASE_MIBS_NPM := net-snmp@3.29.2
base-mibs:
	@if [ ! -f .cache/mibs/SNMPv2-SMI.txt ] && command -v npm >/dev/null; then \
		set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
		(cd "$$tmp" && npm pack --silent $(BASE_MIBS_NPM) >/dev/null && tar xzf net-snmp-*.tgz); \
		mkdir -p .cache/mibs; \
		for m in SNMPv2-SMI SNMPv2-TC SNMPv2-CONF SNMPv2-MIB; do cp "$$tmp/package/lib/mibs/$$m.mib" .cache/mibs/$$m.txt; done; \
		echo "base MIBs from $(BASE_MIBS_NPM) in .cache/mibs"; fi

## test: every test tier the repository has (unit and bus, with -race; netns
## as root; IPVS on the host's kernel or in the kernel lab VM), lint and a
## short fuzz run
test: deps lint test-unit fuzz test-kernel

# As root, privileged tests (network namespaces) must run: they fail
# instead of skipping when they cannot. Packages run one at a time (-p 1):
# the agent's and the lab's failover tests measure sub-second timers
# (100 ms heartbeats, a 400 ms self-fence, lease renewals), which another
# package's race-detector run (SNMP walks of 10,000 rows, say) would
# starve of CPU on a small machine. The lab runs last.
LAB_PKG := ./cmd/drover/lab
test-unit:
	if [ "$$(id -u)" = 0 ]; then export DROVER_PRIVILEGED_TESTS=1; fi; \
	CGO_ENABLED=1 $(GO) test -p 1 -race -count=1 -timeout 15m $$($(GO) list ./... | grep -v '/cmd/drover/lab$$') && \
	$(MAKE) --no-print-directory test-lab

# test-lab: the lab's failover tests assert sub-second service gaps and
# "no probe lost" on real processes in namespaces; on a shared VM a host
# stall of a few hundred milliseconds can break one. A failed test runs
# once more, alone, and the output says so; failing twice fails.
test-lab:
	@if [ "$$(id -u)" = 0 ]; then export DROVER_PRIVILEGED_TESTS=1; fi; \
	log=$$(mktemp); trap 'rm -f "$$log"' EXIT; \
	if CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 15m -v $(LAB_PKG) >"$$log" 2>&1; then \
		grep -E '^(ok|--- SKIP)|(vip|soak|lb)_linux_test.go:[0-9]+: ' "$$log"; exit 0; fi; \
	cat "$$log"; \
	failed=$$(sed -n 's/^--- FAIL: \(Test[A-Za-z0-9_]*\).*/\1/p' "$$log" | sort -u | paste -sd'|'); \
	if [ -z "$$failed" ]; then exit 1; fi; \
	echo "test-lab: $$failed failed; running it once more, alone"; \
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 15m -run "^($$failed)$$" $(LAB_PKG)

## fuzz: run every fuzzer for FUZZTIME (default 3s) on top of its seed corpus.
## A run that ends in a bare "context deadline exceeded" with no failing
## input written is Go 1.26's fuzz coordinator racing its own deadline
## (golang/go#75804, fixed in Go 1.27), not a finding: it is reported and
## the fuzzer runs again once.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "fuzz $$pkg $$f"; \
			for try in 1 2; do \
				if out=$$($(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) $$pkg 2>&1); then break; fi; \
				if [ $$try = 1 ] && echo "$$out" | grep -q 'context deadline exceeded' && \
					! echo "$$out" | grep -q 'Failing input written'; then \
					echo "  (context deadline exceeded without a failing input: golang/go#75804; running again)"; continue; fi; \
				echo "$$out" | grep -v '^fuzz: elapsed'; exit 1; \
			done; \
		done; done

## lint: gofmt, go vet, staticcheck
lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

## bench: the figures of docs/benchmarks.md
bench: bench-kernel
	CGO_ENABLED=0 $(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./bus ./cmd/drover ./agent
	GOMAXPROCS=1 CGO_ENABLED=0 $(GO) test -run '^$$' -bench HTTPChecks -timeout 10m ./agent/check
	CGO_ENABLED=0 $(GO) test -run '^$$' -bench . -benchtime 3x -timeout 10m ./mib
	CGO_ENABLED=0 $(GO) test -run '^$$' -bench Enumerate -benchtime 3x -timeout 10m ./cim

## bench-failover: VIP service gaps in the netns lab (root), default and tuned timers
bench-failover: deps
	$(GO) test -run '^$$' -bench VIPFailover -benchtime 1x -timeout 60m ./cmd/drover/lab
	DROVER_BENCH_PROFILE=tuned $(GO) test -run '^$$' -bench VIPFailover -benchtime 1x -timeout 60m ./cmd/drover/lab

## kernellab-deps: qemu, and Debian's cloud kernel, busybox, iproute2 and ipvsadm
## extracted (not installed) into .cache/kernellab for the kernel lab VM
kernellab-deps:
	@command -v $(GO) >/dev/null || { echo "make: Go 1.26 is required (not found in PATH)"; exit 1; }
	@if ! command -v qemu-system-x86_64 >/dev/null; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-system-x86 >/dev/null; \
		else echo "make: qemu-system-x86 is needed for the kernel lab; run as root or install it"; exit 1; fi; fi
	$(GO) run ./tools/kernellab fetch

## test-kernel: IPVS tests on the host when its kernel has ip_vs, else inside
## the kernel lab VM (docs/kernellab.md)
KERNEL_PKGS ?= ./tools/kernellab/vmtest ./agent/ipvs
# The lab's end-to-end load-balancing test runs drover agents and real
# servers; the VM cannot build drover, so it gets bin/drover.
LB_TEST := -run '^TestPrivilegedLB' ./cmd/drover/lab
HOST_IPVS = $(shell [ "$$(id -u)" = 0 ] && { [ -e /proc/net/ip_vs ] || modprobe ip_vs 2>/dev/null; } && [ -e /proc/net/ip_vs ] && echo yes)
test-kernel:
ifeq ($(HOST_IPVS),yes)
	DROVER_PRIVILEGED_TESTS=1 DROVER_IPVS_TESTS=1 $(GO) test -count=1 -timeout 15m $(KERNEL_PKGS)
	DROVER_PRIVILEGED_TESTS=1 DROVER_IPVS_TESTS=1 $(GO) test -count=1 -timeout 15m $(LB_TEST)
else
	$(MAKE) kernellab-deps
	$(GO) run ./tools/kernellab test $(KERNEL_PKGS)
	$(MAKE) build
	$(GO) run ./tools/kernellab test -file bin/drover:/usr/local/bin/drover -env DROVER_BINARY=/usr/local/bin/drover $(LB_TEST)
endif

## demo: as root, a throwaway lab of two directors, three real servers and a
## client: load balancing, then the active director killed and the client
## carrying on (docs/demo.md). On this host when its kernel has ip_vs,
## else inside the kernel lab VM.
demo: deps build
ifeq ($(HOST_IPVS),yes)
	@command -v ipvsadm >/dev/null || [ "$$(id -u)" != 0 ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ipvsadm >/dev/null; } || true
	./bin/drover lab demo
else
	@$(MAKE) --no-print-directory kernellab-deps
	@echo "make demo: this kernel has no ip_vs: running the demo in the kernel lab VM (docs/kernellab.md)"
	$(GO) run ./tools/kernellab exec -file bin/drover:/usr/bin/drover -- drover lab demo
endif

## bench-kernel: IPVS apply benchmarks beside ipvsadm -R (host ip_vs or the VM)
bench-kernel:
ifeq ($(HOST_IPVS),yes)
	DROVER_PRIVILEGED_TESTS=1 DROVER_IPVS_TESTS=1 $(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./agent/ipvs
else
	$(MAKE) kernellab-deps
	$(GO) run ./tools/kernellab test -run '^$$' -bench . -timeout 30m ./agent/ipvs
endif

clean:
	rm -rf bin
