# One environment: .venv/ at the repository root, installed from the hashed export of poetry.lock.
PYTHON ?= python3
POETRY ?= $(shell command -v poetry 2>/dev/null || echo ../shared/tools/poetry)

.PHONY: install demo test test-fast worker api server stop status lock bench eval chaos clean help assets record-histories

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

install:  ## create .venv and install exactly what poetry.lock pins
	$(PYTHON) tools/dev.py install

demo:  ## the main job: a full auto-approved run on the default fleet (local Temporal starts itself)
	$(PYTHON) tools/dev.py demo

test:  ## the whole test suite (starts its own Temporal servers)
	$(PYTHON) tools/dev.py test

test-fast:  ## the unit layer only (pure core, store, actions, settings, lint; no Temporal server): under a minute
	$(PYTHON) tools/dev.py test-fast

worker:  ## run a worker in the foreground (start more for more throughput)
	$(PYTHON) tools/dev.py worker

api:  ## serve the Alertmanager receiver and HTTP API in the foreground (API_HOST:API_PORT)
	$(PYTHON) tools/dev.py api

server:  ## start the embedded dev server and background worker now
	$(PYTHON) tools/dev.py server

stop:  ## stop the embedded dev server and background worker started by the scripts
	$(PYTHON) tools/dev.py stop

status:  ## is the embedded server / worker running?
	$(PYTHON) tools/dev.py status

lock:  ## re-lock after editing pyproject.toml, and re-export the hashed requirements
	$(POETRY) lock
	$(POETRY) export --with dev -f requirements.txt -o requirements-dev.lock.txt
	$(POETRY) export -f requirements.txt -o requirements.lock.txt

clean:  ## remove reports and local Temporal state (stops the servers first)
	-$(MAKE) stop
	rm -rf reports .temporal

bench:  ## benchmarks (not part of the tests): figures in bench/results/, table on stdout (~1 h; QUICK=1: ~10 min)
	$(PYTHON) tools/dev.py bench $(if $(QUICK),--quick,)

eval:  ## the labelled evaluation of the rules' decisions (not a test): precision/recall table, bench/results/evaluation.json
	$(PYTHON) tools/dev.py eval

chaos:  ## crash/restart/fault-injection trials (TRIALS=20): prints the table
	$(PYTHON) tools/dev.py chaos --trials $(or $(TRIALS),20)

assets:  ## regenerate assets/ (DAPER diagram, example report from a real run)
	$(PYTHON) tools/dev.py assets

record-histories:  ## re-record the workflow histories the replay tests use
	$(PYTHON) tools/dev.py record-histories
