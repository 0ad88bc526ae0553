# `make run` and `make test` set everything up themselves on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test cleanup benchmark clean

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[server,monitor,test]'
	touch $(STAMP)

run: install
	$(BIN)/python wsgi.py

test: install
	$(BIN)/python -m pytest

# Remove jobs, outputs and status files older than AGE (e.g. 12h, 7d).
AGE ?= 7d
cleanup: install
	$(BIN)/python wsgi.py cleanup --older-than $(AGE)

benchmark: install
	$(BIN)/python benchmarks/bench_jpeg2tiff.py

clean:
	rm -rf $(VENV) var build *.egg-info
