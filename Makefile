# The two commands a newcomer needs:  make run  and  make test
.PHONY: run test test-postgresql install install-test check-code model clean

export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2
VENV := .venv
TANYA := $(VENV)/bin/tanya

run: install
	@$(TANYA) check
	@$(TANYA) train --if-stale
	$(TANYA) run

test: install-test
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# The whole suite with every store on PostgreSQL (a throw-away cluster; tests/store_switch.py).
test-postgresql: install-test
	TANYA_TEST_STORE=postgresql $(VENV)/bin/python -m pytest $(PYTEST_ARGS)

install:
	@scripts/install.sh

install-test:
	@scripts/install.sh --test
	@scripts/test-deps.sh

# Lint, types and the generated-data drift check (also run by the test suite).
check-code: install-test
	$(VENV)/bin/ruff format --check bot tests bench
	$(VENV)/bin/ruff check bot tests bench
	$(VENV)/bin/mypy

model: install
	$(TANYA) train

clean:
	rm -rf rasa_project/models .pytest_cache
