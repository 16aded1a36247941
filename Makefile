# Set-up and test entry points. `make lab` and `make test` install what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
VENV_216 ?= .venv-2.16
BIN := $(abspath $(VENV))/bin
BIN_216 := $(abspath $(VENV_216))/bin
COLLECTION_LINK := .build/collections/ansible_collections/ddpoc/observability
# Outside the checkout: inside it, ansible-test would ask this repository's git, which ignores .build.
ANSIBLE_TEST_ROOT := $(or $(TMPDIR),/tmp)/ddpoc-ansible-test-$(shell printf %s "$(CURDIR)" | md5sum | cut -c1-8)/ansible_collections/ddpoc/observability
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(abspath ansible.cfg)

.PHONY: molecule-lab-2.16 lab-harness integration-api bench-apm bench-api host-deps test molecule-lab ansible-test-cache ansible-test-cache-2.16 lab-services help venv venv-2.16 collections lab lab-down lab-clean test lint sanity units \
	sanity-2.16 units-2.16 molecule-lab toolchain-check bench-apm bench-api clean

help:
	@echo "make lab        converge playbooks/site.yml on the built-in lab host"
	@echo "make lab-down   remove the lab host and its loopback services"
	@echo "make test       the whole test suite (see docs/development.md for single phases)"
	@echo "make bench-apm  Flask service throughput: original, untraced and traced"
	@echo "make bench-api  Datadog resources at scale against the API fake and community.general"

$(BIN)/ansible-playbook: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(BIN_216)/ansible-playbook: requirements-2.16.txt
	test -x $(BIN_216)/python || $(PYTHON) -m venv $(VENV_216)
	$(BIN_216)/pip install --quiet --upgrade pip
	$(BIN_216)/pip install --quiet -r requirements-2.16.txt
	touch $@

venv: $(BIN)/ansible-playbook

venv-2.16: $(BIN_216)/ansible-playbook

collections:
	mkdir -p $(dir $(COLLECTION_LINK))
	ln -sfn ../../../.. $(COLLECTION_LINK)

# ansible-test needs the collection under ansible_collections/<namespace>/<name>;
# copy the files git would commit (tracked and untracked, minus ignored ones).
define ansible_test_tree
	rm -rf $(ANSIBLE_TEST_ROOT) && mkdir -p $(ANSIBLE_TEST_ROOT)
	git ls-files -z --cached --others --exclude-standard | \
		rsync -a --from0 --files-from=- ./ $(ANSIBLE_TEST_ROOT)/
endef

# ansible-test puts pip into its virtualenvs with a bootstrap script it downloads from a host
# outside PyPI; these machines reach only PyPI, so the cache gets our own script and pip's wheel.
ANSIBLE_TEST_CACHE := $(HOME)/.ansible/test/cache

define ansible_test_cache
	mkdir -p $(ANSIBLE_TEST_CACHE)
	test -f $(ANSIBLE_TEST_CACHE)/pip-$(1)-py3-none-any.whl || \
		$(BIN)/pip download --quiet --no-deps --dest $(ANSIBLE_TEST_CACHE) pip==$(1)
	cp tests/toolchain/get_pip_offline.py $(ANSIBLE_TEST_CACHE)/get_pip_$(subst .,_,$(1)).py
endef

ansible-test-cache: venv
	$(call ansible_test_cache,$(shell $(BIN)/python tests/toolchain/ansible_test_pip.py))

ansible-test-cache-2.16: venv-2.16
	$(call ansible_test_cache,$(shell $(BIN_216)/python tests/toolchain/ansible_test_pip.py))

sanity: venv ansible-test-cache
	$(ansible_test_tree)
	cd $(ANSIBLE_TEST_ROOT) && $(BIN)/ansible-test sanity --python 3.11 --requirements --color no

units: venv ansible-test-cache
	$(ansible_test_tree)
	cd $(ANSIBLE_TEST_ROOT) && $(BIN)/ansible-test units --python 3.11 --requirements --color no

sanity-2.16: venv-2.16 ansible-test-cache-2.16
	$(ansible_test_tree)
	cd $(ANSIBLE_TEST_ROOT) && PATH=$(BIN_216):$$PATH $(BIN_216)/ansible-test sanity --python 3.11 --requirements --color no

units-2.16: venv-2.16 ansible-test-cache-2.16
	$(ansible_test_tree)
	cd $(ANSIBLE_TEST_ROOT) && PATH=$(BIN_216):$$PATH $(BIN_216)/ansible-test units --python 3.11 --requirements --color no

lint: venv collections
	NO_COLOR=1 ANSIBLE_VAULT_PASSWORD_FILE=$(abspath tests/lab/vault-password) $(BIN)/ansible-lint --profile production --strict

# --- The built-in lab: one systemd-nspawn host, a loopback apt repository with the
# stub agent, ddapm-test-agent as the trace intake and the Datadog API fake.
LAB_NAME ?= lab
LAB_SSH_PORT ?= 22022
LAB_APT_PORT ?= 18081
LAB_TRACE_PORT ?= 8126
LAB_API_PORT ?= 19080
LABHOST := $(PYTHON) tests/lab/labhost.py
TESTAGENT := .lab/venv-testagent/bin/ddapm-test-agent
VAULT := --vault-password-file tests/lab/vault-password

$(TESTAGENT): tests/lab/requirements-testagent.txt
	test -x .lab/venv-testagent/bin/python || $(PYTHON) -m venv .lab/venv-testagent
	.lab/venv-testagent/bin/pip install --quiet -r tests/lab/requirements-testagent.txt
	touch $@

