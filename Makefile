# Two commands on a fresh machine: `make demo` and `make test`.
# Both bootstrap what they need: system packages (apt), the venv, the Maven jars.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.aforo-installed

.PHONY: bootstrap system venv jars demo test bench clean-state help

help:
	@echo "make demo   - run the pipeline end to end on embedded defaults"
	@echo "make test   - run the test suite against a real Kafka broker and Flink"
	@echo "make bench  - print the benchmark figures"

# System packages from docker/apt-packages.txt: only the missing ones are installed
# (CI and fresh machines run as root), and no service they bring is started
# (policy-rc.d: nginx would take port 80; the tests run their own).
system:
	@missing=$$(sed -e 's/#.*//' docker/apt-packages.txt | xargs -n1 | while read p; do \
	  dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q "install ok installed" || echo "$$p"; done | xargs); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "run as root (or sudo) to apt-get install $$missing" >&2; exit 1; fi; \
	  if [ ! -e /usr/sbin/policy-rc.d ]; then \
	    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d; \
	    trap 'rm -f /usr/sbin/policy-rc.d' EXIT; \
	  fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found; falling back to python3"; }
	@$$(command -v $(PYTHON) || command -v python3) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $(STAMP)

venv: system $(STAMP)

jars: venv
	$(BIN)/aforo jars

bootstrap: venv jars

demo: bootstrap
	$(BIN)/aforo demo $(DEMO_ARGS)

test: bootstrap
	$(BIN)/pytest

bench: bootstrap
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

# The settings' home (AFORO_HOME, or home: in aforo.yaml), the one `stack down` stopped;
# not ./.aforo, which may be another stack's state. Nothing is removed if they do not load.
clean-state:
	-$(BIN)/aforo stack down
	@home=$$($(BIN)/python -c 'from aforo.settings import load_settings; print(load_settings().home)' 2>/dev/null) && \
	  case "$$home" in /|"$$HOME"|"$(CURDIR)") echo "not removing $$home: not an Aforo home alone" >&2; exit 1;; esac && \
	  echo "rm -rf $$home" && rm -rf "$$home"
