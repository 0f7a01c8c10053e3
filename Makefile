# Two commands: `make demo` runs the main job, `make test` installs everything and runs the tests.
# Each creates .venv if it is missing and installs the package with its extras.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench install clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# torch==2.13.0 is installed first and on its own: pip finds the CPU build locally,
# and nothing later may pull a newer (CUDA) build.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet "torch==2.13.0"
	$(PY) -m pip install --quiet -e ".[test,bench,demo]"
	touch $(STAMP)

install: $(STAMP)

# the demo trains the band model on the shipped real speech and scores it at 0 dB input on the
# real unseen speakers and the two synthetic sets; its figure needs matplotlib (the `demo` extra)
demo: $(STAMP)
	$(VENV)/bin/jaxspec demo --config jaxspec/enhance/configs/band_real.json --snrs 0

test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadfile

bench: $(STAMP)
	$(PY) -m benchmarks --cores 1

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
