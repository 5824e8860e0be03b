# The two commands of the README: `make demo` and `make test`. Each sets itself up.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

# The Rubin middleware (ctrl_bps and its plug-ins, pipe_base) needs Python >= 3.12: it gets its own
# environment. `python3.12` when it runs, else pyenv's newest 3.12 (PYENV_VERSION=3.12.x python3.12).
STACK_VENV  ?= .venv-lsst
STACK_BIN   := $(STACK_VENV)/bin
STACK_STAMP := $(STACK_VENV)/.installed-stamp
PYENV_312   := $(shell pyenv versions --bare 2>/dev/null | grep -E '^3\.12(\.[0-9]+)?$$' | tail -1)
PYTHON312   ?= $(shell python3.12 -c '' >/dev/null 2>&1 && echo python3.12 || \
                 (test -n "$(PYENV_312)" && echo "env PYENV_VERSION=$(PYENV_312) python3.12"))

.PHONY: demo test bench stack clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "jiracampaign needs Python >= 3.11; run: make PYTHON=python3.12 ...")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,butler]'
	@touch $(STAMP)

ZIPFIX      := jiracampaign/sources/bps/stack/zipfix.py

$(STACK_STAMP): stack-requirements.txt $(ZIPFIX)
	@test -n "$(PYTHON312)" || { echo "the Rubin middleware needs Python 3.12: install it, or run make PYTHON312=/path/to/python3.12"; exit 1; }
	@echo "Setting up the Rubin middleware with $(PYTHON312) in $(STACK_VENV) (about a minute)"
	$(PYTHON312) -m venv $(STACK_VENV)
	$(STACK_BIN)/python -m pip install --quiet --upgrade pip
	$(STACK_BIN)/python -m pip install --quiet -r stack-requirements.txt
	@# mend zipfile where this Python has CPython issue 127847 (3.12.0-3.12.8): it breaks reading quantum graphs
	@site=$$($(STACK_BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') && \
	  cp $(ZIPFIX) "$$site/zipfix.py" && echo "import zipfix" > "$$site/jiracampaign-zipfix.pth"
	@touch $(STACK_STAMP)

stack: $(STACK_STAMP)

# The real thing, offline, on the embedded store in build/demo (your own store and config are untouched):
# a toy butler repository, a mock pipeline in two steps with one injected failure, then create ->
# bps submit (Parsl, local site, clustered) -> sync, and the tickets a pilot reads (examples/parsl/demo.py).
# Starts clean each time.
demo: $(STAMP) $(STACK_STAMP)
	@start=$$(date +%s); $(BIN)/python examples/parsl/demo.py --build build/demo --stack $(STACK_VENV) \
		&& echo "make demo: $$(( $$(date +%s) - start )) s in all"

test: $(STAMP) $(STACK_STAMP)
	$(BIN)/lint-imports
	JC_TEST_STACK=$(abspath $(STACK_VENV)) $(BIN)/python -m pytest -q

# Every benchmarks/bench_*.py with its own output, then one table of ratios (benchmarks/all.py)
bench: $(STAMP)
	$(BIN)/python benchmarks/all.py

clean:
	rm -rf $(VENV) $(STACK_VENV) build campaigns
