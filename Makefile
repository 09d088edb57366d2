# The two commands of the README: `make demo` and `make test`. Both set up everything they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

BENCH  := .venv-bench
BBIN   := $(BENCH)/bin
BSTAMP := $(BENCH)/.installed-stamp

.PHONY: demo test lint typecheck layers unit install clean bench bench-quick

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

# Benchmarks run the peers side by side in their own environment (never the project's dependencies).
$(BSTAMP): pyproject.toml benchmarks/requirements.txt
	$(PYTHON) -m venv $(BENCH)
	$(BBIN)/pip install --quiet --upgrade pip
	$(BBIN)/pip install --quiet -e '.[spark]' -r benchmarks/requirements.txt
	$(BBIN)/pip install --quiet --no-deps 'clkhash>=0.18,<0.19'
	touch $(BSTAMP)

bench: $(STAMP) $(BSTAMP)
	$(BBIN)/python benchmarks/federation/bench.py
	$(BBIN)/python benchmarks/matching/er_bench.py --scale
	$(BBIN)/python benchmarks/matching/private_bench.py
	$(BBIN)/python benchmarks/matching/screening_bench.py
	$(BBIN)/python benchmarks/combine.py

bench-quick: $(STAMP) $(BSTAMP)
	$(BBIN)/python benchmarks/federation/bench.py --quick
	$(BBIN)/python benchmarks/matching/er_bench.py --quick --only alianza,splink,recordlinkage-logistic --output benchmarks/results/matching_er-quick.json
	$(BBIN)/python benchmarks/matching/private_bench.py --quick --output benchmarks/results/matching_private-quick.json
	$(BBIN)/python benchmarks/combine.py --quick

clean:
	rm -rf $(VENV) $(BENCH) .demo .pytest_cache .mypy_cache .ruff_cache
