# recdrift: every target builds its own virtualenv from pyproject.toml, so a fresh
# clone needs nothing but Python >= 3.10.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= runs/quickstart

.PHONY: demo test test-fast bench data clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## demo: build .venv, run the quickstart scenario (full pipeline vs baselines), write results and the HTML report
demo: $(STAMP)
	$(BIN)/recdrift run scenarios/quickstart.toml --recommenders full,cf,popularity,random,oracle --seeds 3 --out $(OUT)
	$(BIN)/recdrift report $(OUT)
	@echo "report: $(OUT)/report/report.html"

## test: build .venv and run the whole suite, slow tests included (what CI runs)
test: $(STAMP)
	$(BIN)/python -m pytest

## test-fast: the inner loop, skipping tests marked slow
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -x -q

## data: fetch MovieLens-100K into ~/.cache/recdrift (RECDRIFT_DATA) from the RecBole wheel; nothing is committed
data: $(STAMP)
	$(BIN)/recdrift data fetch ml-100k

## bench: print seconds per iteration and peak memory for the named sizes
bench: $(STAMP)
	$(BIN)/python benchmarks/scale.py

clean:
	rm -rf $(VENV) runs .pytest_cache .hypothesis