lab-services: $(TESTAGENT)
	$(PYTHON) tests/standins/agent_repo.py build --out .lab/aptrepo --port $(LAB_APT_PORT) >/dev/null
	$(LABHOST) service-start apt-repo --port $(LAB_APT_PORT) -- \
		$(PYTHON) -m http.server --bind 127.0.0.1 --directory .lab/aptrepo $(LAB_APT_PORT)
	$(LABHOST) service-start trace-intake --port $(LAB_TRACE_PORT) -- $(TESTAGENT) \
		--host 127.0.0.1 --port $(LAB_TRACE_PORT) --otlp-http-port 14318 --otlp-grpc-port 14317
	$(LABHOST) service-start api-fake --port $(LAB_API_PORT) -- \
		$(PYTHON) tests/fakeapi/server.py --host 127.0.0.1 --port $(LAB_API_PORT)

lab: host-deps venv collections lab-services
	$(LABHOST) up $(LAB_NAME) --ssh-port $(LAB_SSH_PORT) >/dev/null
	DDPOC_LAB_SSH_PORT=$(LAB_SSH_PORT) $(BIN)/ansible-playbook -i inventories/lab $(VAULT) playbooks/site.yml
	$(PYTHON) tests/lab/summary.py --instance $(LAB_NAME) --api-url http://127.0.0.1:$(LAB_API_PORT) $(VAULT)

lab-down:
	$(LABHOST) down --all

# --- Host packages: systemd-nspawn and debootstrap for the lab, wrk for bench-apm,
# dpkg-dev and gnupg for the stub agent's apt repository, bc for phase timings.
HOST_PACKAGES := systemd-container debootstrap dpkg-dev apt-utils gnupg openssh-client rsync bc wrk

host-deps:
	@missing=$$(for p in $(HOST_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "Installing host packages:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

toolchain-check: venv venv-2.16 collections
	$(BIN)/pytest -q -p no:cacheprovider tests/repo

# The converge runs with -vvv --diff; its full log goes to .build/molecule-lab*.log, which
# tests/lab/test_converge_log.py then searches for the lab's API and application keys.
# $(1): the virtualenv's bin directory, $(2): the log file.
define molecule_lab
	@mkdir -p .build
	@set -o pipefail; PATH=$(1):$$PATH NO_COLOR=1 ANSIBLE_NOCOLOR=1 $(1)/molecule test -s lab > $(2) 2>&1 \
		&& status=0 || status=$$?; \
	grep -E "(lab|localhost) +: ok=|➜ [a-z]+: Executed|[0-9]+ passed" $(2) | tail -40; \
	if [ $$status -ne 0 ]; then echo "molecule failed; last lines of $(2):"; tail -150 $(2); fi; \
	exit $$status
	DDPOC_CONVERGE_LOG=$(abspath $(2)) $(BIN)/pytest -q -p no:cacheprovider tests/lab/test_converge_log.py
endef

molecule-lab: venv collections host-deps
	$(call molecule_lab,$(BIN),.build/molecule-lab.log)

# The same scenario with the ansible-core 2.16 toolchain that Ubuntu 18.04 targets need.
molecule-lab-2.16: venv venv-2.16 collections host-deps
	$(call molecule_lab,$(BIN_216),.build/molecule-lab-2.16.log)

# Datadog API modules against the local fake API, and the fake checked against recorded traffic
# (../shared/conformance beside the checkout, or DDPOC_CONFORMANCE_DIR).
integration-api: venv collections
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/integration tests/conformance

# --- Benchmarks: they print ratios against a peer measured in the same run.
bench-apm: venv host-deps
	$(BIN)/python bench/apm/run.py

bench-api: venv collections
	test -x .build/bench-venv/bin/python || $(PYTHON) -m venv .build/bench-venv
	.build/bench-venv/bin/pip install --quiet datadog==0.56.0
	$(BIN)/python bench/api/run.py --peer-python .build/bench-venv/bin/python

TIMED := PHASE_LOG=$(abspath .build/phases.log) tests/toolchain/timed

test: host-deps venv venv-2.16 collections
	@mkdir -p .build && : > .build/phases.log
	@if [ -n "$$($(LABHOST) status | $(PYTHON) -c 'import json,sys; print(*[i["name"] for i in json.load(sys.stdin)["instances"]])')" ]; then \
		echo "Removing running lab hosts first: they share this machine's ports with the test scenario."; \
		$(LABHOST) down --all; \
	fi
	@$(TIMED) toolchain $(MAKE) --no-print-directory toolchain-check
	@$(TIMED) ansible-lint $(MAKE) --no-print-directory lint
	@$(TIMED) sanity-2.19 $(MAKE) --no-print-directory sanity
	@$(TIMED) units-2.19 $(MAKE) --no-print-directory units
	@$(TIMED) sanity-2.16 $(MAKE) --no-print-directory sanity-2.16
	@$(TIMED) units-2.16 $(MAKE) --no-print-directory units-2.16
	@$(TIMED) lab-harness $(MAKE) --no-print-directory lab-harness
	@$(TIMED) integration-api $(MAKE) --no-print-directory integration-api
	@$(TIMED) molecule-lab $(MAKE) --no-print-directory molecule-lab
	@$(TIMED) molecule-lab-2.16 $(MAKE) --no-print-directory molecule-lab-2.16
	@echo "=== all phases passed:" && cat .build/phases.log

lab-harness: venv host-deps
	$(PYTHON) tests/lab/labhost.py prepare >/dev/null
	$(BIN)/pytest -q -s -p no:cacheprovider tests/lab/test_labhost.py
