# Personas build and test entry points.
#
#   make build           build bin/personas
#   make test            vet + all tests (race detector) against real Kafka and Redis;
#                        starts them with scripts/services unless PERSONAS_KAFKA_BROKERS,
#                        PERSONAS_REDIS_URL and PERSONAS_REDIS_CLUSTER_URL are given.
#                        They keep running afterwards for fast reruns: make services-down
#                        PKGS=./internal/testenv/... and GOTESTFLAGS='-run X -v' narrow it.
#   make test-unit       tests without any server (integration tests skip)
#   make services-up     start Kafka, Redis and Redis Cluster on loopback (.services/env)
#   make services-down   stop them and delete their data
#   make lint            go vet, gofmt and (when installed) shellcheck
#   make demo            the whole pipeline in one process on synthetic traffic, with a
#                        live dashboard; nothing to install (DEMOFLAGS='--duration 30s')

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

GO ?= go
PKGS ?= ./...
GOTESTFLAGS ?=
export PKGS GOTESTFLAGS

SCRIPTS := scripts/services scripts/secure-services scripts/test .ci/run

.PHONY: build test test-unit services-up services-down services-status lint clean

build:
	$(GO) build -o bin/personas ./cmd/personas

test:
	scripts/test

test-unit:
	env -u PERSONAS_KAFKA_BROKERS -u PERSONAS_REDIS_URL -u PERSONAS_REDIS_CLUSTER_URL \
		-u PERSONAS_REQUIRE_SERVICES $(GO) test -race -count=1 $(GOTESTFLAGS) $(PKGS)

services-up:
	scripts/services up

services-down:
	scripts/services down

services-status:
	scripts/services status

lint:
	$(GO) vet $(PKGS)
	@unformatted="$$(find . -name '*.go' -not -path './.*' -not -path './bin/*' -print0 | xargs -0 -r gofmt -l)"; \
	if [[ -n "$$unformatted" ]]; then \
		echo "gofmt needed on:"; echo "$$unformatted"; exit 1; \
	fi
	@if command -v shellcheck >/dev/null; then shellcheck $(SCRIPTS); \
	else echo "shellcheck not installed; skipped (apt-get install shellcheck)"; fi

clean:
	rm -rf bin

.PHONY: demo
DEMOFLAGS ?=
demo:
	$(GO) run ./cmd/personas demo $(DEMOFLAGS)

# make bench: the end-to-end benchmark on real Kafka and Redis (started with
# scripts/services unless PERSONAS_KAFKA_BROKERS and PERSONAS_REDIS_URL are given);
# prints the results and writes them into docs/benchmarks.md. A quick run:
# BENCH_EVENTS=50000 make bench. More options: BENCHFLAGS='--help'.
.PHONY: bench
BENCH_EVENTS ?= 1000000
BENCHFLAGS ?=
bench: build
	if [[ -z "$${PERSONAS_KAFKA_BROKERS:-}" || -z "$${PERSONAS_REDIS_URL:-}" ]]; then \
		scripts/services up kafka redis redis-cluster; . .services/env; \
	fi; \
	bin/personas bench --events $(BENCH_EVENTS) --command "make bench BENCH_EVENTS=$(BENCH_EVENTS)" $(BENCHFLAGS)

# make test-faults: the full fault suite (internal/e2e/faults_test.go, docs/operations.md):
# 200k events through `personas run` on real Kafka and Redis while it is SIGKILLed ten
# times, Redis is stopped, the broker restarted, connections slowed, cut and black-holed
# through toxiproxy, and the group scaled 1->3->1; then /readyz under faults. It uses a
# broker of its own (scripts/services up kafka-faults) and prints the table of faults,
# events lost, events double-counted and recovery times, also written to
# $(FAULTS_REPORT). `make test` runs a short form (PERSONAS_FAULTS=off skips it).
.PHONY: test-faults
FAULTS_REPORT ?= $(CURDIR)/bin/faults-report.md
# (Not through scripts/test: its -timeout 30m cannot be raised from GOTESTFLAGS, go test
# keeps the first -timeout it is given.)
test-faults:
	mkdir -p "$(dir $(FAULTS_REPORT))"
	if [[ -z "$${PERSONAS_KAFKA_BROKERS:-}" || -z "$${PERSONAS_REDIS_URL:-}" ]]; then \
		scripts/services up kafka redis; . .services/env; \
	fi; \
	PERSONAS_REQUIRE_SERVICES=1 PERSONAS_FAULTS=full PERSONAS_FAULTS_REPORT="$(FAULTS_REPORT)" \
		nice -n "$${PERSONAS_TEST_NICE:-10}" $(GO) test -race -count=1 -timeout 150m -v \
		-run '^(TestFaults|TestReadinessFollowsDependencies)$$' ./internal/e2e
