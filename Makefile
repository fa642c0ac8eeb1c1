# Two commands on a fresh machine (Python 3.11, pip, make):
#   make run    - builds .venv, runs the monthly job on data/samples (SQLite warehouse, no Prefect server)
#   make test   - builds .venv with the test extras and runs the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: run test bench samples lint clean lock

# Dependencies come from requirements.lock (exact versions with hashes, made by `make lock`);
# the package itself is installed on top without resolving anything again.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# an older .venv may hold the pure-Python OpenCC port, which also installs a module named opencc
	$(BIN)/pip uninstall -q -y opencc-python-reimplemented 2>/dev/null || true
	$(BIN)/pip install -q --require-hashes -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

# Re-resolve the lock after changing pyproject.toml's dependencies (uv, from the package index;
# add `-c constraints.txt` to keep the versions a tested environment has).
lock:
	test -x $(BIN)/pip || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra dask --generate-hashes \
	  --universal --python-version 3.11 --no-header -o requirements.lock

# The bundled samples are hashed with the documented public test key (datapool.privacy.TEST_KEY):
# a run needs a key, and this one protects nothing. Real exports need DATAPOOL_HMAC_KEY set.
run: $(STAMP)
	@echo "make run: the samples use the public test key DATAPOOL_HMAC_KEY=datapool-public-test-key"
	DATAPOOL_HMAC_KEY=datapool-public-test-key $(BIN)/datapool run --input data/samples --out out

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
