# smaint: see README.md. Everything runs from a clean clone with Go and the
# machine's services; `make test` starts or installs what the tests need.

GO        ?= go
BIN       := bin/smaint
DURATION  ?= 60s
BENCHTIME ?= 2s
FUZZTIME  ?= 30s
PKGS      := ./...

.PHONY: all build build-prod demo test test-short services bench bench-sink bench-http bench-e2e bench-detect bench-predict fuzz fmt vet check clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/smaint

# The production binary (the image's): no demo or bench, and so none of
# the embedded Kafka, registry, Redis and plotting they bring.
build-prod:
	$(GO) build -tags prod -trimpath -ldflags="-s -w" -o bin/smaint-prod ./cmd/smaint

# The main job on embedded defaults: Kafka, schema registry and (if none
# answers on 127.0.0.1:6379) Redis run inside the process.
demo: build
	$(BIN) demo --duration $(DURATION)

# The whole suite with the race detector, against real PostgreSQL and Redis.
# The timeout catches a hang, not slowness: on a loaded machine the fault
# tests alone took 12 minutes (bench/faults).
# The storage tests run twice: on the main cluster (plain PostgreSQL) and on
# the TimescaleDB cluster .ci/services starts on port 5433.
TIMESCALE_URL ?= postgres://postgres@127.0.0.1:5433/test?sslmode=disable
test: services
	SMAINT_REQUIRE_SERVICES=1 $(GO) test -race -count=1 -timeout 30m $(PKGS)
	SMAINT_REQUIRE_SERVICES=1 SMAINT_TEST_DATABASE_URL='$(TIMESCALE_URL)' $(GO) test -race -count=1 -timeout 10m ./sinks/timescale

# Without services or child processes, for a quick loop while editing.
test-short:
	$(GO) test -short -count=1 $(PKGS)

services:
	@.ci/services

# Every go test benchmark: stages, codec, runtime, sink (the sink in both
# storage modes).
bench: services build
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $(PKGS)
	SMAINT_TEST_DATABASE_URL='$(TIMESCALE_URL)' $(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./sinks/timescale

# The sink benchmark of README "Performance", in both storage modes.
bench-sink: services
	$(GO) test -run '^$$' -bench SinkVsRawCopy -benchtime 5x -count 3 ./sinks/timescale
	SMAINT_TEST_DATABASE_URL='$(TIMESCALE_URL)' $(GO) test -run '^$$' -bench SinkVsRawCopy -benchtime 5x -count 3 ./sinks/timescale

# The HTTP API's load and abuse test of README "HTTP API", written to
# bench/results/http-load.txt (about a minute).
bench-http: build
	$(BIN) bench http --json bench/results/http-load.json | tee bench/results/http-load.txt

# The end-to-end runs of README "Performance", written to bench/results
# (about twenty-five minutes).
bench-e2e: services build
	bench/run-e2e.sh bench/results

# The detection benchmark of README "Detection quality" (SKAB and the
# simulator, every default), written to bench/results/detection.md.
bench-detect: build
	bench/detection.sh bench/results

# Remaining useful life (C-MAPSS), the failure classifier (AI4I) and the
# forecasts (SKAB, the simulator): bench/results/prediction.md.
bench-predict: build
	bench/prediction.sh bench/results

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME) ./schemas

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	$(GO) vet $(PKGS)
	$(GO) vet -tags prod ./cmd/smaint

# What to run before a commit.
check: vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }

clean:
	rm -rf bin
