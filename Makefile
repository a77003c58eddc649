# Shortcuts; each target is one command you can also run by hand from .venv.
PY ?= .venv/bin/python

.PHONY: test test-fast lint reliability bench

test:            ## the README's test command (PostgreSQL cases need ADLIB_TEST_PG_URL)
	$(PY) -m pytest

test-fast:       ## the inner loop: no PostgreSQL, no subprocess or daemon (CI runs everything)
	$(PY) -m pytest -q -m "not postgres and not subprocess"

lint:            ## ruff, the layering contracts ([tool.importlinter]), then mypy ([tool.mypy])
	$(PY) -m ruff check . && $(PY) -m ruff format --check . && .venv/bin/lint-imports && $(PY) -m mypy

reliability:     ## the full fault matrix (20 kill -9 trials per source and engine); rewrites docs/reliability.md
	$(PY) benchmarks/reliability.py --full

bench:           ## throughput and memory against same-run baselines
	$(PY) benchmarks/meta_ingest.py
	$(PY) benchmarks/export.py
	$(PY) benchmarks/google_ingest.py
	$(PY) benchmarks/actors.py
	$(PY) benchmarks/report.py
	$(PY) benchmarks/snap_ingest.py
