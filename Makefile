# CloudFront invalidation worker — developer entry points.
#
#   make demo    the worker against moto_server, end to end (scripts/demo.sh)
#   make test    vet, gofmt, every test with -race, then a short fuzz pass
#
# Run `make` or `make help` for the full list.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

GO ?= go
# Bound for the whole `go test ./...` run; the integration tests start real
# emulators, so a hang must end in a stack dump, not a stuck CI job.
TEST_TIMEOUT ?= 10m
# Per fuzz target: a short pass in `make test`, a long one in `make fuzz-long`.
# The short pass counts executions (Nx), not seconds: with a duration, Go
# 1.26's fuzz coordinator can report "context deadline exceeded" as a
# failure when the time runs out on a loaded machine (golang/go#75804, fixed
# in Go 1.27), which is a flake, not a finding. 300,000 runs take a few
# seconds per target here.
FUZZTIME ?= 300000x
FUZZTIME_LONG ?= 5m
# Packages whose Fuzz* targets `make test` and `make fuzz-long` run.
FUZZ_PKGS := ./internal/paths ./internal/message
# Extra flags for cmd/bench, e.g. `make bench BENCH_FLAGS="-n 400000 -latency-duration 60s"`
# or `BENCH_FLAGS="-phases bare,worker"`; `go run ./cmd/bench -h` lists them.
BENCH_FLAGS ?=

EMU_DIR := tools/emulators
# Written after a successful `npm ci`; newer than package.json and
# package-lock.json means node_modules is current.
EMU_STAMP := $(EMU_DIR)/node_modules/.cf-invalidator-installed

.PHONY: help build emulators test fmt-check fuzz fuzz-long demo bench quota-report screenshot clean

help: ## show this list
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-z-]*:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build bin/worker and bin/cfsim
	$(GO) build -o bin/worker ./cmd/worker
	$(GO) build -o bin/cfsim ./cmd/cfsim

emulators: $(EMU_STAMP) ## install the pinned npm emulators (fauxqs) into tools/emulators
	@:

$(EMU_STAMP): $(EMU_DIR)/package.json $(EMU_DIR)/package-lock.json
	cd $(EMU_DIR) && npm ci --no-audit --no-fund
	test -x $(EMU_DIR)/node_modules/.bin/fauxqs
	touch $@

test: emulators ## vet, gofmt check, go test -race ./..., short fuzz pass
	$(GO) vet ./...
	@$(MAKE) fmt-check
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...
	@$(MAKE) fuzz

fmt-check:
	@files=$$(find . -name '*.go' -not -path './.git/*' -not -path './$(EMU_DIR)/node_modules/*' -not -path './.tmp/*' -print); \
	bad=$$(gofmt -l $$files); \
	if [ -n "$$bad" ]; then echo "gofmt: these files need formatting (run gofmt -w):"; echo "$$bad"; exit 1; fi; \
	echo "gofmt: ok"

# fuzz runs every Fuzz* target of FUZZ_PKGS for FUZZTIME each. A failing
# input is written to the package's testdata/fuzz/ and fails the run.
fuzz:
	@for pkg in $(FUZZ_PKGS); do \
	  targets=$$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$pkg/*_test.go | sed 's/^func //'); \
	  if [ -z "$$targets" ]; then echo "fuzz: no Fuzz targets in $$pkg"; exit 1; fi; \
	  for t in $$targets; do \
	    echo "$(GO) test -run='^\$$' -fuzz='^$$t\$$' -fuzztime=$(FUZZTIME) $$pkg"; \
	    $(GO) test -run='^$$' -fuzz="^$$t\$$" -fuzztime=$(FUZZTIME) $$pkg; \
	  done; \
	done

fuzz-long: ## fuzz every target in internal/paths and internal/message for 5 minutes each
	@$(MAKE) fuzz FUZZTIME=$(FUZZTIME_LONG)

demo: ## run the worker end to end against moto_server (scripts/demo.sh)
	scripts/demo.sh

quota-report: emulators ## issue-3 burst: worker vs one request per message, full 410-message baseline (~4 min)
	QUOTA_BASELINE_MESSAGES=410 $(GO) test -count=1 -run '^TestQuotaBurst$$' -v -timeout 15m ./cmd/worker/ | grep -E '^\s*(\||quota burst|\(requests|TestQuotaBurst took|--- |ok|FAIL)'

bench: build emulators ## load harness: throughput, CPU, latency and memory vs a bare SQS loop (cmd/bench, ~2 min)
	$(GO) run ./cmd/bench -worker bin/worker $(BENCH_FLAGS)

screenshot: ## render the console over a demo snapshot into docs/console.png (headless chromium)
	$(GO) run ./internal/status/screenshot -o docs/console.png

clean: ## remove bin/ and .tmp/ (keeps tools/emulators/node_modules)
	rm -rf bin .tmp
