# tthc-gateway: the two commands a newcomer needs are `make run` and `make test`.
# Both create the virtual environment (.venv) and install the project when needed.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEPS   := $(VENV)/.locked

# Supply chain (docs/deployment.md): every third-party package is installed from a lock
# file that pins its version and the sha256 of each of its files; the project itself is
# installed on top with --no-deps. `make lock` refreshes the locks, `make audit` checks them.
#   requirements.lock        runtime dependencies: what the Docker image runs
#   requirements-build.lock  the build backend named in pyproject's [build-system]
#   requirements-dev.lock    runtime + build + the dev extra: what `make` installs
LOCK       := requirements.lock
LOCK_BUILD := requirements-build.lock
LOCK_DEV   := requirements-dev.lock
LOCK_ARGS  := --quiet --generate-hashes --universal --python-version 3.11 --custom-compile-command 'make lock'
# Known vulnerabilities accepted for now, each as `--ignore-vuln ID` with its reason beside
# it; none at present. Never drop a finding here without saying why.
AUDIT_IGNORE :=

.PHONY: run test lint typecheck unit bench chaos clean lock lock-upgrade audit

$(DEPS): $(LOCK_DEV)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "tthc-gateway needs Python 3.11 (set PYTHON=/path/to/python3.11)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK_DEV)
	touch $(DEPS)

$(STAMP): $(DEPS) pyproject.toml
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@$(BIN)/python -m pip check || { echo "the lock files do not satisfy pyproject.toml: run 'make lock'" >&2; exit 1; }
	touch $(STAMP)

# Re-resolve after editing pyproject.toml, keeping every pin that still fits;
# `make lock-upgrade` moves every pin to the newest release the ranges allow, and
# `make lock UPGRADE='--upgrade-package NAME'` only that package.
lock: $(DEPS)
	$(BIN)/uv pip compile $(LOCK_ARGS) $(UPGRADE) pyproject.toml -o $(LOCK)
	$(BIN)/python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")' \
	  | $(BIN)/uv pip compile $(LOCK_ARGS) $(UPGRADE) - -o $(LOCK_BUILD)
	$(BIN)/uv pip compile $(LOCK_ARGS) $(UPGRADE) pyproject.toml $(LOCK_BUILD) --extra dev \
	  -c $(LOCK) -o $(LOCK_DEV)

lock-upgrade:
	$(MAKE) lock UPGRADE=--upgrade

# Known vulnerabilities in the locked set, from PyPI's per-release JSON API; --strict
# fails when a package could not be checked, rather than passing it unchecked.
audit: $(DEPS)
	$(BIN)/pip-audit --strict --disable-pip --require-hashes --progress-spinner off \
	  $(AUDIT_IGNORE) -r $(LOCK_DEV) -r $(LOCK_BUILD)

run: $(STAMP)
	$(BIN)/tthc-gateway run

lint: $(STAMP)
	$(BIN)/ruff check gateway adapters mocks tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) lint typecheck
	$(BIN)/pytest

unit: $(STAMP)
	$(BIN)/pytest tests/unit

bench: $(STAMP)
	$(BIN)/python bench/messaging.py
	$(BIN)/python bench/api.py

chaos: $(STAMP)
	$(BIN)/python bench/chaos.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
