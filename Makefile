# Ottava's commands. `make run` and `make test` are the two the README promises.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
DEBIAN_PACKAGES := python3-venv python3-pip curl haproxy keepalived iputils-ping nftables conntrack
# Only the tests need these: the dashboard's browser test drives Debian's chromium.
TEST_DEBIAN_PACKAGES := chromium

.PHONY: install run test test-cloud test-packages lint unit functional compat db-tests bench clean tempest

install: $(VENV)/bin/ottava

$(VENV)/bin/ottava: pyproject.toml uv.lock
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) \
	    || { echo "could not install$$missing (run as root?)" >&2; exit 1; }; \
	fi
	@command -v uv >/dev/null 2>&1 || [ -x "$(UV)" ] || python3 -m pip install --quiet --user uv \
	  || python3 -m pip install --quiet uv
	$(UV) sync --frozen --extra dev
	@touch $@

run: install
	$(VENV)/bin/ottava standalone

lint: install
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

unit: install
	$(VENV)/bin/pytest -q tests/unit

# The real openstack CLI and openstacksdk (installed into .venv-compat by tools/compat-venv.sh)
# against a real `ottava standalone --noop`.
compat: install
	$(VENV)/bin/pytest -q tests/compat

test: lint test-packages
	$(VENV)/bin/pytest -q -p no:cacheprovider tests

test-packages:
	@missing=""; for p in $(TEST_DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages for the tests:$$missing"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) \
	    || { echo "could not install$$missing (run as root?)" >&2; exit 1; }; \
	fi

# The drivers against a real, minimal OpenStack (../shared/mini-openstack: Keystone, Nova with
# the amphora test virt driver, Neutron, Glance, Barbican), started and stopped around the run.
test-cloud: install test-packages
	bash tools/cloud-tests.sh $(CLOUD_ARGS)

# Octavia's conformance suite (tempest + octavia-tempest-plugin, in .venv-tempest) against
# `ottava standalone --noop` with a real Keystone, in each RBAC mode; per-class counts.
# Narrow it with e.g. TEMPEST_ARGS="--mode none --regex test_load_balancer".
tempest: install
	bash tools/tempest.sh $(TEMPEST_ARGS)

bench: install
	$(PY) bench/api.py
	$(PY) bench/worker.py
	$(PY) bench/dataplane.py
	$(PY) bench/tls.py
	$(PY) bench/health.py
	$(PY) bench/failover.py

clean:
	rm -rf $(VENV) .venv-compat .venv-keystone .venv-tempest .pytest_cache .mypy_cache .ruff_cache
