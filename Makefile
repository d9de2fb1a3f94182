# Developer entry points for legato. Everything runs inside ./.venv, which
# `make venv` creates (or tops up) from pyproject.toml.

PYTHON   ?= python3
VENV     := .venv
BIN      := $(VENV)/bin
STAMP    := $(VENV)/.installed
LINT_DIRS := $(wildcard src tests bench examples)
PYTEST_ARGS ?=

.PHONY: venv lint test demo bench format clean

venv: $(STAMP)

# Re-install only when pyproject.toml changes; the install is editable, so code
# changes under src/ never need it.
$(STAMP): pyproject.toml
	@set -e; \
	if [ ! -x $(BIN)/python ]; then \
		echo "creating $(VENV) with $(PYTHON)"; \
		if ! $(PYTHON) -m venv $(VENV); then \
			rm -rf $(VENV); \
			if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
				echo "python venv/ensurepip missing: installing python3-venv"; \
				DEBIAN_FRONTEND=noninteractive apt-get update -qq; \
				DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; \
				$(PYTHON) -m venv $(VENV); \
			else \
				echo "error: '$(PYTHON) -m venv' failed; install python3-venv" >&2; exit 1; \
			fi; \
		fi; \
	fi
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

lint: venv
	$(BIN)/ruff check $(LINT_DIRS)
	$(BIN)/ruff format --check $(LINT_DIRS)
	$(BIN)/mypy src
	$(BIN)/lint-imports --no-cache

# pytest runs in parallel (pyproject.toml: -n auto --dist loadgroup); the schemathesis
# fuzz runs only with CI=true (.ci/run). PYTEST_ARGS="-n 0" runs in one process.
test: venv
	$(MAKE) lint
	$(BIN)/pytest $(PYTEST_ARGS)

demo: venv
	$(BIN)/python examples/demo.py

bench: venv
	$(BIN)/python bench/overhead.py
	$(BIN)/python bench/client_mode.py
	$(BIN)/python bench/async_flows.py
	$(BIN)/python bench/reads.py
	$(BIN)/python bench/scheduler.py
	$(BIN)/python bench/workers.py
	$(BIN)/python bench/reliability.py
	$(BIN)/python bench/webhooks.py
	$(BIN)/python bench/cancel_latency.py
	$(BIN)/python bench/events.py
	$(BIN)/python bench/notifications.py
	$(BIN)/python bench/automations.py

format: venv
	$(BIN)/ruff format $(LINT_DIRS)
	$(BIN)/ruff check --fix $(LINT_DIRS)

clean:
	rm -rf build dist .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -exec rm -rf {} +
	find . -path ./$(VENV) -prune -o -type d -name '*.egg-info' -exec rm -rf {} +
