# Strata: build, run and test.
#
#   make run               build the release binary and start it (ARGS="--port 7000 ...")
#   make test              unit tests, then the Python integration suite
#   make chaos             fault-injection soak of a ring of nodes (CHAOS_SECONDS of faults per policy)
#   make bench             benchmarks (SCENARIO=name for one)
#   make microbench        micro-benchmarks in Benchmarks/ (FILTER=regex for some)
#   make fuzz              libFuzzer targets in Fuzz/, FUZZ_SECONDS each (FUZZ_TARGETS=... for some)
#   make sanitize          unit and integration tests on ThreadSanitizer and AddressSanitizer builds
#
# Variables: PYTHON (python3), SWIFT (swift), ARGS, SCENARIO, PYTEST_ARGS, FILTER, CHAOS_SECONDS.

PYTHON ?= python3
SWIFT ?= swift
ARGS ?=
SCENARIO ?=
PYTEST_ARGS ?= -q

RELEASE_BIN := .build/release/strata-server
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := libsqlite3-dev redis-tools redis-server nutcracker liblua5.1-0-dev lua-cjson-dev lua-bitop-dev prometheus-redis-exporter \
	ruby-redis php-cli php-redis
# rq 1.11.1: the last rq that keeps job results in the job's hash (later ones use streams).
PIP_PACKAGES := redis pytest rq==1.11.1 django==5.2.20 django-redis==7.0.0

.PHONY: all deps build release run test unit integration chaos bench microbench fuzz sanitize clean

all: build

# Installs only what is missing, so a second run does nothing.
deps:
	@missing=""; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	command -v redis-cli >/dev/null 2>&1 || missing="$$missing redis-cli"; \
	{ command -v nutcracker >/dev/null 2>&1 || [ -x /usr/sbin/nutcracker ]; } || missing="$$missing nutcracker"; \
	[ -f /usr/include/sqlite3.h ] || missing="$$missing sqlite3.h"; \
	[ -f /usr/include/lua5.1/lua.h ] || missing="$$missing lua5.1/lua.h"; \
	[ -f /usr/include/lua5.1/lua-cjson.h ] || missing="$$missing lua5.1/lua-cjson.h"; \
	[ -f /usr/include/lua5.1/lua-bitop.h ] || missing="$$missing lua5.1/lua-bitop.h"; \
	command -v prometheus-redis-exporter >/dev/null 2>&1 || missing="$$missing prometheus-redis-exporter"; \
	ruby -e 'require "redis"' >/dev/null 2>&1 || missing="$$missing ruby-redis"; \
	php -r 'exit(extension_loaded("redis") ? 0 : 1);' >/dev/null 2>&1 || missing="$$missing php-redis"; \
	if [ -n "$$missing" ]; then \
		echo "deps: missing$$missing; installing $(APT_PACKAGES)"; \
		$(SUDO) apt-get update && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y $(APT_PACKAGES); \
	fi
	@if ! $(PYTHON) -c 'import redis, pytest, rq, django, django_redis, sys; sys.exit(rq.VERSION != "1.11.1")' >/dev/null 2>&1; then \
		echo "deps: installing $(PIP_PACKAGES) with pip"; \
		$(PYTHON) -m pip install --quiet $(PIP_PACKAGES) 2>/dev/null || \
		$(PYTHON) -m pip install --quiet --break-system-packages $(PIP_PACKAGES); \
	fi

# The build has no warnings, and stays that way: any warning fails it (as in SwiftNIO's CI).
WERROR := -Xswiftc -warnings-as-errors

build:
	$(SWIFT) build $(WERROR)

# Release builds skip Swift's run-time exclusivity checks (swift_beginAccess on class properties),
# in Strata and in SwiftNIO alike: measured, that is 20% less server CPU per SET with L3 off
# (docs/architecture.md, "Build"). Debug builds, which run the unit tests, keep the checks.
RELEASE_FLAGS := -Xswiftc -enforce-exclusivity=unchecked $(WERROR)

release:
	$(SWIFT) build -c release --product strata-server $(RELEASE_FLAGS)

run: release
	exec $(RELEASE_BIN) $(ARGS)

unit:
	$(SWIFT) build --build-tests $(WERROR)
	$(SWIFT) test $(WERROR)

integration: deps release
	$(PYTHON) -m pytest $(PYTEST_ARGS) Tests/integration

test: deps
	$(SWIFT) build --build-tests $(WERROR)
	$(SWIFT) test $(WERROR)
	$(MAKE) release
	$(PYTHON) -m pytest $(PYTEST_ARGS) Tests/integration

