# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-fast scenarios clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first and pinned: this pin is the CPU build a CI machine holds on disk; unpinned,
	# the torch extra would fetch a CUDA build of several GB.
	$(PY) -m pip install --quiet "torch==2.13.0"
	# constraints.txt: the exact versions the figures were measured with (see its header)
	$(PY) -m pip install --quiet -c constraints.txt -e ".[test,dask,jax,torch]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/plateau-doctor demo

test: $(STAMP)
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

scenarios: $(STAMP)
	$(PY) harness/scenarios.py

clean:
	rm -rf results .pytest_cache

# ---- Prefect server, work pool, deployments, worker (see README "Deployments") ----
# Only these targets talk to a server; `make demo` and `make test` use embedded Prefect.
PREFECT_PORT ?= 4200
SERVER_TARGETS := server pool deploy worker run-deployment
$(SERVER_TARGETS): export PREFECT_API_URL ?= http://127.0.0.1:$(PREFECT_PORT)/api
$(SERVER_TARGETS): export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
$(SERVER_TARGETS): export PREFECT_LOGGING_EXTRA_LOGGERS ?= plateau_doctor

.PHONY: $(SERVER_TARGETS)

server: $(STAMP)
	$(VENV)/bin/prefect server start --host 127.0.0.1 --port $(PREFECT_PORT)

pool: $(STAMP)
	$(VENV)/bin/prefect work-pool inspect local-process >/dev/null 2>&1 || \
		$(VENV)/bin/prefect work-pool create local-process --type process

deploy: pool
	$(VENV)/bin/prefect deploy --all --no-prompt

worker: $(STAMP)
	$(VENV)/bin/prefect worker start --pool local-process

run-deployment: $(STAMP)
	$(VENV)/bin/prefect deployment run 'plateau-doctor/demo' --watch
