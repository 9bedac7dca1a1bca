# Two commands do everything on a fresh machine:
#   make reproduce   # the main job: the full Thompson-sampling reproduction (local executor), then its report
#   make test        # every committed run record verified against its checksums, then the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install peers peers-offline reproduce test report slurm-up slurm-down clean-venv

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

# d3rlpy's CQL, the peer of `repro bench kumar2020_cql`: d3rlpy 2.8.1 pins gymnasium 1.0.0 (this repository: 1.4.0), so it
# is installed apart, without its dependencies' resolution, into .peers/d3rlpy, and put on PYTHONPATH for the bench only:
#   PYTHONPATH=$$PWD:$$PWD/.peers/d3rlpy .venv/bin/repro bench kumar2020_cql table1 --variant Hopper-v5__medium__cql_h
peers-offline: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --target .peers/d3rlpy --no-deps \
	    d3rlpy==2.8.1 structlog==26.1.0 dataclasses-json==0.6.7 marshmallow==4.4.0 typing-inspect==0.9.0 \
	    mypy-extensions==1.2.0 colorama==0.4.6 h5py==3.16.0 click==8.5.1 gym==0.26.2 gym-notices==0.1.0 \
	    scikit-learn==1.9.1 narwhals==2.29.0 joblib==1.6.0 threadpoolctl==3.8.0

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
