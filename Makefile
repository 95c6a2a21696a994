# One command each: `make demo` runs the main job on the sample workbook, `make test` runs
# lint, type checks and the whole test suite. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck bench bench-ci template render clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/sheets-escalation demo

lint: $(STAMP)
	$(BIN)/ruff check sheets_escalation tests benchmarks
	$(BIN)/mypy sheets_escalation

test: lint
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run --sizes 1000,10000,100000

bench-ci: $(STAMP)
	$(BIN)/python -m benchmarks.run --sizes 1000

# PNG pages of the template, a synced demo workbook and each review export, under
# build/render (LibreOffice headless and poppler's pdftoppm), to check layouts by eye.
render: $(STAMP)
	BIN=$(CURDIR)/$(BIN) sh scripts/render.sh build/render

template: $(STAMP)
	$(BIN)/python -m sheets_escalation.template sheet_template.xlsx

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
