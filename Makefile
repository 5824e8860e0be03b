# The two commands of the README: `make demo` and `make test`. Each sets itself up.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "jiracampaign needs Python >= 3.11; run: make PYTHON=python3.12 ...")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,butler]'
	@touch $(STAMP)

# The main job on the embedded default store (kept under build/demo, so your own store is untouched).
demo: $(STAMP)
	$(BIN)/jiracampaign --set local.path=build/demo/campaigns.sqlite create examples/demo/campaign.yaml --output-dir build/demo/demo-w47

test: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_plan.py
	$(BIN)/python benchmarks/bench_create.py
	$(BIN)/python benchmarks/bench_panda.py
	$(BIN)/python benchmarks/bench_sync.py
	$(BIN)/python benchmarks/bench_startup.py
	$(BIN)/python benchmarks/bench_butler.py

clean:
	rm -rf $(VENV) build campaigns
