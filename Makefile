# make run  — set up .venv, migrate, seed, start the storefront and its sandbox on 127.0.0.1
#            (PORT=8000 make run: another port than 5000; SANDBOX_URL=http://127.0.0.1:8001: the sandbox's)
# make test — set up .venv with the test tools (and Debian's chromium), run the whole suite
# make translations — extract the pages' strings and update the catalogs (storefront/translations)
# make bench — run the benchmarks (bench/), print their tables; make bench-smoke: a few iterations
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
FLASK := $(PY) -m flask --app wsgi
TRANSLATIONS := storefront/translations
PO := $(TRANSLATIONS)/ko/LC_MESSAGES/messages.po
MO := $(PO:.po=.mo)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test install install-dev chromium translations clean bench bench-smoke wrk

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(PY)
	$(PIP) install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt $(VENV)/.runtime
	$(PIP) install --quiet -r requirements-dev.txt
	# The official client pins an old requests; it is only a test subject, so no deps.
	$(PIP) install --quiet --no-deps iamport-rest-client==0.9.0
	touch $@

install: $(VENV)/.runtime $(MO)
install-dev: $(VENV)/.dev $(MO)

# The Korean catalog is committed as .po; the .mo the app reads is built from it.
$(MO): $(PO) $(VENV)/.runtime
	$(VENV)/bin/pybabel -q compile -d $(TRANSLATIONS)

# After changing a page's text: collect every string, add the new ones to each catalog (then
# translate them in the .po; `make test` fails while one is missing or marked fuzzy).
translations: $(VENV)/.runtime
	$(VENV)/bin/pybabel -q extract -F babel.cfg -k lazy_gettext -k lazy_pgettext:1c,2 --add-location=file \
		--sort-by-file -o $(TRANSLATIONS)/messages.pot .
	$(VENV)/bin/pybabel -q update -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS) \
		--ignore-obsolete
	rm $(TRANSLATIONS)/messages.pot

# Browser tests drive Debian's chromium; Playwright never downloads a browser here.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
		echo "installing Debian's chromium"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; \
	fi

run: install
	$(FLASK) db upgrade
	$(FLASK) seed
	$(FLASK) run-demo --host 127.0.0.1 $(if $(PORT),--port $(PORT))

# The whole suite twice: on SQLite, then on a throwaway PostgreSQL cluster.
test: install-dev chromium
	$(PY) -m pytest tests
	$(PY) -m tests.support.pgcluster -- $(PY) -m pytest tests -p no:cacheprovider

# Benchmarks, not tests: nothing in `make test` times anything. Pages are loaded by Debian's wrk;
# if it cannot be installed, by the Python load generator in bench/loadgen.py.
wrk:
	@if ! command -v wrk >/dev/null 2>&1; then \
		echo "installing Debian's wrk"; \
		( $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq wrk ) \
			|| echo "wrk could not be installed; the pages benchmark uses bench/loadgen.py"; \
	fi

bench: install-dev wrk
	$(PY) -m bench.run

# A few iterations of each benchmark (CI runs this so that they cannot rot); the figures mean nothing.
bench-smoke: install-dev wrk
	$(PY) -m bench.run --smoke

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
