# Tollgate: the two commands are `make run` and `make test`; everything else is a helper.
# Each bootstraps a pinned uv into .tools/ and the locked environment into .venv/.

PYTHON ?= python3
UV := .tools/bin/uv
export UV_PYTHON_PREFERENCE := only-system

.PHONY: run test env lint typecheck pytest fmt bench lock clean

env:
	@$(PYTHON) scripts/bootstrap_uv.py
	@$(UV) sync --locked --quiet --python $(PYTHON)

run: env
	@$(UV) run --no-sync python scripts/dev.py

test: env lint typecheck pytest

lint:
	$(UV) run --no-sync ruff check services libs tests scripts bench
	$(UV) run --no-sync ruff format --check services libs tests scripts bench

typecheck:
	$(UV) run --no-sync mypy services libs
	$(UV) run --no-sync lint-imports --no-cache

# One worker per core (pytest-xdist); each worker makes its own SQLite file and PostgreSQL database,
# and a test file stays on one worker so its module fixtures (running stacks) start once.
PYTEST_WORKERS ?= auto
pytest:
	$(UV) run --no-sync pytest -n $(PYTEST_WORKERS) --dist loadfile

fmt: env
	$(UV) run --no-sync ruff format services libs tests scripts bench
	$(UV) run --no-sync ruff check --fix services libs tests scripts bench

# Benchmarks need Debian's wrk (apt-get install wrk) and write their figures into README.md.
bench: env
	$(UV) run --no-sync python -m bench.webhooks
	$(UV) run --no-sync python -m bench.deliveries
	$(UV) run --no-sync python -m bench.tokens
	$(UV) run --no-sync python -m bench.access_check
	$(UV) run --no-sync python -m bench.gateway
	$(UV) run --no-sync python -m bench.front
	$(UV) run --no-sync python -m bench.push

lock:
	@$(PYTHON) scripts/bootstrap_uv.py
	$(UV) lock

clean:
	rm -rf .tools .venv .mypy_cache .ruff_cache .pytest_cache
