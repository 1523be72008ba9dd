# Two commands for a new user: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-test

.PHONY: test lint typecheck pytest demo bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

lint: $(STAMP)
	$(PY) scripts/unasync.py --check
	$(PY) -m ruff check muxi_proto muxi_transports muxi muxi_testing tests benchmarks examples docs/_ext scripts

# Rewrite the generated blocking code (muxi_transports/_sync/, muxi_proto/_sync/) from its async
# source (_async/): after editing an _async/ file, run this; `make lint` fails until you do.
.PHONY: unasync
unasync:
	$(PYTHON) scripts/unasync.py

typecheck: $(STAMP)
	$(PY) -m mypy muxi_proto muxi_transports muxi muxi_testing tests/typing examples docs/_ext scripts/unasync.py

pytest: $(STAMP)
	$(PY) -m pytest -q

test: lint typecheck pytest

# The user guide's flows against a local MUXI-compatible server (or yours: see examples/demo.py).
# Needs only the runtime dependencies and trio (the `trio` extra), so a fresh machine is quick.
# `make demo DEMO_ARGS=--deploy` (or MUXI_DEMO_DEPLOY=1) also deploys to a server named by MUXI_SERVER_URL.
DEMO_STAMP := $(VENV)/.installed-demo

$(DEMO_STAMP): $(PY) pyproject.toml
	$(PY) -m pip install --quiet -e '.[trio]'
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(PY) examples/demo.py $(DEMO_ARGS)

# The documentation site (mkdocs.yml): the user guide and the API reference, into site/. Warnings
# fail the build; `make test` builds it too (tests/test_docs_site.py).
DOCS_STAMP := $(VENV)/.installed-docs

$(DOCS_STAMP): $(PY) pyproject.toml
	$(PY) -m pip install --quiet -e '.[docs]'
	touch $(DOCS_STAMP)

.PHONY: docs
docs: $(DOCS_STAMP)
	$(PY) -m mkdocs build --strict

clean:
	rm -rf $(VENV) build dist site *.egg-info .mypy_cache .ruff_cache .hypothesis

BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]'
	touch $(BENCH_STAMP)

# The benchmark suite against the official SDK (its own venv under benchmarks/, created on first use):
# writes benchmarks/results/RESULTS.md and prints it. `make bench BENCH_ARGS=--quick` for a smoke run.
bench: $(BENCH_STAMP)
	$(PY) benchmarks/run_all.py $(BENCH_ARGS)

.PHONY: bench-quick
bench-quick: $(BENCH_STAMP)
	$(PY) benchmarks/run_all.py --quick $(BENCH_ARGS)

# Transport round trips per second, ours against httpx, one local origin server (benchmarks/).
.PHONY: bench-transports
bench-transports: $(BENCH_STAMP)
	$(PY) benchmarks/bench_transports.py --json benchmarks/results/transports.json

# SSE decoding throughput against the official SDK and httpx-sse (creates benchmarks/.venv-official).
.PHONY: bench-sse
bench-sse: $(BENCH_STAMP)
	$(PY) benchmarks/bench_sse.py

# Coverage-guided fuzzing (atheris) of every parser: 8 targets x FUZZ_RUNS inputs (>= 1,000,000 in all).
FUZZ_RUNS ?= 150000
FUZZ_TARGETS := sse streams envelope hmac webhook retry_after bundle http_response
.PHONY: fuzz
fuzz: $(STAMP)
	$(PY) -m pip install --quiet -e '.[fuzz]'
	@total=0; for t in $(FUZZ_TARGETS); do \
		echo -n "$$t: "; $(PY) -m tests.fuzz.run_atheris $$t $(FUZZ_RUNS) 2>&1 | grep -E "^Done|ERROR|Traceback|Error" ; \
		status=$${PIPESTATUS[0]}; [ $$status -eq 0 ] || exit $$status; \
		total=$$((total + $(FUZZ_RUNS))); \
	done; echo "fuzz: $$total inputs over $(words $(FUZZ_TARGETS)) targets, no failures"

# The real-runtime suite (not part of `make test`): a cached venv with muxi-runtime (created only when
# missing or when the pinned version changed), a real formation on 127.0.0.1 with a fake LLM, and
# every formation method on FormationClient and AsyncFormationClient (asyncio and trio).
.PHONY: test-runtime
test-runtime: $(STAMP)
	bash scripts/runtime_env.sh
	$(PY) -m pytest -q tests/runtime

# Record the real runtime's answers to the fidelity scenarios (tests/fidelity/) into
# tests/fixtures/runtime/ (and its OpenAPI document into muxi_testing/recordings/): the local
# server is checked against these in `make test`; `make test-runtime` records again and diffs.
.PHONY: record-runtime
record-runtime: $(STAMP)
	bash scripts/runtime_env.sh
	$(PY) tests/runtime/record.py
