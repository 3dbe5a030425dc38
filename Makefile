# hookwise — `make run` starts the server, `make test` runs the tests; both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SARIF_SCHEMA := .cache/sarif-schema-2.1.0.json
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run demo test fuzz lint typecheck bench schema docs catalogue vendor openapi-supplement clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The SARIF 2.1.0 JSON Schema, for the test that checks `validate --format sarif`.
# Microsoft's @microsoft/jest-sarif package ships it; npm is the only client needed.
$(SARIF_SCHEMA):
	mkdir -p .cache/sarif
	cd .cache/sarif && npm pack --silent @microsoft/jest-sarif@1.0.0-beta.0 >/dev/null
	tar -xzf .cache/sarif/microsoft-jest-sarif-1.0.0-beta.0.tgz -C .cache/sarif package/lib/schemas/sarif-2.1.0-rtm.5.json
	mv .cache/sarif/package/lib/schemas/sarif-2.1.0-rtm.5.json $(SARIF_SCHEMA)
	rm -rf .cache/sarif

# A development secret unless one is set (or .env, written by `hookwise app create`, has the
# App's); the server reads ENV_FILE when it exists, the environment winning over the file.
ENV_FILE ?= .env
HAS_ENV_FILE := $(wildcard $(ENV_FILE))
ifeq ($(HAS_ENV_FILE),)
run: export GITHUB_WEBHOOK_SECRET ?= hookwise-development-secret
endif
run: $(STAMP)
	$(BIN)/hookwise validate rules/
	@echo "hookwise on http://$(HOST):$(PORT)  ($(if $(HAS_ENV_FILE),settings from $(ENV_FILE),webhook secret: $$GITHUB_WEBHOOK_SECRET); SQLite: hookwise.db)"
	@echo "delivery log in a browser: http://$(HOST):$(PORT)/ui/  ($${HOOKWISE_UI_TOKEN:+sign in with HOOKWISE_UI_TOKEN}$${HOOKWISE_UI_TOKEN:-loopback only: no HOOKWISE_UI_TOKEN set})"
	$(BIN)/hookwise serve --host $(HOST) --port $(PORT) --rules rules/$(if $(HAS_ENV_FILE), --env-file $(ENV_FILE))

# The server wired to the GitHub API double (tests/double), filled with a few real deliveries:
# the whole loop without GitHub, to browse at http://$(HOST):$(PORT)/ui/ (database hookwise-demo.db).
demo: $(STAMP)
	PORT=$(PORT) $(BIN)/python -m tests.double

# The browser tests drive Debian's Chromium (no browser can be downloaded here).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	command -v apt-get >/dev/null || (echo "install Chromium at $(CHROMIUM) for the browser tests" >&2; exit 1)
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null

test: $(STAMP) $(SARIF_SCHEMA) $(CHROMIUM)
	$(BIN)/ruff check engine tests bench tools server.py
	$(BIN)/mypy
	$(BIN)/pytest

# 20,000 mutated signed real deliveries against a live server: 0 answers may be a 5xx.
fuzz: $(STAMP)
	$(BIN)/python tools/fuzz.py --count 20000

lint: $(STAMP)
	$(BIN)/ruff check engine tests bench tools server.py
	$(BIN)/mypy

# wrk (the load generator) and PostgreSQL are needed; wrk comes from Debian's packages.
bench: $(STAMP)
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python bench/run.py

# Regenerate schemas/rule.schema.json from the node registry (a test checks it is current).
schema: $(STAMP)
	$(BIN)/hookwise schema > schemas/rule.schema.json

# Regenerate docs/checks.md from the check ids and the golden corpus.
docs: $(STAMP)
	$(BIN)/python tools/checks_doc.py

# Copy ../shared (fixtures, peer bench) into vendor/shared again; a test compares the two.
vendor:
	test -d ../shared || (echo "no ../shared beside this clone: vendor/shared is the only copy" >&2; exit 1)
	rm -rf vendor/shared/fixtures vendor/shared/peer-bench
	cp -r ../shared/fixtures ../shared/peer-bench vendor/shared/
	chmod -R u+w vendor/shared

# Regenerate engine/data/webhook-events.json from vendor/shared/fixtures (a test checks it is current).
catalogue: $(STAMP)
	$(BIN)/python tools/gen_catalogue.py

# Regenerate tests/data/openapi-supplement.json from GitHub's full REST description (npm).
openapi-supplement:
	mkdir -p .cache/octokit
	test -f .cache/octokit/octokit-openapi-23.0.2.json || (cd .cache/octokit && \
	  npm pack --silent @octokit/openapi@23.0.2 >/dev/null && \
	  tar -xzf octokit-openapi-23.0.2.tgz package/generated/api.github.com.json && \
	  mv package/generated/api.github.com.json octokit-openapi-23.0.2.json && \
	  rm -rf package octokit-openapi-23.0.2.tgz)
	python3 tools/gen_openapi_supplement.py

clean:
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache hookwise.db*
