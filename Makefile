# mfp-sim: two commands for a newcomer (see README): `make demo` and `make test`.
# Everything a test needs is installed here, from the package registries only.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
STATE  ?= state/demo

.PHONY: install bytecode python-check system-deps browser-deps demo demo-headless test test-fast soak bench bench-fleet lint clean

# Before anything else: a Python 3.11+ with the venv module, or a message saying what to install.
python-check:
	@sh tools/check-python.sh $(PYTHON)

# Order-only (`|`): the check runs first, without making the installed venv look out of date.
$(STAMP): pyproject.toml | python-check
	@echo "Installing mfp-sim and its dependencies into $(VENV) (about a minute and a half the first time)..."
	@echo "  [1/3] creating $(VENV) with $$($(PYTHON) -c 'import sys; print(sys.executable, sys.version.split()[0])')"
	@$(PYTHON) -m venv $(VENV)
	@echo "  [2/3] upgrading pip"
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "  [3/3] installing mfp-sim with textual, msal, aiohttp, aiosmtpd, authlib, the test tools and the fleet's Ray and matplotlib"
	@$(BIN)/python -m pip install --quiet -e '.[test,fleet]'
	@touch $(STAMP)
	@echo "Installed: $(BIN)/mfp-sim (try $(BIN)/mfp-sim --help)."

# Byte-compile the project's own modules, as pip does for an installed wheel: an editable
# install compiles nothing, and where PYTHONDONTWRITEBYTECODE is set (as on the CI machine)
# every process then compiled about 100 modules again, 130 ms of each device's start
# (docs/bench.md, "Fifth pass"). Files already compiled are skipped: a fraction of a second.
bytecode: $(STAMP)
	@$(BIN)/python -m compileall -q -j 0 firmware hwsim panel tools tests >/dev/null

install: $(STAMP) bytecode

# Dovecot is the independent POP3 server our client is checked against. Installed when we can
# (root with apt); without it those tests skip and say why.
system-deps:
	@if command -v dovecot >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing dovecot-pop3d (independent POP3 server for the tests)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-pop3d >/dev/null) \
	    || echo "warning: could not install dovecot-pop3d; the Dovecot tests will be skipped"; \
	else echo "note: dovecot not installed and not root; the Dovecot tests will be skipped"; fi

# Debian's Chromium and its driver run the web page's browser tests (selenium, headless);
# certutil (libnss3-tools) lets that browser trust the bench CA in its own NSS database.
# Installed when we can (root with apt); without them those tests skip and say why.
browser-deps:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 \
	    && command -v certutil >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing chromium, chromium-driver, libnss3-tools (browser tests of the web page)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	     chromium chromium-driver libnss3-tools >/dev/null) \
	    || echo "warning: could not install chromium; the browser tests will be skipped"; \
	else echo "note: chromium not installed and not root; the browser tests will be skipped"; fi

demo: python-check install
	$(BIN)/mfp-sim demo --state $(STATE)

demo-headless: python-check install
	$(BIN)/mfp-sim demo --state $(STATE) --headless

test: install system-deps browser-deps lint
	$(BIN)/python -m pytest -q

# Long endurance runs (thousands of power cuts), left out of `make test`.
soak: install
	$(BIN)/python -m pytest -q -m soak

# Speed and memory figures with issue 9's goals (docs/bench.md); a few minutes. The figures are
# also written to state/bench.json. BENCH_ARGS=--quick for a shorter run, --only NAME... for some.
BENCH_ARGS ?=
bench: install browser-deps
	$(BIN)/mfp-sim bench --json state/bench.json $(BENCH_ARGS)

# The fleet's figures (issue 12, docs/fleet.md): runs of thousands of devices, about a
# quarter of an hour here; `make bench-fleet QUICK=1` runs a tenth of the devices.
bench-fleet: install
	$(BIN)/python -m mfp_sim.tools.bench_fleet $(if $(QUICK),--quick)

lint: install
	$(BIN)/ruff check firmware hwsim tools panel tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) state build *.egg-info
