# Parcours: `make run` starts the whole system on this machine, `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-unit test-integration test-e2e test-reliability soak lint fmt clean system-deps bench bench-quick install messages screenshots

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/parcours up

test: $(STAMP) lint system-deps
	$(BIN)/python -m pytest -q -rs

test-unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit tests/contracts

test-integration: $(STAMP)
	$(BIN)/python -m pytest -q -rs tests/integration

test-e2e: $(STAMP)
	$(BIN)/python -m pytest -q -rs tests/e2e

test-reliability: $(STAMP)
	$(BIN)/python -m pytest -q -rs -s tests/reliability

# The long variants of the reliability tests: more faults, more events, longer outages.
soak: $(STAMP)
	PARCOURS_SOAK=1 $(BIN)/python -m pytest -q -rs -s tests/reliability

lint: $(STAMP)
	$(BIN)/ruff check shared services parcours tests
	$(BIN)/lint-imports

fmt: $(STAMP)
	$(BIN)/ruff format shared services parcours tests
	$(BIN)/ruff check --fix shared services parcours tests

# Every string a person reads, extracted from the code and templates and merged into the
# catalogues (shared/i18n/locales): then write the French of each new msgid.
messages: $(STAMP)
	$(BIN)/python -m shared.i18n.messages

# The pages in French, photographed by their browser tests into docs/screenshots (linked from the README).
screenshots: $(STAMP) system-deps
	PARCOURS_SCREENSHOTS=1 $(BIN)/python -m pytest -q -rs tests/e2e/test_staff_page.py

clean:
	rm -rf $(VENV) .parcours .pytest_cache .ruff_cache build *.egg-info .cache tests/xapi_clients/node_modules

# Debian tools some tests use (a real Prometheus and promtool, docker-compose to validate the
# compose file, chromium for the browser tests, node and npm for the xAPI client libraries).
# Installed when missing and possible; where not, those tests skip or fail and say why.
SYSTEM_TOOLS := prometheus:prometheus promtool:prometheus docker-compose:docker-compose chromium:chromium \
  node:nodejs npm:npm
system-deps:
	@missing=""; for pair in $(SYSTEM_TOOLS); do tool=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$tool >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian packages:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null) \
	      || echo "could not install$$missing: the tests that need them will skip"; \
	  else echo "missing$$missing and cannot install them here: the tests that need them will skip"; fi; \
	fi

bench: $(STAMP)
	$(BIN)/python -m bench

bench-quick: $(STAMP)
	$(BIN)/python -m bench --quick
