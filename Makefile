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

.PHONY: help install gen gen-check lint run health test typecheck check bench clean

help:
	@echo "make run        start all seven units (embedded defaults)"
	@echo "make test       install what is missing and run the test suite"
	@echo "make health     ask every unit over grpc.health.v1"
	@echo "make gen        regenerate generated/ from protos/"
	@echo "make gen-check  fail when generated/ is stale"
	@echo "make lint       buf lint the contracts, ruff and mypy the code"

$(STAMP): requirements.txt requirements-dev.txt requirements-assets.txt
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

test: $(STAMP)
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) -m bench

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
