# cs_assets — every command a user needs. `make demo` first, `make test` second.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# PRODUCT=<name>: another simulated product (cs_assets/dev/products/<name>), its own home
# and configuration files; unset, PetForce.
PRODUCT ?=
ifneq ($(PRODUCT),)
PRODUCT_DIR := $(CURDIR)/cs_assets/dev/products/$(PRODUCT)
export CS_HOME ?= $(CURDIR)/.cs_home_$(PRODUCT)
export CS_PRODUCT := $(PRODUCT_DIR)/product.yaml
export CS_EVENT_MAPPING := $(PRODUCT_DIR)/event_mapping.yaml
export CS_TEAM := $(PRODUCT_DIR)/team.yaml
export CS_CONTENT := $(PRODUCT_DIR)/content.yaml
endif
export CS_HOME ?= $(CURDIR)/.cs_home
export DAGSTER_HOME ?= $(CS_HOME)/dagster_home
DEMO_END_DATE ?= 2026-11-01
DEMO_HOUSEHOLDS ?= 3000
DEMO_SEED ?= 7

.PHONY: install demo test lint ui mlflow-ui bench bench-training bench-dispatch evaluate evaluate-health clean

install: $(VENV)/.installed

# The environment comes only from the pinned lock file; uv makes the install fast.
$(VENV)/.installed: requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	@# -qq: errors only; a machine's pip configuration may name index folders that lack uv
	$(BIN)/pip install -qq --disable-pip-version-check uv==0.13.8
	$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $@

demo: install
	$(BIN)/cs-assets demo --households $(DEMO_HOUSEHOLDS) --end-date $(DEMO_END_DATE) --seed $(DEMO_SEED) \
		$(if $(PRODUCT),--product $(PRODUCT))

test: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -n 2 --dist loadgroup

# The code is formatted by hand to 100 columns; the lint rules (line length included) and the
# architecture contracts in pyproject.toml ([tool.importlinter]) are the gate.
lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

# The webserver and the daemon (what `dagster dev` starts, without its deprecation notice),
# run from DAGSTER_HOME: from the repository root the embedded default dagster.yaml there
# would be reported as shadowed.
ui: install
	@mkdir -p $(DAGSTER_HOME)
	@test -f $(DAGSTER_HOME)/dagster.yaml || cp dagster.yaml $(DAGSTER_HOME)/
	cd $(DAGSTER_HOME) && { $(CURDIR)/$(BIN)/dagster-daemon run -w $(CURDIR)/workspace.yaml & \
	  trap "kill $$!" EXIT; \
	  $(CURDIR)/$(BIN)/dagster-webserver -w $(CURDIR)/workspace.yaml -h 127.0.0.1 -p 3000; }

mlflow-ui: install
	@mkdir -p $(CS_HOME)/mlartifacts
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(CS_HOME)/mlflow.db \
		--default-artifact-root $(CS_HOME)/mlartifacts --port 5000

# The churn lifecycle on simulator data (12,000 households, seed 11) against each simulated
# product's truth and the yardstick baseline: PetForce (its full world and the pure
# proportional-hazards one) and every product in cs_assets/dev/products, or PRODUCT=<name>
# alone. Ends with a JSON line.
evaluate: install
	$(BIN)/python -m cs_assets.dev.evaluation.churn_report $(if $(PRODUCT),--product $(PRODUCT))

# Early warning of the new vs old health score on the demo data, daily (after make demo).
evaluate-health: install
	$(BIN)/python -m cs_assets.dev.evaluation.run --raw-dir $(CS_HOME)/raw --days 180

# The spec's GBM and HistGradientBoosting on 250k (and 1M) observation rows: times and AUCs.
bench-training: install
	$(BIN)/python -m cs_assets.dev.benchmarks.training_bench

# household_features at the bench scale (200,000 households x 120 days): the project's polars
# code vs pandas vs DuckDB, each in its own process; prints times, ratios, peak memory and a
# JSON line. Generates the data into $(CS_HOME)/bench/raw on first use (a few minutes). Every
# engine runs BENCH_REPEAT times, in rounds, and keeps its fastest run (shared machines are noisy).
# The raw files are snappy Parquet; BENCH_COMPRESSION=zstd (or lz4) runs on another codec.
BENCH_REPEAT ?= 3
BENCH_COMPRESSION ?= snappy
bench: install
	$(BIN)/python -m cs_assets.dev.benchmarks.features_bench --repeat $(BENCH_REPEAT) \
		--compression $(BENCH_COMPRESSION)

# The dispatcher on a steady-state day of 30,000 households (50,000 due steps, the demo's real
# messages, contact policy on) on SQLite and PostgreSQL, against the dispatcher before batch
# transactions on the first 5,000 steps: steps per second, peak memory, a JSON line. Needs the
# demo's state database (made here by `make demo` if missing) and git history.
bench-dispatch: install
	@test -f $(CS_HOME)/state.db || $(MAKE) demo
	$(BIN)/python -m cs_assets.dev.benchmarks.dispatch_bench

clean:
	rm -rf $(CS_HOME)
