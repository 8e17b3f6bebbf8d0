# Leadline: `make demo` runs the app on this machine with demo data; `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
# Tests need a key; it signs nothing that leaves the test run.
TEST_ENV := SECRET_KEY=leadline-test-only-secret-key-not-for-production-use DEBUG=0

.PHONY: install demo up test lint format check-migrations clean

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

# Every process of the Procfile (web, Celery worker and beat, RQ worker) through honcho, on the
# local PostgreSQL and Redis unless DATABASE_URL / REDIS_URL say otherwise. Ctrl-C stops them
# gracefully: each worker finishes (or gives back) the task or job it has.
UP_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/leadline
UP_REDIS_URL ?= redis://127.0.0.1:6379/0
up: install
	@export DATABASE_URL="$${DATABASE_URL:-$(UP_DATABASE_URL)}" REDIS_URL="$${REDIS_URL:-$(UP_REDIS_URL)}" \
		DEBUG="$${DEBUG:-1}" SITE_URL="$${SITE_URL:-http://$(HOST):$(PORT)}" PATH="$(CURDIR)/$(VENV)/bin:$$PATH"; \
	db_name=$$(printf '%s' "$$DATABASE_URL" | sed -E 's#.*/([^/?]+)(\?.*)?$$#\1#'); \
	admin_url=$$(printf '%s' "$$DATABASE_URL" | sed -E 's#/[^/?]+(\?.*)?$$#/postgres#'); \
	psql "$$admin_url" -tAc "SELECT 1 FROM pg_database WHERE datname = '$$db_name'" | grep -q 1 || \
		psql "$$admin_url" -c "CREATE DATABASE \"$$db_name\"" && \
	python manage.py migrate --noinput && \
	echo "Leadline: web at http://$(HOST):$(PORT)/ with a Celery worker, beat and an RQ worker (Ctrl-C stops)" && \
	exec honcho start -p $(PORT) web worker beat rqworker

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
