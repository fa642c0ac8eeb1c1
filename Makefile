# Two commands on a fresh machine (Python 3.11, pip, make):
#   make run    - builds .venv, runs the monthly job on data/samples (SQLite warehouse, no Prefect server)
#   make test   - builds .venv with the test extras and runs the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: run test bench samples lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# an older .venv may hold the pure-Python OpenCC port, which also installs a module named opencc
	$(BIN)/pip uninstall -q -y opencc-python-reimplemented 2>/dev/null || true
	$(BIN)/pip install -q -e '.[dev,dask]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/datapool run --input data/samples --out out

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/datapool bench

samples: $(STAMP)
	$(BIN)/datapool samples --enterprises 5000 --months 2025-05,2025-06 --out data/samples

lint: $(STAMP)
	$(BIN)/ruff check datapool connectors flows matching schemas visits tests
	$(BIN)/python tests/typecheck.py   # mypy --strict over the package as it imports

clean:
	rm -rf $(VENV) out .pytest_cache