# Tests/integration/test_ring_faults.py with CHAOS_SECONDS (default 300) of faults per l3-fsync
# policy instead of 20: kill -9, SIGSTOP, restarts, nodes joining and leaving a ring under load,
# then every key checked. Prints one report line per policy; STRATA_CHAOS_SEED=n replays a schedule.
CHAOS_SECONDS ?= 300
chaos: deps release
	STRATA_CHAOS_SECONDS=$(CHAOS_SECONDS) $(PYTHON) -m pytest $(PYTEST_ARGS) -s Tests/integration/test_ring_faults.py

bench: deps release
	$(PYTHON) bench/run.py $(if $(SCENARIO),--scenario $(SCENARIO))

clean:
	$(SWIFT) package clean
	rm -rf bench-out Tests/integration/.pytest_cache
	find Tests/integration -name __pycache__ -type d -prune -exec rm -rf {} +

# Micro-benchmarks (ordo-one/benchmark): time and mallocs per operation of RESP decode/encode,
# keyspace get/set and the pipelined GET/SET path. A separate package with its own .build, so
# neither `make build` nor `make test` builds it. Figures marked * are per operation.
FILTER ?=
microbench:
	cd Benchmarks && $(SWIFT) package --disable-sandbox benchmark --no-progress $(if $(FILTER),--filter '$(FILTER)')

# libFuzzer targets (Fuzz/, a package of its own): the request parser (RESP and inline), the
# reply scanner that reads peers' replies, configuration files, and the glob matcher. Built with
# -sanitize=fuzzer,address and linked with lld (gold fails on ASan's objects). Each runs for
# FUZZ_SECONDS on a working corpus in Fuzz/.corpus seeded from Fuzz/Corpus; a crash leaves its
# input in Fuzz/crashes/ and fails the target. Prints executions and coverage per target.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= RequestParser ReplyScanner Config Glob
fuzz:
	printf '{"schemaVersion": "1.0", "linker": {"path": "%s"}}' "$$(dirname "$$(readlink -f "$$(command -v $(SWIFT))")")/ld.lld" > Fuzz/.toolset.json
	cd Fuzz && $(SWIFT) build -c release -Xswiftc -sanitize=fuzzer,address --toolset .toolset.json
	@mkdir -p Fuzz/crashes; status=0; for t in $(FUZZ_TARGETS); do \
		corpus=Fuzz/.corpus/$$t; mkdir -p $$corpus; \
		seed=Fuzz/Corpus/$$(echo $$t | sed -e 's/\([a-z]\)\([A-Z]\)/\1-\2/g' | tr A-Z a-z); \
		echo "== Fuzz$$t, $(FUZZ_SECONDS) s, seeds $$seed"; \
		SWIFT_BACKTRACE=enable=no Fuzz/.build/release/Fuzz$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
			-artifact_prefix=Fuzz/crashes/$$t- -print_final_stats=1 $$corpus $$seed > Fuzz/.corpus/$$t.log 2>&1 || status=1; \
		grep -E "^#[0-9]+.*(DONE|INITED)|stat::number_of_executed_units|SUMMARY|precondition|Fatal" Fuzz/.corpus/$$t.log | tail -4; \
	done; exit $$status

# The unit tests and the integration suite on a ThreadSanitizer build, then on an AddressSanitizer
# build, each in a build directory of its own. halt_on_error: a report stops the process (the
# server, or the unit-test runner), so the test that caused it fails instead of passing with a
# warning in a log. detect_deadlocks=0: a keyspace-wide command holds all 256 shard locks (in
# index order), and TSan's deadlock detector stops with a CHECK failure beyond 64 held locks.
sanitize: deps
	TSAN_OPTIONS="halt_on_error=1 detect_deadlocks=0 suppressions=$(CURDIR)/Tests/tsan-suppressions.txt" $(SWIFT) test --sanitize=thread --scratch-path .build-tsan
	$(SWIFT) build -c release --product strata-server --sanitize=thread --scratch-path .build-tsan
	TSAN_OPTIONS="halt_on_error=1 detect_deadlocks=0 suppressions=$(CURDIR)/Tests/tsan-suppressions.txt" STRATA_SANITIZED=1 STRATA_BIN=.build-tsan/release/strata-server $(PYTHON) -m pytest $(PYTEST_ARGS) Tests/integration
	ASAN_OPTIONS=halt_on_error=1:detect_leaks=0 $(SWIFT) test --sanitize=address --scratch-path .build-asan
	$(SWIFT) build -c release --product strata-server --sanitize=address --scratch-path .build-asan
	ASAN_OPTIONS=halt_on_error=1:detect_leaks=0 STRATA_SANITIZED=1 STRATA_BIN=.build-asan/release/strata-server $(PYTHON) -m pytest $(PYTEST_ARGS) Tests/integration
