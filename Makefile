# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) -m keraszoo.recipes.train gaussian_vae_digits --workdir runs/demo --export-dir runs/exports
	$(PY) -m keraszoo.viz smoothing --out runs/demo/pictures

test: $(STAMP)
	$(PY) -m pytest -n 2 -q tests

lint: $(STAMP)
	$(VENV)/bin/ruff check keraszoo recipes tests benchmarks
	$(VENV)/bin/ruff format --check keraszoo recipes tests benchmarks

clean:
	rm -rf $(VENV) runs
