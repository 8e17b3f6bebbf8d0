# Leadline: `make demo` runs the app on this machine with demo data; `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
# Tests need a key; it signs nothing that leaves the test run.
TEST_ENV := SECRET_KEY=leadline-test-only-secret-key-not-for-production-use DEBUG=0

.PHONY: install demo test lint format check-migrations clean

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Leadline needs Python 3.11 or newer; set PYTHON=python3.x"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(VENV)/.installed

# Unsubscribe links point at the demo's own address; set SITE_URL to give another.
demo: SITE_URL ?= http://$(HOST):$(PORT)
demo: install
	DEBUG=1 $(PY) manage.py migrate --noinput
	DEBUG=1 SITE_URL=$(SITE_URL) $(PY) manage.py seed_demo
	@echo
	@echo "Leadline is starting at http://$(HOST):$(PORT)/"
	@echo "  Managers: http://$(HOST):$(PORT)/admin/   login: manager / leadline-demo"
	@echo "  Reps:     http://$(HOST):$(PORT)/login/   login: rep.alex / leadline-demo, rep.blair / leadline-demo"
	@echo "Press Ctrl-C to stop."
	@echo
	@# The clock (Celery beat in production) sends texts and emails when they fall due.
	DEBUG=1 SITE_URL=$(SITE_URL) $(PY) manage.py run_clock & clock=$$!; \
		trap 'kill $$clock 2>/dev/null' EXIT INT TERM; \
		DEBUG=1 SITE_URL=$(SITE_URL) $(PY) manage.py runserver $(HOST):$(PORT)

test: install
	$(TEST_ENV) $(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports

format: install
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

check-migrations: install
	$(TEST_ENV) $(PY) manage.py makemigrations --check --dry-run

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-wal db.sqlite3-shm staticfiles .pytest_cache
