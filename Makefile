# Two commands do everything on a fresh machine:
#   make reproduce   # the main job: the full Thompson-sampling reproduction (local executor), then its report
#   make test        # every committed run record verified against its checksums, then the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install peers reproduce test report slurm-up slurm-down clean-venv

# dm-control is built from its source distribution (--no-binary dm-control): its build generates its MuJoCo bindings
# from the installed mujoco's headers, and PIP_CONSTRAINT holds that build's mujoco to requirements.lock's 4.0.0 (the
# published wheel's bindings are MuJoCo 3.17's and load no task with mujoco 4.0.0; common/rl/dmc.py checks the match).
PIP_INSTALL := PIP_CONSTRAINT=$(CURDIR)/requirements.lock $(BIN)/python -m pip install --quiet \
               --disable-pip-version-check --no-binary dm-control -c requirements.lock

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The optional peers that `repro bench` times next to this repository's loops (stable-baselines3 and sb3-contrib,
# pinned); the default install and `make test` do not need them (their tests skip without them).
peers: $(STAMP)
	$(PIP_INSTALL) -e '.[peers]'

reproduce: $(STAMP)
	$(BIN)/repro sweep russo2017_thompson all --budget paper --jobs 2
	$(BIN)/repro report --all

report: $(STAMP)
	$(BIN)/repro report --all

# The suite includes tests against a real single-node Slurm cluster (slurm/local/): it is started here if it is
# down (installing Debian's packages needs root) and stopped afterwards; without it those tests skip.
test: $(STAMP)
	$(BIN)/repro verify
	bash slurm/local/with-cluster.sh $(BIN)/python -m pytest -q

slurm-up:
	bash slurm/local/up.sh

slurm-down:
	bash slurm/local/down.sh

clean-venv:
	rm -rf $(VENV)
