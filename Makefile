# Tessera: `make run` installs everything and serves on http://127.0.0.1:8000; `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP_CACHE_DIR ?= $(HOME)/.cache/pip
export PIP_CACHE_DIR
# llama-cpp-python has no binary wheel: pip builds it once (~5 min on 2 cores) and caches the wheel.
# A portable x86-64 build (AVX2/FMA, no -march=native), without the multimodal tools.
CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
export CMAKE_ARGS

.PHONY: run install migrate test test-fast lint format typecheck bench clean

run: install .env migrate  ## install, migrate, create the demo tenant, serve web + worker
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) manage.py bootstrap_demo
	$(PY) manage.py serve

install: $(VENV)/.installed  ## a virtual environment with every pinned requirement

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Tessera needs Python 3.11 (set PYTHON=python3.11)")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip==25.3
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

.env:  ## a local secret key, made once; real environment variables still win
	@$(PY) -c 'import secrets; print(f"SECRET_KEY={secrets.token_urlsafe(50)}")' > .env
	@echo "Wrote .env with a new SECRET_KEY (see .env.example for every setting)."

migrate: install .env
	$(PY) manage.py migrate --noinput

test: install  ## the whole suite (real models, real worker, browser where Chromium is installed)
	@$(VENV)/bin/pytest $(PYTEST_ARGS); status=$$?; \
	  if [ $$status -eq 5 ]; then echo "pytest ran no tests: that is a failure"; exit 1; fi; exit $$status

test-fast: install  ## skip the slow tests (real models, worker processes, browser)
	$(VENV)/bin/pytest -m "not slow and not browser"

lint: install  ## ruff (lint + format check) and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The realistic sets behind docs/benchmarks.md's first section (a set whose folder is missing is
# skipped): each answered by Tessera and by the naive LangChain recipe with the same model, in one run.
BENCH_SETS ?= ../shared/bench/handbook_18f bench/debian_handbook
BENCH_OUT ?= var/bench

bench: install  ## the realistic answer figures with the naive baseline (~50 + 30 min on 2 cores)
	@mkdir -p $(BENCH_OUT)
	@for set in $(BENCH_SETS); do \
	  if [ ! -d "$$set" ]; then echo "skipped $$set (no such folder)"; continue; fi; \
	  name=$$(basename $$set); echo "== $$name"; \
	  SECRET_KEY=bench-only HF_HUB_OFFLINE=1 TESSERA_DATA_DIR=$(BENCH_OUT)/data LOG_LEVEL=WARNING \
	    $(PY) manage.py evaluate --data $$set --answers --baseline naive \
	    --predictions $(BENCH_OUT)/$$name.predictions.jsonl --json $(BENCH_OUT)/$$name.json || exit 1; \
	done

clean:
	rm -rf $(VENV) var/test .mypy_cache .ruff_cache .pytest_cache
