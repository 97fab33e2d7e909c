# One environment: .venv/ at the repository root, installed from the hashed export of poetry.lock.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-from-lock
POETRY ?= $(shell command -v poetry 2>/dev/null || echo ../shared/tools/poetry)

.PHONY: install demo test worker server stop status lock bench chaos clean help assets record-histories

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): poetry.lock requirements-dev.lock.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.lock.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

install: $(STAMP)  ## create .venv and install exactly what poetry.lock pins

demo: install  ## the main job: a full auto-approved run on the default fleet (local Temporal starts itself)
	$(PY) run_monitoring_agent.py --reset-data --auto-approve

test: install  ## the whole test suite (starts its own Temporal servers)
	$(PY) -m pytest

worker: install  ## run a worker in the foreground (start more for more throughput)
	$(PY) -m maintenance_agent.worker

server: install  ## start the embedded dev server and background worker now
	$(PY) -m maintenance_agent.embedded start

stop:  ## stop the embedded dev server and background worker started by the scripts
	@test -x $(PY) && $(PY) -m maintenance_agent.embedded stop || echo "nothing installed, nothing to stop"

status: install  ## is the embedded server / worker running?
	$(PY) -m maintenance_agent.embedded status

lock:  ## re-lock after editing pyproject.toml, and re-export the hashed requirements
	$(POETRY) lock
	$(POETRY) export --with dev -f requirements.txt -o requirements-dev.lock.txt
	$(POETRY) export -f requirements.txt -o requirements.lock.txt

clean:  ## remove reports and local Temporal state (stops the servers first)
	-$(MAKE) stop
	rm -rf reports .temporal

bench: install  ## benchmarks (not part of the tests): figures in bench/results/, table on stdout (~1 h; QUICK=1: ~10 min)
	$(PY) bench/run_all.py $(if $(QUICK),--quick,)

chaos: install  ## crash/restart/fault-injection trials (TRIALS=20): prints the table
	$(PY) tests/chaos.py --trials $(or $(TRIALS),20)

assets: install  ## regenerate assets/ (DAPER diagram, example report from a real run)
	$(PY) tools/make_assets.py

record-histories: install  ## re-record the workflow histories the replay tests use
	$(PY) tests/record_histories.py
