# AgentMesh — every developer command. `make run` and `make test` are the two a newcomer needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BUF := .tools/node_modules/.bin/buf
BUF_VERSION := 1.75.0
PROTO_FILES := $(sort $(wildcard protos/agentmesh/v1/*.proto))
SITE = $(shell $(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')

.PHONY: help install system-packages gen gen-check lint run health test typecheck check bench clean

help:
	@echo "make run        start all seven units (embedded defaults)"
	@echo "make test       install what is missing and run the test suite (SQLite, then the units on PostgreSQL)"
	@echo "make health     ask every unit over grpc.health.v1"
	@echo "make gen        regenerate generated/ from protos/"
	@echo "make gen-check  fail when generated/ is stale"
	@echo "make lint       buf lint the contracts, ruff and mypy the code"

# Programs the units run that pip cannot install: espeak-ng (the speech unit's text to speech). Checked on
# every install; installed with apt-get (as root, else through sudo) only when missing. Without apt the
# reason is printed and the rest goes on: text to speech answers UNAVAILABLE, and its tests are skipped.
system-packages:
	@command -v espeak-ng >/dev/null 2>&1 || { \
	  if ! command -v apt-get >/dev/null 2>&1; then \
	    echo "espeak-ng is not installed and apt-get is unavailable here: install espeak-ng with this system's package manager for text to speech"; \
	  else \
	    as_root=""; [ "$$(id -u)" = 0 ] || as_root="sudo -n"; \
	    echo "installing espeak-ng (Debian package, for text to speech)"; \
	    { $$as_root apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$as_root apt-get install -y -qq --no-install-recommends espeak-ng; } >/dev/null 2>&1 \
	      || echo "could not install espeak-ng with apt-get (run 'apt-get install espeak-ng' as root): text to speech stays unavailable"; \
	  fi; }

$(STAMP): requirements.txt requirements-dev.txt requirements-assets.txt | system-packages
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-assets.txt
	printf '%s\n%s\n' "$(CURDIR)" "$(CURDIR)/generated" > "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/agentmesh-dev.pth"
	touch $(STAMP)

install: $(STAMP)

gen: $(STAMP)
	$(PY) -m tools.protogen generated

gen-check: $(STAMP)
	$(PY) -m tools.protogen --check generated

$(BUF):
	npm install --prefix .tools --no-save --no-fund --no-audit --silent @bufbuild/buf@$(BUF_VERSION)

lint: $(STAMP) $(BUF)
	$(PY) -m tools.protogen --deps build/proto-deps
	$(BUF) lint
	$(PY) -m ruff check services edge tools tests bench examples
	$(PY) -m mypy

run: $(STAMP)
	$(PY) -m tools.protogen --if-stale generated
	$(PY) -m services.supervisor

health: $(STAMP)
	$(PY) -m services.healthcheck

# The whole suite on SQLite (the embedded default), then every unit's tests again with the units on
# PostgreSQL (a throwaway server of the run's own, see tests/postgres_server.py).
UNIT_TESTS := tests/auth tests/agent tests/task tests/persona tests/speech tests/analytics tests/admin tests/integration
test: $(STAMP)
	$(PY) -m pytest
	$(PY) -m pytest --database postgresql $(UNIT_TESTS)

bench: $(STAMP)
	$(PY) -m bench

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
