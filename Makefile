# Two commands set everything up on a fresh Debian/Ubuntu machine:
#   make demo   - a local three-node cluster under ./demo-root (fake hypervisor, file storage)
#   make test   - the whole test suite
# Both are idempotent.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
APT_PACKAGES := pkg-config libvirt-dev gcc python3-dev systemd

.PHONY: all deps system-deps venv demo demo-stop demo-show test test-unit test-cluster lint \
        typecheck format bench verify-units clean vm-deps

all: test

# System packages: installed only when running as root and missing (CI, fresh machines).
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	  else echo "note: missing system packages:$$missing (run as root to install)"; fi; \
	fi

$(STAMP): pyproject.toml
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	@echo "installing Python dependencies into $(VENV) (log: $(VENV)/pip.log)"
	@if pkg-config --exists libvirt 2>/dev/null; then extras="dev,libvirt"; else extras="dev"; fi; \
	( $(PY) -m pip install --upgrade pip && \
	  $(PY) -m pip install -e ".[$$extras]" --config-settings editable_mode=compat ) \
	  > $(VENV)/pip.log 2>&1 || { tail -30 $(VENV)/pip.log; exit 1; }
	@$(PY) -c "import ganeti, twisted, treq, klein, OpenSSL"
	@touch $(STAMP)

deps: system-deps $(STAMP)
venv: $(STAMP)

demo: deps
	$(PY) -m ganeti.demo start --base demo-root

demo-show: $(STAMP)
	$(PY) -m ganeti.demo show --base demo-root

demo-stop:
	@if [ -x $(PY) ]; then $(PY) -m ganeti.demo stop --base demo-root; \
	 else echo "no venv; nothing started"; fi

test: deps vm-deps
	$(VENV)/bin/trial --temp-directory=_trial_temp tests

# What the VM tests (tests/vm) need: libvirtd, QEMU, busybox (installed as root only) and the
# tiny test guest in build/vm-guest.  Idempotent; ~0.1 s when all is there.  Without root the
# VM tests skip themselves with the reason.
vm-deps:
	@sh tools/vm-setup.sh

test-unit: $(STAMP)
	$(VENV)/bin/trial tests.unit

test-cluster: $(STAMP)
	$(VENV)/bin/trial tests.cluster

lint: $(STAMP)
	$(VENV)/bin/ruff check ganeti tests bench twisted
	$(VENV)/bin/ruff format --check ganeti tests bench twisted

typecheck: $(STAMP)
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff format ganeti tests bench twisted
	$(VENV)/bin/ruff check --fix ganeti tests bench twisted

verify-units:
	@if command -v systemd-analyze >/dev/null; then \
	  for u in systemd/*.service systemd/*.target systemd/*.timer; do [ -e "$$u" ] || continue; \
	    systemd-analyze verify --man=no "$$u" || exit 1; done; echo "systemd units OK"; \
	else echo "systemd-analyze not available; skipping unit verification"; fi

# Benchmarks write JSON to bench/results/; figures and context in docs/benchmarks.md.
# They want a quiet machine; the htools ones take minutes.
bench: $(STAMP)
	$(PY) bench/rpc_fanout.py
	$(PY) bench/config_commit.py
	$(PY) bench/jobs.py
	$(PY) bench/membership.py
	$(PY) bench/confd.py
	$(PY) bench/instances.py
	$(PY) bench/transfer.py
	$(PY) bench/evacuate.py
	$(PY) bench/rapi.py
	$(PY) bench/htools.py
	$(PY) bench/htools_alloc.py
	$(PY) bench/live_migration.py

clean:
	rm -rf _trial_temp build dist *.egg-info .mypy_cache .ruff_cache
