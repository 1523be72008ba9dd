# Two commands for a new user: `make demo` and `make test`.
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
	$(PY) -m ruff check muxi_proto muxi_transports muxi tests benchmarks examples

typecheck: $(STAMP)
	$(PY) -m mypy muxi_proto muxi_transports muxi tests/typing

pytest: $(STAMP)
	$(PY) -m pytest -q

test: lint typecheck pytest

clean:
	rm -rf $(VENV) build dist *.egg-info .mypy_cache .ruff_cache .hypothesis

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
