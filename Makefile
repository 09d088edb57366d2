# The two commands of the README: `make demo` and `make test`. Both set up everything they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test lint typecheck layers unit install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	bash scripts/system-deps.sh --runtime
	$(BIN)/alianza demo run

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: $(STAMP)
	$(BIN)/mypy

layers: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/deptry src

# Two workers (the machine's two cores); each test file stays on one worker so module fixtures
# (running nodes, a browser) are started once.
unit: $(STAMP)
	$(BIN)/pytest -n 2 --dist loadfile

test: $(STAMP)
	bash scripts/system-deps.sh
	$(MAKE) --no-print-directory lint typecheck layers unit

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache
