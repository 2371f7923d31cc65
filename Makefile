# Tutela: the two commands a newcomer needs are `make quickstart` and `make test`.

VENV := .venv
# Folders that ruff checks; benchmarks/ may be absent in a trimmed checkout.
LINT_DIRS := $(wildcard src tests benchmarks)
BIN := $(VENV)/bin
PORT ?= 8000
# The interpreter that creates the virtual environment; found on PATH or under pyenv.
PYTHON ?= $(shell scripts/find-python)

.PHONY: venv quickstart test lint typecheck check-all pytest bench bench-transfer lock messages clean-venv

# Reinstall when the lock file changes; the stamp records which lock was installed.
$(BIN)/.installed: requirements/dev.lock pyproject.toml
	@test -n "$(PYTHON)" || { scripts/find-python; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements/dev.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

venv: $(BIN)/.installed

# axe-core for the browser tests' accessibility scans, as pinned in package-lock.json.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

quickstart: $(BIN)/.installed
	$(BIN)/tutela quickstart --port $(PORT)

test: $(BIN)/.installed lint typecheck pytest

lint: $(BIN)/.installed
	$(BIN)/ruff format --check $(LINT_DIRS)
	$(BIN)/ruff check $(LINT_DIRS)

typecheck: $(BIN)/.installed
	PYTHONPATH=. $(BIN)/mypy src

pytest: $(BIN)/.installed node_modules/.package-lock.json
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

# Bytes transferred for the case list and a case page in Chromium (BENCH_ARGS=--throttle adds
# load times on a slow link); writes the "Transfer size" section of BENCHMARKS.md.
bench-transfer: $(BIN)/.installed
	$(BIN)/python benchmarks/transfer_size.py $(BENCH_ARGS)

messages: $(BIN)/.installed
	mkdir -p src/tutela/locale
	cd src/tutela && ../../$(BIN)/django-admin makemessages -l fr -l es -l pt -l ar --no-obsolete && ../../$(BIN)/django-admin compilemessages

# Regenerate the pinned, hashed lock files after changing pyproject.toml.
lock: $(BIN)/.installed
	$(BIN)/pip-compile --quiet --allow-unsafe --strip-extras --generate-hashes -o requirements/base.lock pyproject.toml
	$(BIN)/pip-compile --quiet --allow-unsafe --strip-extras --generate-hashes --extra dev -o requirements/dev.lock pyproject.toml

clean-venv:
	rm -rf $(VENV)
