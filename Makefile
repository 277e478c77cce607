# mfp-sim: two commands for a newcomer (see README): `make demo` and `make test`.
# Everything a test needs is installed here, from the package registries only.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
STATE  ?= state/demo

.PHONY: install system-deps demo demo-headless test test-fast bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Dovecot is the independent POP3 server our client is checked against. Installed when we can
# (root with apt); without it those tests skip and say why.
system-deps:
	@if command -v dovecot >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing dovecot-pop3d (independent POP3 server for the tests)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-pop3d >/dev/null) \
	    || echo "warning: could not install dovecot-pop3d; the Dovecot tests will be skipped"; \
	else echo "note: dovecot not installed and not root; the Dovecot tests will be skipped"; fi

demo: install
	$(BIN)/mfp-sim demo --state $(STATE)

demo-headless: install
	$(BIN)/mfp-sim demo --state $(STATE) --headless

test: install system-deps lint
	$(BIN)/python -m pytest -q

# Speed and memory figures with issue 9's goals (docs/bench.md); a few minutes. The figures are
# also written to state/bench.json. BENCH_ARGS=--quick for a shorter run, --only NAME... for some.
BENCH_ARGS ?=
bench: install
	$(BIN)/mfp-sim bench --json state/bench.json $(BENCH_ARGS)

lint: install
	$(BIN)/ruff check firmware hwsim tools panel tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) state build *.egg-info
