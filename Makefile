# Neixiang one-blueprint service. The two commands: `make run` and `make test`.
SHELL := /bin/bash
PY := .venv/bin/python
PORT ?= 8000
# gunicorn: processes rather than threads (the request's Python work holds the GIL)
WORKERS ?= 4
THREADS ?= 2
DEMO_PARCELS ?= 5000
DEMO_PROJECTS ?= 200
SEED_ZOOM ?= 0-11

.PHONY: run test setup db stop lint bench-setup bench-import bench-maps bench-mvt clean-db

setup:
	@scripts/bootstrap.sh

db: setup
	@if [ -z "$$DATABASE_URL" ]; then $(PY) -m config.localdb start; fi
	@$(PY) manage.py migrate --noinput -v 0

run: db
	@$(PY) manage.py create_admins --demo-accounts
	@$(PY) manage.py load_demo --if-empty --parcels $(DEMO_PARCELS) --projects $(DEMO_PROJECTS)
	@$(PY) manage.py seed_tiles --zoom $(SEED_ZOOM) --threads 2 -v 0
	@$(PY) manage.py collectstatic --noinput -v 0
	@echo "serving on http://127.0.0.1:$(PORT)/  (make stop to stop)"
	@mkdir -p var/run
	@$(PY) manage.py clear_metrics -v 0
	@exec .venv/bin/gunicorn config.wsgi --bind 127.0.0.1:$(PORT) --workers $(WORKERS) \
		--threads $(THREADS) --pid var/run/gunicorn.pid --access-logfile - \
		--no-control-socket --timeout 120

stop:
	@if [ -f var/run/gunicorn.pid ]; then kill $$(cat var/run/gunicorn.pid) 2>/dev/null || true; rm -f var/run/gunicorn.pid; fi
	@if [ -x $(PY) ]; then $(PY) -m config.localdb stop; fi

lint: setup
	@.venv/bin/ruff check .

test: db
	@.venv/bin/ruff check .
	@$(PY) -m pytest -q

bench-setup: setup
	@scripts/bootstrap.sh bench

bench-import: db
	@$(PY) bench/import_bench.py

bench-maps: bench-setup db
	@bench/map_services_bench.sh

bench-mvt: bench-setup db
	@bench/mvt_bench.sh
