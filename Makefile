# Two commands on a fresh machine: `make demo` and `make test`.
GO          ?= go
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
PG          := ./scripts/with-postgres.sh

.PHONY: build test vet staticcheck gotest demo bench clean

build:
	CGO_ENABLED=0 $(GO) build -ldflags "-X main.version=$(VERSION)" -o bin/monitor ./cmd/monitor

## test: gofmt, vet, staticcheck and every test with the race detector, against a real Postgres
test: vet staticcheck gotest

vet:
	@unformatted="$$(gofmt -l .)"; if [ -n "$$unformatted" ]; then echo "gofmt needed on: $$unformatted"; exit 1; fi
	$(GO) vet ./...

staticcheck:
	$(STATICCHECK) ./...

gotest:
	$(PG) $(GO) test -race -count=1 ./...

## demo: the service on a simulated EngageLab and a throwaway Postgres; Ctrl-C cleans up
demo: build
	@$(PG) ./scripts/demo.sh

## bench: benchmarks with their figures (history queries on a year of snapshots, ...)
bench:
	$(PG) $(GO) test -run '^$$' -bench . -benchmem -benchtime 5x ./...

clean:
	rm -rf bin
