# Two commands do everything on a fresh machine:
#   make reproduce   # the main job: the full Thompson-sampling reproduction (local executor), then its report
#   make test        # the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install reproduce test report clean-venv

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

reproduce: $(STAMP)
	$(BIN)/repro sweep russo2017_thompson all --budget paper --jobs 2
	$(BIN)/repro report --all

report: $(STAMP)
	$(BIN)/repro report --all

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean-venv:
	rm -rf $(VENV)
