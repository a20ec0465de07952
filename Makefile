# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python manage.py runserver -d

test: $(STAMP)
	$(BIN)/python -m pytest

# The long scale-out load test (tests/scaleout): 20,000 requests per server, 5,000 for the
# dev server that forks per request.
.PHONY: loadtest
loadtest: $(STAMP)
	HOOKWATCH_LOADTEST=long $(BIN)/python -m pytest tests/scaleout -q -s

clean:
	rm -rf $(VENV) .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# Side by side with bare Flask, the exporter and exporter+structlog: in-process, loopback,
# scrape and profile (a few minutes); see docs/performance.md. BENCH_ARGS passes options
# (make bench BENCH_ARGS="--no-loopback").
BENCH_ARGS ?=
.PHONY: bench
bench: $(STAMP) requirements-bench.txt
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

# Flask's own test suite (its sdist, downloaded) with Hookwatch(app) on every app it builds,
# against the same suite without it; see tools/flask_suite/run.sh.
.PHONY: flask-suite
flask-suite: $(STAMP)
	PYTHON=$(CURDIR)/$(BIN)/python bash tools/flask_suite/run.sh
