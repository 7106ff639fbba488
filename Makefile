# missingkids: `make run` to try the product, `make test` to run every check.

PYTHON ?= $(shell command -v python3.13 || command -v python3.12 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
HOST ?= 127.0.0.1
PORT ?= 8000
# The checkout's development settings (written by `install`); settings files are read only
# when ENV_FILE names one, so a production server never reads a stray .env.
ENV_FILE ?= $(CURDIR)/.env
export ENV_FILE

.PHONY: run test install assets lint demo worker clean requirements

# Python packages, pinned in requirements*.txt, installed into .venv once per change.
$(VENV)/.installed: requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else "missingkids needs Python 3.12 or newer (3.13 recommended); found " + sys.version.split()[0])'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	test -f .env || printf '%s\n' '# Development settings for this checkout (see README: Configuration).' 'DEBUG=true' > .env
	touch $@

# Front-end: GOV.UK Frontend from npm, compiled with the service's settings.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

static/build/.built: node_modules/.installed $(wildcard static/scss/*.scss)
	mkdir -p static/build/govuk
	npx sass --load-path=node_modules --style=compressed --no-source-map --quiet-deps \
		static/scss/app.scss static/build/app.css
	cp node_modules/govuk-frontend/dist/govuk/all.bundle.js \
		node_modules/govuk-frontend/dist/govuk/all.bundle.js.map static/build/govuk/
	rm -rf static/build/govuk/assets
	cp -R node_modules/govuk-frontend/dist/govuk/assets static/build/govuk/assets
	touch $@

install: $(VENV)/.installed
assets: static/build/.built

# The notification worker and scheduler run in the background beside the development
# server (e-mails appear in this terminal) and are stopped with it: background jobs of a
# non-interactive shell ignore Ctrl-C, so the trap stops them explicitly.
# Links in the demo's e-mails and the printed sign-in address follow HOST and PORT.
run: export SITE_URL = http://$(HOST):$(PORT)
run: install assets
	DEBUG=true $(PY) manage.py migrate --no-input
	@# Kept in a file too: the worker's console e-mails soon scroll them off the screen.
	DEBUG=true $(PY) manage.py load_demo_data > demo-sign-ins.txt && cat demo-sign-ins.txt
	@echo "(These sign-ins are saved in demo-sign-ins.txt.)"
	DEBUG=true $(PY) manage.py send_notifications --interval 5 & worker=$$!; \
	DEBUG=true $(PY) manage.py notifications_scheduler --interval 30 & scheduler=$$!; \
	trap 'kill $$worker $$scheduler 2>/dev/null; wait $$worker $$scheduler 2>/dev/null' EXIT INT TERM; \
	DEBUG=true $(PY) manage.py runserver $(HOST):$(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DEBUG=true $(PY) manage.py makemigrations --check --dry-run

test: install assets lint
	$(BIN)/pytest

# Regenerate the pinned requirements from pyproject.toml (needs network access).
requirements:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	$(PYTHON) -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' > .venv-lock/runtime.in
	$(PYTHON) -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["dev"]))' > .venv-lock/dev.in
	.venv-lock/bin/pip install --quiet --disable-pip-version-check -r .venv-lock/runtime.in
	.venv-lock/bin/pip freeze --exclude pip > requirements.txt
	.venv-lock/bin/pip install --quiet --disable-pip-version-check -r .venv-lock/dev.in
	(echo '-r requirements.txt'; .venv-lock/bin/pip freeze --exclude pip \
		| grep -v -x -F -f requirements.txt) > requirements-dev.txt
	rm -rf .venv-lock

clean:
	rm -rf $(VENV) node_modules static/build staticfiles
