# Every target does its own set-up: a fresh clone needs only python3 (>= 3.11) and git.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: run test lint bench dev clean-lake venv postgres-tools

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

venv: $(STAMP)

## make run: build the environment from the lock file, then run the main job on the bundled sources.
run: $(STAMP)
	$(BIN)/evidence-lake run

## PostgreSQL binaries for the tests that start their own server (Debian package; nothing is started here).
postgres-tools:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || { \
	  echo "installing PostgreSQL (Debian package) for the Postgres instance tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql >/dev/null; }

## make test: build the environment from the lock file, then run lint and the whole test suite.
## The tests start and stop their own servers (moto S3, PostgreSQL) on 127.0.0.1.
test: $(STAMP) postgres-tools
	$(BIN)/ruff check .
	@# Test lakes and instances live in RAM (tmpfs) when there is one: sqlite and Delta commits fsync.
	@# Two workers more than cores: many tests wait on a subprocess or a server; worksteal evens the tail.
	tmp=$$(mktemp -d -p /dev/shm evidence-lake-tests.XXXXXX 2>/dev/null || mktemp -d); \
	$(BIN)/python -m pytest -q -n $$(( $$(nproc) + 2 )) --dist worksteal --basetemp=$$tmp/pytest --durations=15; \
	status=$$?; rm -rf $$tmp; exit $$status

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run_all

dev: $(STAMP)
	mkdir -p $(DAGSTER_HOME)
	test -f $(DAGSTER_HOME)/dagster.yaml || $(BIN)/python -c 'import sys; from resources.instance_storage import instance_yaml; sys.stdout.write(instance_yaml(sys.argv[1]))' $(DAGSTER_HOME) > $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev

clean-lake:
	rm -rf data/lake
