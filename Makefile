# The two commands of the README: `make run` (demo on embedded defaults) and `make test`.
.PHONY: run test install services worker-up worker-down lint fmt messages

run:  ## install, migrate, load demo data and serve on http://127.0.0.1:8000 (SQLite, in-process tasks)
	scripts/run.sh

test:  ## install, start PostgreSQL + Redis + Celery worker, run all checks and tests
	scripts/test.sh

install:
	scripts/bootstrap.sh --dev

services:
	scripts/services.sh up

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy

fmt:
	.venv/bin/ruff format . && .venv/bin/ruff check --fix .

messages:  ## refresh and compile the Dutch translations
	DEBUG=1 .venv/bin/python manage.py makemessages -l nl --no-obsolete --ignore='.venv/*' --ignore='.tools/*'
	DEBUG=1 .venv/bin/python manage.py compilemessages --ignore='.venv/*' --ignore='.tools/*'
