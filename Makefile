# switcher: blue/green releases of a Django site. `make help` lists the targets.
SHELL := bash
.DEFAULT_GOAL := help

RELEASE ?= $(shell cat VERSION 2>/dev/null || git describe --always --dirty 2>/dev/null || echo dev)
IMAGE_PREFIX ?= switcher
SITE ?= images/site/default-site
SITE_SETTINGS ?= pressroom.settings
ENV ?= production
CLUSTER ?= main
VENV ?= .venv
BUILD_DIR ?= build
IMAGES := base site lb db memcached broker acme
REFRESH ?= 0
# The integration tests' pytest-xdist workers (tests/integration/conftest.py): 0 runs them one after another.
TEST_WORKERS ?= 2
# The site image's Python: empty for what the site's .python-version / runtime.txt asks (3.11
# without one); 3.11 (Debian 12) or 3.13 (Debian 13).
PYTHON ?=
export RELEASE IMAGE_PREFIX SITE SITE_SETTINGS BUILD_DIR REFRESH

PY := $(VENV)/bin/python
SWITCHER := $(VENV)/bin/switcher

.PHONY: help host venv build up down status test test-unit lint bench clean cluster-up cluster-down push

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'
	@echo "  variables: RELEASE=$(RELEASE) ENV=$(ENV) SITE=$(SITE) SITE_SETTINGS=$(SITE_SETTINGS) PYTHON=$(PYTHON) IMAGE_PREFIX=$(IMAGE_PREFIX)"

host: ## Install what is missing on this host (Docker, Compose v2, debootstrap); root only
	@if [ "$$(id -u)" = 0 ]; then scripts/host-deps.sh; \
	else scripts/check-host.sh; fi

$(VENV)/.installed: pyproject.toml
	@python3 -m venv $(VENV)
	@$(VENV)/bin/pip install -q --upgrade pip
	@$(VENV)/bin/pip install -q -e '.[dev]'
	@touch $@

venv: $(VENV)/.installed

build: host venv ## Build every image of RELEASE (base, site, lb, db, memcached, broker, acme); REFRESH=1: with new security updates
	@HOST_PYTHON=$(PY) PYTHON=$(PYTHON) scripts/build-images.sh

up: host venv ## Start the site in ENV with blue live (builds RELEASE's images if missing; ENGINE=swarm: pushes them first)
	@for image in $(IMAGES); do \
	  docker image inspect $(IMAGE_PREFIX)/$$image:$(RELEASE) >/dev/null 2>&1 || { $(MAKE) --no-print-directory build; break; }; \
	done
	@if grep -qx 'ENGINE=swarm' compose/env/$(ENV).env 2>/dev/null; then $(SWITCHER) push $(RELEASE) --env $(ENV); fi
	@$(SWITCHER) up --env $(ENV) --release $(RELEASE)

down: venv ## Stop ENV's containers (volumes and data are kept)
	@$(SWITCHER) down --env $(ENV)

status: venv ## Show ENV: live colour, releases, health, URLs
	@$(SWITCHER) status --env $(ENV)

cluster-up: build ## Start a three-engine Docker Swarm on this machine, with a registry (CLUSTER=main; root; docs/cluster.md)
	@BASE_IMAGE=$(IMAGE_PREFIX)/base:$(RELEASE) cluster/cluster.sh up $(CLUSTER)

cluster-down: ## Stop that cluster and remove everything it made (engines, namespaces, bridge, firewall rule, data)
	@cluster/cluster.sh down $(CLUSTER)

push: host venv ## Push RELEASE's images to ENV's registry (ENGINE=swarm: ENV=cluster)
	@$(SWITCHER) push $(RELEASE) --env $(ENV)

test: build ## Run unit and integration tests (builds the images first; TEST_WORKERS=0: one after another)
	@$(VENV)/bin/pytest -q tests/unit
	@SWITCHER_TEST_RELEASE=$(RELEASE) $(VENV)/bin/pytest -q -n $(TEST_WORKERS) --dist loadgroup --durations=25 tests/integration

test-unit: venv ## Run the unit tests only (no Docker needed)
	@$(VENV)/bin/pytest -q tests/unit

lint: venv ## ruff check and format check
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check switcher tests bench

bench: build ## Run the benchmarks and print their tables
	@$(PY) -m bench

clean: ## Remove build products (not images, not stacks)
	rm -rf $(BUILD_DIR)
