# One command each: `make demo` runs the main job on the sample workbook, `make test` runs
# lint, type checks, the whole test suite and the package build check. Both create .venv on
# first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test live-test lint typecheck package bench bench-large bench-ci template render clean

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
	$(MAKE) package

# The sdist and wheel a release would upload: built in an isolated environment from
# pyproject.toml alone, checked by twine, and refused if setuptools warns of a deprecation
# (a user installing the package would see that banner).
package: $(STAMP)
	rm -rf build/dist
	mkdir -p build
	$(BIN)/python -m build --outdir build/dist . > build/package.log 2>&1 \
		|| { cat build/package.log; exit 1; }
	! grep -i -A3 deprecat build/package.log
	$(BIN)/twine check --strict build/dist/*

# Opt-in: runs against the real Google Sheet named by SHEETS_ESCALATION_LIVE_SHEET (see
# docs/google-sheets.md); skipped when it or the credentials are missing.
live-test: $(STAMP)
	$(BIN)/python -m pytest -m live -rs tests/cli/test_live.py

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run --sizes 1000,10000,100000

# Google's ceiling of 10 million cells (~270,000 rows at this width): well over 6 minutes,
# so not the default.
bench-large: $(STAMP)
	$(BIN)/python -m benchmarks.run --sizes 1000,10000,100000,270000

bench-ci: $(STAMP)
	$(BIN)/python -m benchmarks.run --sizes 1000

# PNG pages of the template, a synced demo workbook and each review export, under
# build/render (LibreOffice headless and poppler's pdftoppm), to check layouts by eye.
render: $(STAMP)
	BIN=$(CURDIR)/$(BIN) sh scripts/render.sh build/render

template: $(STAMP)
	$(BIN)/python -m sheets_escalation.adapters.xlsx.template sheet_template.xlsx

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
