# Two commands on a fresh machine: `make demo` and `make test`.
GO          ?= go
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
PG          := ./scripts/with-postgres.sh
# The dashboard's chart library, pinned by web/package-lock.json and committed here.
VENDOR      := internal/httpapi/static/vendor/uplot
UPLOT_FILES := dist/uPlot.iife.min.js dist/uPlot.min.css LICENSE

.PHONY: build test vet staticcheck gotest fuzz assets assets-check deploy-check demo bench bench-go clean

build:
	CGO_ENABLED=0 $(GO) build -ldflags "-X main.version=$(VERSION)" -o bin/monitor ./cmd/monitor

## test: gofmt, vet, staticcheck, the vendored assets, every test with the race detector against
## a real Postgres, a short fuzz, and the deployment kit (promtool, systemd-analyze, Kubernetes
## and Compose checks)
test: vet staticcheck assets-check gotest fuzz deploy-check

vet:
	@unformatted="$$(gofmt -l .)"; if [ -n "$$unformatted" ]; then echo "gofmt needed on: $$unformatted"; exit 1; fi
	$(GO) vet ./...

staticcheck:
	$(STATICCHECK) ./...

gotest:
	$(PG) $(GO) test -race -count=1 ./...

## assets: copy uPlot's built files from the lockfile's package into $(VENDOR) (needs npm)
assets:
	cd web && npm ci --no-audit --no-fund
	for f in $(UPLOT_FILES); do cp web/node_modules/uplot/$$f $(VENDOR)/; done

## assets-check: the committed files are byte for byte those of the lockfile's package
## (npm ci needs the npm registry; without npm it fails under CI=true and is skipped otherwise)
assets-check:
	@if ! command -v npm >/dev/null 2>&1; then \
	  if [ "$${CI:-}" = true ]; then echo "assets-check: npm is missing (CI=true)"; exit 1; fi; \
	  echo "assets-check: SKIPPED, npm is not installed"; exit 0; fi; \
	(cd web && npm ci --no-audit --no-fund --silent) && \
	for f in $(UPLOT_FILES); do \
	  cmp -s web/node_modules/uplot/$$f $(VENDOR)/$$(basename $$f) || { echo "assets-check: $(VENDOR)/$$(basename $$f) differs from the uplot package in web/package-lock.json: run make assets"; exit 1; }; \
	done; echo "assets-check: $(VENDOR) matches web/package-lock.json"

## fuzz: each fuzz target for a fixed number of runs (seed corpora in testdata/fuzz/; an input
## that fails is written there). A count, not -fuzztime 10s: Go 1.26's fuzz coordinator can
## fail a duration-bounded run with "context deadline exceeded" when the deadline meets a busy
## worker (go.dev/issue/75804, fixed in Go 1.27); a count has no deadline to race. About 10 s
## each on the 2-core machine; FUZZ_SCALE=10 make fuzz runs ten times as many.
FUZZ_SCALE ?= 1
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParseBalance$$' -fuzztime $$((150000 * $(FUZZ_SCALE)))x -timeout 10m ./internal/engagelab
	$(GO) test -run '^$$' -fuzz '^FuzzLoadConfig$$' -fuzztime $$((120000 * $(FUZZ_SCALE)))x -timeout 10m ./internal/config

## deploy-check: promtool rule tests, systemd-analyze verify, strict Kubernetes manifest decoding,
## docker-compose.yml through compose-go
deploy-check:
	GO=$(GO) ./scripts/check-deploy.sh

## demo: the service on a simulated EngageLab and a throwaway Postgres; Ctrl-C cleans up
demo:
	@echo "demo: building bin/monitor (the first build downloads modules and compiles; it can take a minute or two)…"
	@$(MAKE) --no-print-directory build
	@echo "demo: starting a throwaway PostgreSQL…"
	@$(PG) ./scripts/demo.sh

## bench: the figures at 10,000 apps (polling, CPU, round trips, ingest, history, storage, idle
## cost, peak RSS, start-up, upstream connections), each beside a ceiling measured in the same
## run, printed and written to BENCHMARKS.md with the machine (cmd/bench; about 5 minutes)
bench: build
	$(GO) build -o bin/bench ./cmd/bench
	$(PG) bin/bench -monitor bin/monitor -out BENCHMARKS.md

## bench-go: the Go benchmarks (history on a year of snapshots, spend at 10,000 apps)
bench-go:
	$(PG) $(GO) test -run '^$$' -bench . -benchmem -benchtime 5x ./...

clean:
	rm -rf bin
